"""The schedule: due merchants, catch-up, disabling, long runs, the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule

from commerce_sync.core.models import SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.tasks import dispatch_due_syncs
from commerce_sync.errors import ConfigurationError
from commerce_sync.syncs import periods, scheduling
from commerce_sync.syncs.runs import sync_run_execute
from tests.factories import MerchantFactory, SyncRunFactory

START = date(2026, 10, 1)


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    seed = demo_seed(days=1, orders_per_day=5, today=START + timedelta(days=1))
    return seed.merchant


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def break_configuration(merchant) -> None:
    """A mistake refused whatever the day holds: the bank is the card account."""
    config = merchant.sync_configuration
    config.document["payments"]["accounts"]["payout"] = {
        "selectedAccountId": "Assets:Clearing:Card"
    }
    config.save(update_fields=["document"])


def mend_configuration(merchant) -> None:
    config = merchant.sync_configuration
    config.document["payments"]["accounts"]["payout"] = {"selectedAccountId": "Assets:Bank:Current"}
    config.save(update_fields=["document"])


def test_a_merchant_is_due_once_its_sync_hour_has_passed(demo):
    # London sync hour 0: 1 Oct 00:00 BST is 30 Sep 23:00 UTC.
    assert scheduling.merchants_due(now=at(START, 0)) == []
    assert scheduling.merchants_due(now=at(START + timedelta(days=1), 0)) == [demo]
    sync_run_execute(merchant=demo, now=at(START + timedelta(days=1)))
    assert scheduling.merchants_due(now=at(START + timedelta(days=1), 22)) == []
    assert scheduling.merchants_due(now=at(START + timedelta(days=2), 0)) == [demo]


def test_the_dispatcher_enqueues_due_merchants_and_is_idempotent(demo, settings, monkeypatch):
    monkeypatch.setattr(scheduling.timezone, "now", lambda: at(START + timedelta(days=1)))
    monkeypatch.setattr(periods.timezone, "now", lambda: at(START + timedelta(days=1)))
    assert dispatch_due_syncs() == 1  # Q_SYNC: the task ran inline
    run = SyncRun.objects.get(merchant=demo)
    assert run.status_code == 2000
    assert dispatch_due_syncs() == 0


def test_after_a_failed_day_the_next_run_covers_it_too(demo):
    break_configuration(demo)
    failed = sync_run_execute(merchant=demo, now=at(START + timedelta(days=1)))
    assert failed.status_code == 4000
    assert "must not be the payout account" in failed.messages[-1]["message"]
    mend_configuration(demo)

    caught_up = sync_run_execute(merchant=demo, now=at(START + timedelta(days=2)))

    assert caught_up.status_code == 2000
    assert caught_up.period_start == failed.period_start
    assert caught_up.period_end - caught_up.period_start == timedelta(days=2)
    dates = sorted(item.payload["date"] for item in caught_up.push_items.all())
    assert dates == ["2026-10-01", "2026-10-02"]


def test_thirty_one_failing_days_disable_the_merchant_until_re_enabled(
    demo, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ALERT_EMAILS = ["support@partner.example"]
    break_configuration(demo)
    early = sync_run_execute(merchant=demo, now=at(START + timedelta(days=30)))
    demo.refresh_from_db()
    assert early.status == SyncRun.Status.FAILED and demo.enabled  # 30 days: not yet

    with django_capture_on_commit_callbacks(execute=True):
        late = sync_run_execute(merchant=demo, now=at(START + timedelta(days=31)))

    demo.refresh_from_db()
    assert late.status_code == 4000
    assert not demo.enabled
    assert "31 consecutive days" in demo.disabled_reason
    assert "must not be the payout account" in demo.disabled_reason
    (alert,) = mailoutbox  # support hears of it without looking
    assert alert.to == ["support@partner.example"] and "sync_disabled" in alert.subject
    assert demo.audit_logs.filter(action="alert.sync_disabled").exists()
    assert scheduling.merchants_due(now=at(START + timedelta(days=32))) == []
    with pytest.raises(ConfigurationError, match="disabled"):
        sync_run_execute(merchant=demo, now=at(START + timedelta(days=32)))

    mend_configuration(demo)
    scheduling.merchant_sync_enable(merchant=demo, start_date=date(2026, 11, 1))
    run = sync_run_execute(merchant=demo, now=at(date(2026, 11, 3)))
    assert run.status_code == 2000
    assert run.period_start == datetime(2026, 11, 1, 0, tzinfo=UTC)  # GMT again in November
    assert demo.sync_configuration_versions.count() == 2


def test_runs_over_ten_minutes_show_1010(demo):
    now = at(START + timedelta(days=1))
    old = SyncRunFactory(merchant=demo, status="running", started_at=now - timedelta(minutes=11))
    fresh = SyncRunFactory(merchant=demo, status="running", started_at=now - timedelta(minutes=2))
    assert scheduling.long_runs_flag(now=now) == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status_code, fresh.status_code) == (1010, 1000)


def test_setup_schedules_is_idempotent(db):
    call_command("setup_schedules")
    call_command("setup_schedules")
    schedule = Schedule.objects.get(func="commerce_sync.core.tasks.dispatch_due_syncs")
    assert schedule.schedule_type == Schedule.MINUTES
    purge = Schedule.objects.get(func="commerce_sync.idempotency.tasks.purge_idempotency_keys")
    assert purge.schedule_type == Schedule.HOURLY
    assert Schedule.objects.count() == 3  # and the daily alert digest (tests/alerts)


def test_the_sync_command_backfills_in_chunks(demo, capsys):
    call_command(
        "sync",
        "--merchant",
        demo.external_id,
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-10",  # the last day, included
        "--chunk-days",
        "4",
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("succeeded (2000)" in line for line in lines)
    runs = SyncRun.objects.filter(merchant=demo, kind="historic").order_by("period_start")
    assert [r.period_end - r.period_start for r in runs] == [timedelta(days=d) for d in (4, 4, 2)]
    with pytest.raises(SystemExit) as exited:
        call_command(
            "sync", "--merchant", demo.external_id, "--from", "2026-10-03", "--to", "2026-10-04"
        )
    assert exited.value.code == 1
    assert "refused (5080)" in capsys.readouterr().out


def test_the_sync_commands_to_includes_the_day_it_names(demo, capsys):
    """`--from D --to D` is the one day D (the README's example of three days
    posts three); `--to` before `--from` is one clear line, no traceback."""
    call_command(
        "sync", "--merchant", demo.external_id, "--from", "2026-10-01", "--to", "2026-10-01"
    )
    run = SyncRun.objects.get(merchant=demo, kind="historic")
    assert run.period_end - run.period_start == timedelta(days=1)
    with pytest.raises(CommandError, match=r"--to \(2026-09-01\) must not be before --from"):
        call_command(
            "sync", "--merchant", demo.external_id, "--from", "2026-10-01", "--to", "2026-09-01"
        )


def test_sync_on_a_merchant_with_no_configuration_is_one_line_and_exit_1(partner, capsys):
    merchant = MerchantFactory(partner=partner, external_id="not-set-up")
    with pytest.raises(SystemExit) as exited:
        call_command("sync", "--merchant", "not-set-up")
    assert exited.value.code == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{merchant.name}: refused (4000) {merchant.name} has no sync configuration yet: save one "
        "(the partner API's configuration endpoint or the setup flow) before syncing"
    ]
