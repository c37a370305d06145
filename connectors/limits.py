"""A rate limiter every worker shares, kept in the database.

Platforms limit calls per organisation, not per process: Xero allows 60 calls
a minute, 5 at once and 5,000 a day per tenant, whichever worker makes them.
Each call is a row in `RateLimitCall`; windows slide (the last 60 s, the
last 24 h), so a burst across a minute boundary cannot double the rate.
A call in flight is a row without `finished_at`; a row older than the lease
counts as finished, so a worker that died mid-call frees its slot.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from commerce_sync.errors import RateLimited
from connectors.models import RateLimitCall, RateLimitKey


@dataclass(frozen=True)
class RateLimits:
    calls: int  # per window
    window_seconds: float = 60.0
    daily: int | None = None  # per rolling 24 hours
    concurrent: int | None = None
    lease_seconds: float = 120.0  # a call not released by then is presumed dead


# Xero: 60 calls a minute per organisation (counted as they arrive), 5,000 a
# day, 5 at once. The window is a second longer than Xero's: a call granted at
# the end of one window can arrive in the next, and Xero would count it there.
XERO_LIMITS = RateLimits(calls=60, window_seconds=61, daily=5000, concurrent=5)


class DatabaseRateLimiter:
    """`connectors.common.RateLimiter` backed by the default database."""

    def __init__(
        self, limits: RateLimits, *, max_wait: float = 30.0, poll_seconds: float = 0.05
    ) -> None:
        self.limits = limits
        self.max_wait = max_wait
        self.poll_seconds = poll_seconds
        # The rows this thread holds open, per key, so release() closes its own.
        self._held = threading.local()

    def acquire(self, key: str) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            wait = self._try_acquire(key)
            if wait is None:
                return
            left = deadline - time.monotonic()
            if wait > left:
                raise RateLimited(
                    f"Too many calls to {key.split(':', 1)[0]} right now; try again in {wait:.0f} s",
                    retry_after=wait,
                )
            # A little jitter so waiting workers do not all wake at once.
            time.sleep(wait + random.uniform(0, self.poll_seconds))  # noqa: S311

    def release(self, key: str) -> None:
        held: list[int] = self._stack(key)
        if held:
            RateLimitCall.objects.filter(pk=held.pop()).update(finished_at=timezone.now())

    def _stack(self, key: str) -> list[int]:
        stacks = getattr(self._held, "stacks", None)
        if stacks is None:
            stacks = self._held.stacks = {}
        return stacks.setdefault(key, [])

    def _try_acquire(self, key: str) -> float | None:
        """Record one call and return None, or return how long to wait."""
        limits = self.limits
        with transaction.atomic():
            now = timezone.now()
            # Serialise acquires of this key (row lock on PostgreSQL, the write
            # lock on SQLite) before counting.
            if not RateLimitKey.objects.filter(key=key).update(touched_at=now):
                RateLimitKey.objects.get_or_create(key=key, defaults={"touched_at": now})
                RateLimitKey.objects.filter(key=key).update(touched_at=now)
            calls = RateLimitCall.objects.filter(key=key)
            window_start = now - timedelta(seconds=limits.window_seconds)
            recent = calls.filter(started_at__gt=window_start)
            if recent.count() >= limits.calls:
                oldest = recent.aggregate(first=Min("started_at"))["first"]
                return max(
                    (oldest - window_start).total_seconds(), self.poll_seconds
                )  # until the oldest call leaves the window
            if limits.daily is not None:
                day_start = now - timedelta(days=1)
                today = calls.filter(started_at__gt=day_start)
                if today.count() >= limits.daily:
                    oldest = today.aggregate(first=Min("started_at"))["first"]
                    return max((oldest - day_start).total_seconds(), self.poll_seconds)
            if limits.concurrent is not None:
                lease_start = now - timedelta(seconds=limits.lease_seconds)
                in_flight = calls.filter(finished_at__isnull=True, started_at__gt=lease_start)
                if in_flight.count() >= limits.concurrent:
                    return self.poll_seconds
            call = RateLimitCall.objects.create(key=key, started_at=now)
            if random.random() < 0.01:  # noqa: S311 - occasional pruning, not security
                calls.filter(started_at__lt=now - timedelta(days=1, minutes=5)).delete()
        self._stack(key).append(call.pk)
        return None
