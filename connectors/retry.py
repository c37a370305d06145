"""One retry policy for every call that may meet a transient fault.

The push loop of the sync and every connector client wait the same way: an
exponential backoff with optional jitter between tries, never sooner than a
`Retry-After` the platform sent, a `Retry-After` too long to hold a sync for
handed back to the caller (the next run retries), and an optional budget of
total seconds slept. The sleep is a field, so tests inject a recorder instead
of patching `time.sleep`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from commerce_sync.errors import TransientError

T = TypeVar("T")


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header value in seconds (RFC 9110 section 10.2.3
    allows delta-seconds or an HTTP date); None when absent, unparseable or a
    date, so the caller backs off on its own schedule."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between tries of a call that raised a transient error.

    Fields (all times in seconds):

    * `attempts`: tries in all, the first included (1 = never retry).
    * `backoff`: the pause after the first failed try; it doubles per try
      (`backoff * 2 ** (failures - 1)`), capped at `cap`.
    * `jitter`: the backoff is multiplied by a factor drawn uniformly from
      this (low, high) range; `(1.0, 1.0)` means no jitter.
    * `retry_after_jitter`: the same for a platform's `Retry-After`, whose
      low end must stay at or above 1.0 so that it is never undercut.
    * `max_retry_after`: a `Retry-After` above this is not slept through
      (the error goes back to the caller at once).
    * `budget`: total seconds one `call` may sleep; a pause that would pass
      it gives up instead. None = no budget.
    * `sleep`, `random`: injected for tests (`time.sleep`, `random.random`).
    """

    attempts: int = 4
    backoff: float = 0.2
    cap: float = 30.0
    jitter: tuple[float, float] = (0.5, 1.0)
    retry_after_jitter: tuple[float, float] = (1.0, 1.0)
    max_retry_after: float = 30.0
    budget: float | None = None
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def with_sleep(self, sleep: Callable[[float], None]) -> RetryPolicy:
        """The same policy sleeping through `sleep`."""
        return replace(self, sleep=sleep)

    def pause(self, *, failures: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after the `failures`-th failed try (1-based), or
        None to give up: all `attempts` are used, or the platform asked to
        wait longer than `max_retry_after`."""
        if failures >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        if retry_after:
            low, high = self.retry_after_jitter
            return retry_after * (low + (high - low) * self.random())
        low, high = self.jitter
        base = min(self.cap, self.backoff * 2 ** (failures - 1))
        return base * (low + (high - low) * self.random())

    def too_long(self, retry_after: float | None) -> bool:
        """Whether a `Retry-After` of this many seconds is left to the next run."""
        return retry_after is not None and retry_after > self.max_retry_after

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_on: tuple[type[BaseException], ...] = (TransientError,),
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """`fn()`, tried up to `attempts` times while it raises one of
        `retry_on`; the last error (or one whose `retry_after` is too long,
        or whose pause would pass the budget) is raised unchanged.
        `on_retry(error, pause)` is told of each retry before its sleep."""
        failures = 0
        slept = 0.0
        while True:
            try:
                return fn()
            except retry_on as error:
                failures += 1
                wait = self.pause(
                    failures=failures, retry_after=getattr(error, "retry_after", None)
                )
                if wait is None or (self.budget is not None and slept + wait > self.budget):
                    raise
                if on_retry is not None:
                    on_retry(error, wait)
                self.sleep(wait)
                slept += wait
