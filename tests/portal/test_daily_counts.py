"""The dashboard's daily run counts (`SyncRunDailyCount`), kept by the
PostgreSQL triggers: right after creates, state-machine moves, bulk updates
and deletes, right under concurrent writers, and rebuilt without drift."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Sum

from commerce_sync.core.models import SyncRun
from commerce_sync.syncs.transitions import sync_run_transition
from portal.counts import daily_counts_rebuild
from portal.models import SyncRunDailyCount
from tests.factories import MerchantFactory, PartnerFactory, SyncRunFactory

DAY = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # late: a local-time day would differ


def _kept(partner) -> dict[tuple[str, str], int]:
    rows = (
        SyncRunDailyCount.objects.filter(partner=partner)
        .values("day", "status")
        .annotate(total=Sum("n"))
    )
    return {(str(r["day"]), r["status"]): r["total"] for r in rows if r["total"]}


def test_creates_moves_bulk_updates_and_deletes_keep_the_counts(db):
    partner, other = PartnerFactory(), PartnerFactory()
    merchant = MerchantFactory(partner=partner)
    runs = [SyncRunFactory(merchant=merchant, created_at=DAY) for _ in range(3)]
    SyncRunFactory(merchant=MerchantFactory(partner=other), created_at=DAY)
    assert _kept(partner) == {("2026-11-20", "pending"): 3}

    sync_run_transition(run=runs[0], to="running", status_code=1000)
    sync_run_transition(run=runs[0], to="succeeded", status_code=2000)
    sync_run_transition(run=runs[1], to="failed", status_code=4000)
    SyncRun.objects.filter(pk=runs[0].pk).update(counters={"documents": 1})  # no status move
    assert _kept(partner) == {
        ("2026-11-20", "pending"): 1,
        ("2026-11-20", "succeeded"): 1,
        ("2026-11-20", "failed"): 1,
    }
    SyncRun.objects.filter(pk=runs[2].pk).update(created_at=DAY + timedelta(hours=1))
    SyncRun.objects.filter(pk=runs[1].pk).delete()
    assert _kept(partner) == {("2026-11-20", "succeeded"): 1, ("2026-11-21", "pending"): 1}
    assert _kept(other) == {("2026-11-20", "pending"): 1}
    assert daily_counts_rebuild().drifted == 0


def test_the_rebuild_finds_and_mends_drift(db, capsys):
    merchant = MerchantFactory()
    SyncRunFactory(merchant=merchant, created_at=DAY)
    SyncRunDailyCount.objects.filter(partner=merchant.partner).update(n=7)
    call_command("portal_counts_rebuild")
    assert "had drifted" in capsys.readouterr().out
    assert _kept(merchant.partner) == {("2026-11-20", "pending"): 1}
    assert daily_counts_rebuild().drifted == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_partner_lose_no_count():
    assert connection.vendor == "postgresql"
    partner = PartnerFactory()
    merchants = [MerchantFactory(partner=partner) for _ in range(4)]
    barrier = threading.Barrier(len(merchants))
    errors: list[BaseException] = []

    def work(merchant) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                run = SyncRunFactory(merchant=merchant, created_at=DAY)
                sync_run_transition(run=run, to="running", status_code=1000)
                sync_run_transition(run=run, to="failed", status_code=5130)
                sync_run_transition(run=run, to="running", status_code=1000)
                sync_run_transition(run=run, to="succeeded", status_code=2000)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(m,)) for m in merchants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _kept(partner) == {("2026-11-20", "succeeded"): 20}
    assert daily_counts_rebuild().drifted == 0


def test_the_dashboard_counts_the_same_with_or_without_the_kept_counts(
    worlds, support_a, monkeypatch
):
    """The SQLite path (counting the runs) and the PostgreSQL path (the
    kept counts) agree, for a support user and an operator, on a range that
    starts mid-history and ends now."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from portal import selectors

    operator = get_user_model().objects.create_superuser("op-counts", password="pw-op-12345")
    end = timezone.now()
    start = datetime.combine((end - timedelta(days=5)).date(), datetime.min.time(), UTC)
    kept = {
        user.pk: selectors.runs_per_day_and_status(user=user, start=start, end=end)
        for user in (support_a, operator)
    }
    assert sum(sum(c.values()) for c in kept[support_a.pk].values()) > 0
    monkeypatch.setattr(selectors, "daily_counts_kept", lambda: False)
    for user in (support_a, operator):
        assert selectors.runs_per_day_and_status(user=user, start=start, end=end) == kept[user.pk]
