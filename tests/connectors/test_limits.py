"""The database rate limiter: per-window, daily and concurrent limits, shared
by every worker (threads here, each with its own database connection)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from commerce_sync.errors import RateLimited
from connectors.limits import XERO_LIMITS, DatabaseRateLimiter, RateLimits
from connectors.models import RateLimitCall
from connectors.xero.adapter import XeroTarget
from connectors.xero.client import XeroClient
from tests.connectors.test_xero import uk_books
from tests.doubles.xero_double import XeroDouble

# Threads sharing SQLite's in-memory test database get "table is locked"
# instead of waiting, so the multi-worker tests need PostgreSQL.
postgres_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="needs a database that makes concurrent writers wait",
)


class FixedTokens:
    def access_token(self) -> str:
        return "xero-access-0"

    def refresh_now(self, *, rejected: str) -> str:
        return "xero-access-0"


def test_xero_limits() -> None:
    # Xero's 60 a minute, with a second's margin for calls that arrive late.
    assert (XERO_LIMITS.calls, XERO_LIMITS.window_seconds) == (60, 61)
    assert (XERO_LIMITS.daily, XERO_LIMITS.concurrent) == (5000, 5)


@pytest.mark.django_db
def test_a_full_window_waits_then_gives_up_with_retry_after() -> None:
    limiter = DatabaseRateLimiter(RateLimits(calls=3, window_seconds=60), max_wait=0.2)
    for _ in range(3):
        limiter.acquire("xero:t")
        limiter.release("xero:t")
    with pytest.raises(RateLimited) as limited:
        limiter.acquire("xero:t")
    assert 55 < limited.value.retry_after <= 60
    limiter.acquire("xero:other")  # keys are limited separately


@pytest.mark.django_db
def test_the_daily_limit_counts_the_last_24_hours() -> None:
    now = timezone.now()
    RateLimitCall.objects.bulk_create(
        [
            RateLimitCall(key="xero:t", started_at=now - timedelta(hours=h), finished_at=now)
            for h in (1, 2, 25)
        ]
    )
    limiter = DatabaseRateLimiter(RateLimits(calls=100, daily=2), max_wait=0.1)
    with pytest.raises(RateLimited) as limited:
        limiter.acquire("xero:t")
    assert limited.value.retry_after > 3600 * 21  # until the 2-hour-old call ages out


@pytest.mark.django_db
def test_concurrent_calls_free_their_slot_on_release_or_when_the_lease_ends() -> None:
    # The lease is long and the holders are aged in the table, not slept
    # past a short lease: a test thread descheduled for a moment on a busy
    # machine once let a 0.3 s lease run out before the refusal it expected.
    limiter = DatabaseRateLimiter(
        RateLimits(calls=100, concurrent=2, lease_seconds=60), max_wait=0.05
    )
    limiter.acquire("k")
    limiter.acquire("k")
    with pytest.raises(RateLimited):
        limiter.acquire("k")
    limiter.release("k")
    limiter.acquire("k")  # the released slot
    with pytest.raises(RateLimited):
        limiter.acquire("k")
    # The holders "died" 59 s ago: still leased.
    held = RateLimitCall.objects.filter(key="k", finished_at__isnull=True)
    held.update(started_at=timezone.now() - timedelta(seconds=59))
    with pytest.raises(RateLimited):
        limiter.acquire("k")
    held.update(started_at=timezone.now() - timedelta(seconds=61))  # their leases ran out
    limiter.acquire("k")
    limiter.acquire("k")
    with pytest.raises(RateLimited):
        limiter.acquire("k")


def _in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as error:  # reported to the test
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_limits_at_the_double(settings: Any) -> None:
    """A burst from two workers never exceeds the window or concurrency limit
    as the double sees it (limits scaled down so the test takes seconds).
    The double counts arrivals in its 1-second window, as Xero does; the
    limiter's window is half as long again, the margin for a call granted in
    one window that reaches the double in the next (on a loaded machine it
    did: 9 arrivals within 0.95 s against a limiter window of exactly 1 s;
    a quarter of a second of margin held beside two CPU-burning processes,
    half a second leaves twice that). The limiter's own grants (its rows)
    are checked exactly against its window."""
    limits = RateLimits(calls=8, window_seconds=1.5, concurrent=2)
    with XeroDouble(uk_books(), delay=0.03) as xero:

        def worker(_: int) -> None:
            client = XeroClient(
                api_url=xero.api_url,
                tenant_id=xero.tenant_id,
                tokens=FixedTokens(),
                limiter=DatabaseRateLimiter(limits, max_wait=10),
            )
            target = XeroTarget(client)
            for _ in range(12):
                target.list_tax_rates()

        errors = _in_threads(2, worker)
        assert errors == []
        grants = sorted(RateLimitCall.objects.values_list("started_at", flat=True))
        assert len(grants) == 24
        window = timedelta(seconds=limits.window_seconds)
        assert all(
            grants[n + limits.calls] - grants[n] >= window
            for n in range(len(grants) - limits.calls)
        ), "the limiter granted more than its window allows"
        assert len(xero.spans) == 24
        assert xero.max_calls_within(1.0) <= limits.calls
        assert xero.max_concurrent() <= limits.concurrent
        assert xero.violations == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_acquires_never_overshoot() -> None:
    limiter_limits = RateLimits(calls=10, window_seconds=60)
    granted: list[int] = []

    def worker(_: int) -> None:
        limiter = DatabaseRateLimiter(limiter_limits, max_wait=0.0)
        for _ in range(10):
            try:
                limiter.acquire("burst")
            except RateLimited:
                return
            granted.append(1)
            limiter.release("burst")

    assert _in_threads(4, worker) == []
    assert len(granted) == 10 == RateLimitCall.objects.filter(key="burst").count()


def _journal(worker: int, index: int) -> dict[str, Any]:
    return {
        "type": "journalEntry",
        "currency": "GBP",
        "date": "2026-11-02",
        "description": f"Burst {worker}",
        "journalLines": [
            {"accountRef": {"id": "1000"}, "netAmount": "1.00", "description": "cash"},
            {"accountRef": {"id": "4000"}, "netAmount": "-1.00", "description": "sales"},
        ],
    }


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_200_writes_from_two_workers_stays_under_the_limit_at_the_double() -> None:
    """Xero's 60 a minute scaled to 20 per 0.3 s at the double. The shared
    limiter counts a slightly longer window (as for QuickBooks: a call is
    recorded just before it leaves), so the double (almost) never has to
    refuse one: on a window this short, a thread descheduled between the
    limiter and the socket can still arrive late, and that 429 is waited
    out like the two the double is told to send."""
    window = 0.3
    limits = RateLimits(calls=20, window_seconds=window + 0.1, concurrent=5)
    with XeroDouble(uk_books(), rate_limit=(20, window)) as xero:
        xero.fail_next(429, headers={"Retry-After": "0.1"}, methods=("PUT",), times=2)
        clients: list[XeroClient] = []

        def worker(number: int) -> None:
            client = XeroClient(
                api_url=xero.api_url,
                tenant_id=xero.tenant_id,
                tokens=FixedTokens(),
                limiter=DatabaseRateLimiter(limits, max_wait=10),
            )
            clients.append(client)
            target = XeroTarget(client)
            for index in range(100):
                target.write_document(
                    key=f"burst:{number}:{index}", document=_journal(number, index)
                )

        started = time.monotonic()
        errors = _in_threads(2, worker)
        elapsed = time.monotonic() - started
        assert errors == []
        journals = xero.books.documents["ManualJournals"]
        assert len(journals) == 200 == len({j["Narration"] for j in journals})
        assert xero.throttled <= 2  # the limiter kept the burst under the double's limit
        # Every 429 (the two injected, any from the limit) was waited out.
        assert sum(c.throttled for c in clients) == 2 + xero.throttled
        accepted = sorted(xero.accepted[xero.tenant_id])
        assert len(accepted) == 200
        assert (
            max(
                sum(1 for t in accepted[i:] if t - start < window)
                for i, start in enumerate(accepted)
            )
            <= 20
        )
        assert xero.max_concurrent() <= limits.concurrent
        assert elapsed > 200 / 20 * window * 0.9  # the limiter did pace the burst
        assert xero.violations == []
