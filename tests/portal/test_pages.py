"""The merchant and sync pages a support agent reads and acts from, the
support-user command and invitations."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.urls import reverse

from commerce_sync.core.models import AuditLog, PushItem, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.payouts import payout_report
from commerce_sync.syncs.runs import sync_run_execute
from portal.models import PartnerMembership
from tests.portal.conftest import add_records


def test_the_merchant_list_shows_health_last_success_and_next_due(worlds, support_a, client):
    a, _b = worlds
    client.force_login(support_a)
    page = client.get("/portal/core/merchant/").content.decode()
    row = re.search(rf"{a.failing.name}.*?</tr>", page, re.S).group(0)
    assert "Failing since" in row and "due now" in row
    assert "Healthy" in re.search(rf"{a.healthy.name}.*?</tr>", page, re.S).group(0)
    assert "Disabled: Asked" in page and "Not configured" in page
    assert "never (not configured)" in page
    found = client.get(f"/portal/core/merchant/?q={a.failing.external_id}").content.decode()
    assert found.count('name="_selected_action"') == 1 and a.failing.name in found
    by_id = client.get(f"/portal/core/merchant/?q={a.healthy.pk}").content.decode()
    assert by_id.count('name="_selected_action"') == 1 and a.healthy.name in by_id
    healthy = client.get("/portal/core/merchant/?health=healthy").content.decode()
    assert healthy.count('name="_selected_action"') == 1


def test_the_merchant_page_shows_connections_versions_a_diff_and_the_json(
    worlds, support_a, client
):
    a, _b = worlds
    client.force_login(support_a)
    page = client.get(reverse("portal:core_merchant_change", args=[a.failing.pk])).content
    text = page.decode()
    assert "Alpha ledger refused the grant" in text and "Deauthorised" in text
    assert "v1" in text and "v2" in text and "tok-" not in text  # no credentials
    assert str(a.failed_runs[0].pk) in text
    diff = unescape(
        client.get(
            reverse("portal:core_merchant_configuration_diff", args=[a.failing.pk]) + "?a=1&b=2"
        ).content.decode()
    )
    assert '-  "syncHour": 4,' in diff and '+  "syncHour": 5,' in diff
    download = client.get(
        reverse("portal:core_merchant_configuration_json", args=[a.failing.pk]) + "?version=1"
    )
    assert download["Content-Disposition"].startswith("attachment")
    body = json.loads(download.content)
    assert body["version"] == 1 and body["syncHour"] == 4 and "payments" in body["configuration"]
    missing = client.get(
        reverse("portal:core_merchant_configuration_json", args=[a.failing.pk]) + "?version=9"
    )
    assert missing.status_code == 404


def test_the_sync_page_explains_and_a_retry_that_fails_says_so(worlds, support_a, client):
    a, _b = worlds
    run = a.failed_runs[-1]
    client.force_login(support_a)
    url = reverse("portal:core_syncrun_change", args=[run.pk])
    text = client.get(url).content.decode()
    assert "The accounting software refused some documents" in text  # 5130 in plain words
    assert "Fix what the accounting software refused, then retry" in text  # the message's advice
    assert "push_items &gt; failed" in text and "1.25" in text  # counters and timings
    assert "Retry the failed items" in text and "Re-sync this range" in text
    assert "v2" in text  # the configuration version the run used
    assert "Payout alpha-po-1" in text and "Residual" in text
    filtered = client.get(url + "?items=pushed").content.decode()
    assert "Alpha account archived" not in filtered
    # The fixture's ledger cannot take the document: the run stays failed, and says so.
    response = client.post(url, {"action": "retry"}, follow=True)
    assert "the sync failed (5130), 1 item(s) still failed" in response.content.decode()
    assert PushItem.objects.filter(sync_run=run, status="failed").count() == 1
    # No retry button when nothing failed.
    ok = client.get(reverse("portal:core_syncrun_change", args=[a.success_runs[-1].pk]))
    assert "Retry the failed items" in ok.content.decode()  # it has one failed item
    assert (
        "Retry the failed items"
        not in client.get(
            reverse("portal:core_syncrun_change", args=[a.success_runs[0].pk])
        ).content.decode()
    )


def test_resync_queues_a_historic_run_then_refuses_the_overlap_with_5080(worlds, support_a, client):
    a, _b = worlds
    run = a.failed_runs[0]
    client.force_login(support_a)
    url = reverse("portal:core_syncrun_change", args=[run.pk])
    response = client.post(url, {"action": "resync"}, follow=True)
    text = response.content.decode()
    new = SyncRun.objects.filter(merchant=a.failing, kind="historic").get()
    one_day = f"{new.period_start.astimezone(ZoneInfo(a.failing.time_zone)):%Y-%m-%d}"
    assert f"Re-sync of {one_day} queued as sync {new.pk}" in text, text[-3000:]  # one day
    assert (new.period_start, new.period_end) == (run.period_start, run.period_end)
    assert AuditLog.objects.filter(actor="support:alpha-partner:agent-a").exists()
    again = client.post(url, {"action": "resync"}, follow=True).content.decode()
    assert "Refused (5080)" in again
    assert SyncRun.objects.filter(merchant=a.failing, kind="historic").count() == 1


def test_retry_from_the_sync_page_writes_the_failed_item(db, settings, tmp_path, client):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    seed = demo_seed(days=1, orders_per_day=5, today=date(2026, 11, 10))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    item = run.push_items.get()
    Path(seed.ledger_path).write_text(
        Path(seed.ledger_path).read_text().split("\n2026-11-09 *")[0] + "\n"
    )
    PushItem.objects.filter(pk=item.pk).update(status="failed", target_id="", last_error="x")
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    from django.contrib.auth import get_user_model

    agent = get_user_model().objects.create_user("agent", password="pw-agent-123", is_staff=True)
    PartnerMembership.objects.create(user=agent, partner=seed.merchant.partner)
    agent.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))
    client.force_login(agent)
    url = reverse("portal:core_syncrun_change", args=[run.pk])
    text = client.post(url, {"action": "retry"}, follow=True).content.decode()
    assert "the sync succeeded (2000), 0 item(s) still failed" in text
    item.refresh_from_db()
    assert item.status == "pushed" and item.target_id


def test_reconciliation_by_hand(worlds):
    """Alpha's period: card payments 100 and 50, a card refund of 20 (cash
    30 goes to another clearing account; the Payment transaction is carried
    by its order), a fee of 3, then a payout of 127: settled to zero.
    Then: a card sale of 40, a fee of 1.50 and a payout of 40 (1.50 too
    much paid out: flagged), a sale of 7 waiting; and 5 taken after the
    last payout before the period: the opening balance."""
    a, _b = worlds
    run = a.failed_runs[-1]
    report = payout_report(merchant=run.merchant, start=run.period_start, end=run.period_end)
    assert report.clearing_account and report.problems == []
    assert report.opening_balance == Decimal(0)
    (payout,) = report.payouts
    assert (payout.payments, payout.refunds, payout.fees, payout.amount) == (
        Decimal("150.00"),
        Decimal("-20.00"),
        Decimal("-3.00"),
        Decimal("-127.00"),
    )
    assert payout.balance_after == 0 and not payout.flagged
    assert [s.id for s in payout.settles] == [
        "alpha-ord-1/p0",
        "alpha-ord-2/p0",
        "alpha-ord-3/p0",
        "alpha-fee-1",
    ]
    add_records(
        a.failing,
        run.period_start,
        "more-",
        [
            ("transaction", "old-po", ("Payout", "-99.00"), -40),  # before: settles older days
            ("order", "early", [("Card", "5.00")], -30),
            ("order", "ord-4", [("Card", "40.00")], 10),
            ("transaction", "fee-2", ("PaymentFee", "-1.50"), 11),
            ("transaction", "po-2", ("Payout", "-40.00"), 12),
            ("order", "ord-5", [("Card", "7.00")], 13),
        ],
    )
    report = payout_report(merchant=run.merchant, start=run.period_start, end=run.period_end)
    assert report.opening_balance == Decimal("5.00")
    first, second = report.payouts
    assert first.balance_after == Decimal("5.00") and first.flagged  # the early 5.00 is left
    assert (second.payments, second.fees, second.amount) == (
        Decimal("40.00"),
        Decimal("-1.50"),
        Decimal("-40.00"),
    )
    assert second.balance_after == Decimal("3.50") and second.flagged
    assert report.unsettled == Decimal("10.50")


def test_support_user_create_prints_a_link_that_sets_the_password(worlds, client, settings):
    # `make run` with PORT=8123 serves there; the printed link must too.
    settings.SITE_URL = ""
    settings.LOCAL_SITE_URL = "http://127.0.0.1:8123"
    out = StringIO()
    call_command(
        "support_user_create",
        "--partner",
        "alpha-partner",
        "--username",
        "newbie",
        "--email",
        "newbie@example.com",
        stdout=out,
    )
    url = out.getvalue().strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8123/")
    path = url.split("127.0.0.1:8123", 1)[1]
    form = client.get(path, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else path,
        {"new_password1": "a-very-long-pass-phrase", "new_password2": "a-very-long-pass-phrase"},
    )
    assert done.status_code == 302
    # django-axes wants the request it judges; the test client has none of its own.
    assert client.login(
        request=HttpRequest(), username="newbie", password="a-very-long-pass-phrase"
    )
    page = client.get("/portal/core/merchant/").content.decode()
    assert worlds[0].failing.name in page and "Bravo" not in page
    assert client.get(path).context["validlink"] is False  # one time only
    with pytest.raises(CommandError, match="No partner with slug 'nope'"):
        call_command(
            "support_user_create", "--partner", "nope", "--username", "x", "--email", "x@y.z"
        )
    with pytest.raises(CommandError, match="taken"):
        call_command(
            "support_user_create",
            "--partner",
            "alpha-partner",
            "--username",
            "newbie",
            "--email",
            "x@y.z",
        )


def test_a_partner_admin_invites_and_a_support_user_cannot(
    worlds, admin_a, support_a, client, settings
):
    settings.SITE_URL = ""  # the link is then on the portal's own host
    client.force_login(support_a)
    assert client.get(reverse("portal:invite")).status_code == 403
    client.force_login(admin_a)
    response = client.post(
        reverse("portal:invite"),
        {"username": "invited", "email": "i@example.com", "role": "support"},
        follow=True,
    )
    assert "http://testserver/portal/set-password/" in response.content.decode()
    membership = PartnerMembership.objects.get(user__username="invited")
    assert membership.user.has_perm("core.retry_syncrun")  # support retries and re-syncs
    assert membership.partner == worlds[0].partner and membership.role == "support"
    bad = client.post(
        reverse("portal:invite"), {"username": "invited", "email": "nope", "role": "support"}
    )
    assert b"Enter a valid email address" in bad.content


def test_a_run_that_died_mid_push_is_finished_from_its_page_exactly_once(
    db, settings, tmp_path, client
):
    """Two days synced; then, as if the worker died while writing: both
    items left "pushing" with no target id, the second run left running,
    and only the first day's document had reached the ledger. "Finish the
    interrupted push" fails the dead run, finds the first document by its
    key (not written again) and writes the second: each key once."""
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    seed = demo_seed(days=2, orders_per_day=3, today=date(2026, 11, 10))
    first = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 9, 9, tzinfo=UTC))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    ledger = Path(seed.ledger_path)
    ledger.write_text(ledger.read_text().split("\n2026-11-09 *")[0] + "\n")
    keys = [first.push_items.get().key, run.push_items.get().key]
    assert ledger.read_text().count(keys[0]) == 1 and keys[1] not in ledger.read_text()
    PushItem.objects.filter(merchant=seed.merchant).update(status="pushing", target_id="")
    SyncRun.objects.filter(pk=run.pk).update(status="running", status_code=1000, finished_at=None)
    from django.contrib.auth import get_user_model

    agent = get_user_model().objects.create_user("agent", password="pw-agent-123", is_staff=True)
    PartnerMembership.objects.create(user=agent, partner=seed.merchant.partner)
    agent.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))
    client.force_login(agent)
    url = reverse("portal:core_syncrun_change", args=[run.pk])
    page = client.get(url).content.decode()
    assert 'id="finish-form"' in page and "1 item may or may not have reached" in page
    assert 'id="retry-form"' not in page  # nothing failed as such

    text = client.post(url, {"action": "retry"}, follow=True).content.decode()
    assert "the sync succeeded (2000), 0 item(s) still failed" in text
    assert [ledger.read_text().count(key) for key in keys] == [1, 1]
    assert set(
        PushItem.objects.filter(merchant=seed.merchant).values_list("status", flat=True)
    ) == {"pushed"}
    run.refresh_from_db()
    assert run.counters["push_items"]["found_in_target"] >= 1
    assert "Interrupted" in json.dumps(run.messages)  # the dead run was failed first, and says so
    assert 'id="finish-form"' not in client.get(url).content.decode()


def test_long_lists_count_only_up_to_the_cap_and_say_so(worlds, support_a, client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.sites import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    client.force_login(support_a)
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/portal/core/pushitem/").content.decode()
    assert "More than 2 rows match" in page
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 3" in sql for sql in counts)  # never a full COUNT(*)
    few = client.get("/portal/core/merchant/?q=alpha-Healthy%20Cafe").content.decode()
    assert "rows match" not in few
