"""Set-up and checks shared by the real-sync tests against the accounting
target doubles (MYOB, Sage, Exact Online): the demo café's accounting
connection pointed at a double, a run checked to write each document
exactly once, and the edited-order story (an order of 7 November synced,
then edited, then the next day synced)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from commerce_sync.core.models import Connection, Merchant, SyncRun
from commerce_sync.syncs.runs import sync_run_execute
from tests.core.test_exactly_once import NOW, assert_synced_exactly_once, once
from tests.core.test_sync import EditableSource, order


def link_target(
    merchant: Merchant, platform_key: str, settings: dict[str, Any], double: Any
) -> None:
    """Point `merchant`'s accounting connection at `double` (a target double
    with `token` and `refresh_token`): the platform `platform_key`, the
    connection `settings`, and the double's tokens, valid until 2099."""
    accounting = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    accounting.platform_key = platform_key
    accounting.settings = settings
    accounting.credentials = {
        "access_token": double.token,
        "refresh_token": double.refresh_token,
        "expires_at": "2099-01-01T00:00:00+00:00",
    }
    accounting.save()


def add_target_settings(merchant: Merchant, **extra: Any) -> None:
    """Add `extra` to the settings of `merchant`'s accounting connection
    (e.g. `cost_centres` or `categories` per location)."""
    accounting = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    accounting.settings = {**accounting.settings, **extra}
    accounting.save()


def sync_exactly_once(
    merchant: Merchant,
    expected: dict[str, dict[str, Any]],
    written: Callable[[], Mapping[str, int]],
    wanted: Mapping[str, int] | None = None,
) -> SyncRun:
    """Run the sync at `NOW` and check it: the run succeeded (status 2000),
    the target holds `wanted` (by default each key of `expected` once) as
    `written()` reads it, and the service's records agree that each
    expected document was synced exactly once. Returns the run."""
    run = sync_run_execute(merchant=merchant, now=NOW)
    assert run is not None and run.status_code == 2000, run and run.messages
    assert written() == (once(expected) if wanted is None else wanted)
    assert_synced_exactly_once(merchant, expected)
    return run


def _sync_day(merchant: Merchant, day: int) -> SyncRun:
    """Sync the business day `day` November 2026 the next morning at 9 UTC;
    the run must succeed."""
    run = sync_run_execute(
        merchant=merchant,
        first=date(2026, 11, day),
        until=date(2026, 11, day + 1),
        now=datetime(2026, 11, day + 1, 9, tzinfo=UTC),
    )
    assert run is not None and run.status_code == 2000, run and run.messages
    return run


def sync_an_order_of_the_7th(merchant: Merchant, monkeypatch: pytest.MonkeyPatch) -> EditableSource:
    """Make `merchant`'s commerce source an editable one holding one order
    of 7 November 2026 (10.00 + 2.00 VAT, card) and sync that day; the run
    must succeed. Returns the source, for `edit_it_and_sync_the_8th`."""
    from connectors import registry

    source = EditableSource({"orders": [order("E-1", "2026-11-07T10:00:00Z", "10.00", "2.00")]})
    monkeypatch.setitem(registry.COMMERCE_SOURCES, "editable", lambda connection: source)
    Connection.objects.filter(merchant=merchant, source_type="commerce").update(
        platform_key="editable"
    )
    _sync_day(merchant, 7)
    return source


def edit_it_and_sync_the_8th(
    merchant: Merchant, source: EditableSource, monkeypatch: pytest.MonkeyPatch
) -> SyncRun:
    """Edit the order of `source` to 15.00 + 3.00 VAT (modified 8 November
    12:00 UTC), let the source be read from the 7th on (as a real connector
    reading by modification date would) and sync the 8th: the run must
    succeed and count one edited record. Returns the run."""
    from connectors import registry

    source.records["orders"][0] = order("E-1", "2026-11-07T10:00:00Z", "15.00", "3.00")
    source.records["orders"][0]["modifiedDate"] = "2026-11-08T12:00:00Z"

    class Widened(EditableSource):  # a real connector asks by modifiedDate too
        def read_period(self, *, start: Any, end: Any) -> Any:
            return super().read_period(start=datetime(2026, 11, 7, tzinfo=UTC), end=end)

    monkeypatch.setitem(
        registry.COMMERCE_SOURCES, "editable", lambda connection: Widened(source.records)
    )
    second = _sync_day(merchant, 8)
    assert second.counters["records"]["edited"] == 1
    return second
