"""Editing the schedule after days were posted: a start date moved earlier
posts the days before the first one posted (a historic sync, never a day
twice), and the page says so; the time zones offered are canonical IANA
names only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commerce_sync.core.models import SyncConfigurationVersion, SyncRun
from tests.setup_flow.helpers import new_merchant, start_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def schedule(start):
    return {
        "schedule.startDate": start.isoformat(),
        "schedule.syncHour": "0",
        "schedule.timeZone": "Europe/London",
    }


def set_up(client, merchant, start):
    client.get(start_path(merchant))
    for stage in ("commerce", "accounting"):
        client.post(f"/setup/stage/{stage}")
    client.post("/setup/suggest", {"back": "sales", "create": "yes"})
    page = client.get("/setup/stage/sales")
    values = {s["name"]: s["value"] for s in page.context["slots"]}
    assert (
        client.post(
            "/setup/stage/sales", {**values, "mapSettings.outputFormat": "JournalEntry"}
        ).status_code
        == 302
    )
    client.post("/setup/stage/fees", {"fees.accounts.paymentFee": "Expenses:PaymentFees"})
    chosen = {s["name"]: s["value"] for s in client.get("/setup/stage/payments").context["slots"]}
    assert client.post("/setup/stage/payments", chosen).status_code == 302
    assert client.post("/setup/stage/schedule", schedule(start)).status_code == 302


def test_an_earlier_start_date_posts_the_days_before_once(
    client, partner, django_capture_on_commit_callbacks
):
    merchant = new_merchant(partner)
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    set_up(client, merchant, yesterday)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/setup/finish")["Location"] == "/setup/done"
    first = SyncRun.objects.get(merchant=merchant)
    assert first.status == SyncRun.Status.SUCCEEDED and first.data_pushed
    # Back from the settings page: the schedule says what an earlier date does.
    client.post("/setup/settings", {"action": "edit"})
    page = client.get("/setup/stage/schedule").content.decode()
    assert f"Days from {yesterday.isoformat()} are already posted" in page
    too_far = client.post("/setup/stage/schedule", schedule(yesterday - timedelta(days=400)))
    assert too_far.status_code == 400
    assert "at most 366 days before" in too_far.content.decode()
    three_days_ago = today - timedelta(days=3)
    assert client.post("/setup/stage/schedule", schedule(three_days_ago)).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/setup/finish")["Location"] == "/setup/done"
    done = client.get("/setup/done").content.decode()
    assert f"The days from {three_days_ago.isoformat()} to before {yesterday.isoformat()}" in done
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 2
    backfill = SyncRun.objects.get(merchant=merchant, kind=SyncRun.Kind.HISTORIC)
    assert backfill.status == SyncRun.Status.SUCCEEDED and backfill.data_pushed
    assert backfill.period_end == first.period_start  # up to the first day posted, not over it
    assert (backfill.period_end - backfill.period_start).days == 2


def test_time_zones_are_canonical_iana_names(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    zones = client.get("/setup/stage/schedule").context["zones"]
    assert "Europe/London" in zones and "America/New_York" in zones and "Etc/UTC" in zones
    for alias in ("localtime", "posixrules", "US/Eastern", "GB", "Factory", "EST5EDT", "UTC"):
        assert alias not in zones, alias
