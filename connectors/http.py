"""What the connector clients share on the wire: reading `Retry-After`, and
the retry policy for transient faults (a rate limit, an outage, a timeout)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from commerce_sync.errors import PlatformUnavailable, RateLimited

T = TypeVar("T")


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header in seconds; None when absent or an HTTP date
    (the caller then backs off on its own schedule)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    max_retry_after: float,
    sleep: Callable[[float], None],
) -> T:
    """`call()`, tried up to `attempts` times in all while it raises
    `RateLimited` or `PlatformUnavailable`. Between tries it sleeps the
    error's `retry_after` if it has one, else `backoff` doubled per try with
    jitter. A `retry_after` above `max_retry_after` is not slept through
    inside a sync: the error goes up at once for the scheduler."""
    attempt = 0
    while True:
        try:
            return call()
        except (RateLimited, PlatformUnavailable) as error:
            attempt += 1
            wait = getattr(error, "retry_after", None)
            if attempt >= attempts or (wait is not None and wait > max_retry_after):
                raise
            jitter = 0.5 + random.random() / 2  # noqa: S311 - jitter, not security
            sleep(wait if wait is not None else backoff * 2 ** (attempt - 1) * jitter)
