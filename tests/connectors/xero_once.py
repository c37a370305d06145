"""One merchant's day synced into the Xero double, checked, then synced
again (as after a run that crashed once it had written): the books match the
hand-worked balances, every document is dated the day, and the second sync
writes nothing. Shared by the commerce sources' end-to-end tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.syncs.runs import sync_run_execute
from tests.connectors.test_xero import assert_books_match, xero_connection
from tests.doubles.xero_double import XeroDouble
from tests.recorded_dates import xero_dates


def day_into_xero_once(
    merchant: Merchant,
    xero: XeroDouble,
    *,
    day: date,
    configuration: dict[str, Any],
    now: datetime,
    expected: dict[str, str],
) -> SyncRun:
    """Link `merchant` to `xero`, save `configuration` from `day`, sync `day`
    and check `expected` (account code -> balance); then sync it again and
    check nothing more was written. Returns the first run."""
    xero_connection(merchant, xero)
    sync_configuration_save(
        merchant=merchant,
        document=configuration,
        start_date=day,
        sync_hour=0,
        time_zone=merchant.time_zone,
        actor="test",
    )
    until = day + timedelta(days=1)
    run = sync_run_execute(merchant=merchant, first=day, until=until, now=now)
    assert run.status == SyncRun.Status.SUCCEEDED, run.messages
    assert_books_match(xero, expected)
    recorded = xero_dates(xero.books.documents)
    assert recorded and set(recorded.values()) == {day.isoformat()}, recorded
    written = {kind: len(docs) for kind, docs in xero.books.documents.items()}
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, status_code=5000)
    again = sync_run_execute(merchant=merchant, first=day, until=until, now=now)
    assert again.status_code == 2040, again.messages
    assert {kind: len(docs) for kind, docs in xero.books.documents.items()} == written
    assert xero.violations == []
    return run
