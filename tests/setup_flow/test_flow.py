"""The setup flow through Django's test client: entry and session scoping,
each stage's validation, visible accounts, the locked format, the review's
preview and the finished configuration (a version by actor `merchant`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commerce_sync.core.models import (
    AuditLog,
    Connection,
    PushItem,
    SyncConfigurationVersion,
    SyncRun,
)
from commerce_sync.core.services.sync_flow import sync_flow_texts_update, visible_accounts_set
from tests.factories import PartnerFactory
from tests.setup_flow.helpers import new_merchant, start_path

pytestmark = pytest.mark.django_db

SALES = {
    "mapSettings.outputFormat": "JournalEntry",
    "sales.accounts.sales": "Income:Sales",
    "sales.accounts.refund": "Income:Sales:Refunds",
}


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def enter(client, merchant, **kwargs):
    response = client.get(start_path(merchant, **kwargs))
    assert response.status_code == 302
    return response


def through_connections(client):
    for stage in ("commerce", "accounting"):
        assert client.get(f"/setup/stage/{stage}").status_code == 200
        assert client.post(f"/setup/stage/{stage}").status_code == 302


def standard_set(client, back="sales"):
    page = client.get(f"/setup/suggest?back={back}")
    assert "To create" in page.content.decode()
    assert client.post("/setup/suggest", {"back": back, "create": "yes"}).status_code == 302


def post_sales(client, **changes):
    """The sales page submitted as shown (the standard set selected), with `changes`."""
    page = client.get("/setup/stage/sales")
    values = {s["name"]: s["value"] for s in page.context["slots"]}
    return client.post(
        "/setup/stage/sales", {**values, "mapSettings.outputFormat": "JournalEntry", **changes}
    )


def test_the_code_works_once_and_the_session_is_safe(client, partner):
    merchant = new_merchant(partner)
    path = start_path(merchant)
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/setup/stage/commerce"
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    again = client.get(path)
    assert again.status_code == 401
    assert "already been used" in again.content.decode()


def test_an_expired_code_gets_the_401_page_in_the_merchants_language(client, partner):
    merchant = new_merchant(partner)
    issued_at = timezone.now() - timedelta(seconds=31)
    from commerce_sync.core.services.setup_links import setup_link_issue

    issued = setup_link_issue(merchant=merchant, actor="t", locale="fr-fr", now=issued_at)
    response = client.get(f"/setup/start/{issued.code}")
    assert response.status_code == 401
    body = response.content.decode()
    assert 'lang="fr-fr"' in body and "Ce lien a expiré" in body


def test_a_session_sees_only_its_merchant(client, partner):
    mine = new_merchant(partner, name="Mine")
    other = new_merchant(PartnerFactory(), name="Other")
    enter(client, mine)
    other_connection = other.connections.first()
    assert client.get(f"/setup/connect/{other_connection.pk}").status_code == 404
    response = client.post(
        "/setup/settings", {"action": "revoke", "connection": str(other_connection.pk)}
    )
    assert response.status_code == 404
    other_connection.refresh_from_db()
    assert other_connection.status == Connection.Status.LINKED
    page = client.get("/setup/stage/commerce").content.decode()
    assert "Mine" not in page or "Other" not in page
    # Opening the other merchant's link replaces the session entirely.
    enter(client, other)
    client.post("/setup/stage/commerce")
    assert client.get("/setup/review").context["merchant"] == other


def test_without_a_session_every_page_is_401(client):
    for path in ("/setup/stage/sales", "/setup/review", "/setup/settings", "/setup/locations"):
        assert client.get(path).status_code == 401
    entry = client.get("/setup/")  # the entry explains how to get in
    assert entry.status_code == 200 and "personal link" in entry.content.decode()


def test_sales_validation_names_the_field_and_the_fix(client, partner):
    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    response = client.post("/setup/stage/sales", {"mapSettings.outputFormat": "JournalEntry"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Sales: choose an account. It is required." in body
    assert "Refunds: choose an account. It is required." in body
    assert 'aria-invalid="true"' in body
    response = client.post("/setup/stage/sales", {})
    assert "Output format: choose journal entries or invoices." in response.content.decode()


def test_the_whole_journey_saves_a_version_by_the_merchant_and_syncs(
    client, partner, django_capture_on_commit_callbacks
):
    merchant = new_merchant(partner)
    enter(client, merchant, redirect_url="https://partner.example/done")
    through_connections(client)
    standard_set(client)
    assert post_sales(client).status_code == 302
    missing = client.post("/setup/stage/fees", {})
    assert "Payment fees: choose an account" in missing.content.decode()
    assert (
        client.post(
            "/setup/stage/fees", {"fees.accounts.paymentFee": "Expenses:PaymentFees"}
        ).status_code
        == 302
    )
    payments = client.get("/setup/stage/payments")
    slots = [s["name"] for s in payments.context["slots"]]
    assert "payments.accounts.payout" in slots and "payments.accounts.card" in slots
    same = {name: "Assets:Bank:Current" for name in slots}
    conflict = client.post("/setup/stage/payments", same)
    assert conflict.status_code == 400
    assert "must not be the payout account" in conflict.content.decode()
    chosen = {s["name"]: s["value"] for s in payments.context["slots"]}
    assert all(chosen.values()), chosen  # the standard set filled every payment type
    assert client.post("/setup/stage/payments", chosen).status_code == 302
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    bad = client.post(
        "/setup/stage/schedule",
        {
            "schedule.startDate": "31/12/2026",
            "schedule.syncHour": "0",
            "schedule.timeZone": "Europe/London",
        },
    )
    assert bad.status_code == 400 and "Start date" in bad.content.decode()
    good = {
        "schedule.startDate": yesterday,
        "schedule.syncHour": "0",
        "schedule.timeZone": "Europe/London",
    }
    assert client.post("/setup/stage/schedule", good)["Location"] == "/setup/review"
    preview = client.get("/setup/preview")
    assert preview.status_code == 200
    shown = preview.context["preview"]
    assert shown["documents"] and not shown["errors"], shown
    assert not PushItem.objects.filter(merchant=merchant).exists()  # nothing written
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/setup/finish")["Location"] == "/setup/done"
    version = SyncConfigurationVersion.objects.get(merchant=merchant)
    assert version.created_by == "merchant"
    assert AuditLog.objects.filter(actor="merchant", action="sync_configuration.save").exists()
    run = SyncRun.objects.get(merchant=merchant)
    assert run.status == SyncRun.Status.SUCCEEDED and run.data_pushed
    posted = PushItem.objects.filter(merchant=merchant, status="pushed").count()
    assert posted == len(shown["documents"])
    done = client.get("/setup/done").content.decode()
    assert "https://partner.example/done" in done


def test_the_format_is_locked_once_saved(client, partner):
    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    standard_set(client)
    post_sales(client)
    client.post("/setup/stage/fees", {"fees.accounts.paymentFee": "Expenses:PaymentFees"})
    chosen = {s["name"]: s["value"] for s in client.get("/setup/stage/payments").context["slots"]}
    client.post("/setup/stage/payments", chosen)
    client.post(
        "/setup/stage/schedule",
        {
            "schedule.startDate": timezone.localdate().isoformat(),
            "schedule.syncHour": "0",
            "schedule.timeZone": "Europe/London",
        },
    )
    assert client.post("/setup/finish").status_code == 302
    page = client.get("/setup/stage/sales")
    assert page.context["locked"] == "JournalEntry"
    assert 'name="mapSettings.outputFormat" value="Invoice"' not in page.content.decode()
    refused = post_sales(client, **{"mapSettings.outputFormat": "Invoice"})
    assert refused.status_code == 400
    assert "locked" in refused.content.decode()


def test_visible_accounts_hide_optional_slots_never_required_ones(client, partner):
    visible_accounts_set(partner=partner, platform_key="beancount", visible=[], actor="t")
    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    names = [s["name"] for s in client.get("/setup/stage/sales").context["slots"]]
    assert "sales.accounts.sales" in names and "sales.accounts.refund" in names
    assert "sales.accounts.gratuity" not in names and "sales.accounts.prepaid" not in names
    visible_accounts_set(
        partner=partner, platform_key="beancount", visible=["sales-accounts-gratuity"], actor="t"
    )
    names = [s["name"] for s in client.get("/setup/stage/sales").context["slots"]]
    assert "sales.accounts.gratuity" in names


def test_partner_texts_and_french(client, partner):
    sync_flow_texts_update(
        partner=partner,
        locale="fr-fr",
        changes={"configure-misc-nextButton": "Continuer"},
        actor="t",
    )
    partner.branding = {"name": "Caisse Bleue", "primaryColor": "#ffee00"}
    partner.save()
    merchant = new_merchant(partner)
    enter(client, merchant, locale="fr-fr")
    body = client.get("/setup/stage/commerce").content.decode()
    assert "Connectez votre plateforme de vente" in body and "Continuer" in body
    assert "Caisse Bleue" in body
    css = client.get("/setup/brand.css").content.decode()
    assert "--primary: #ffee00" in css and "--on-primary: #000000" in css
    client.post("/setup/language", {"locale": "en-us", "next": "/setup/stage/commerce"})
    assert "Connect your sales platform" in client.get("/setup/stage/commerce").content.decode()


def test_pages_carry_a_content_security_policy(client, partner):
    enter(client, new_merchant(partner))
    policy = client.get("/setup/stage/commerce")["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


def test_settings_pause_resume_and_revoke(client, partner):
    merchant = new_merchant(partner)
    enter(client, merchant)
    client.post("/setup/settings", {"action": "pause"})
    merchant.refresh_from_db()
    assert not merchant.enabled
    assert AuditLog.objects.filter(actor="merchant", action="merchant.sync_paused").exists()
    client.post("/setup/settings", {"action": "resume"})
    merchant.refresh_from_db()
    assert merchant.enabled
    ledger = merchant.connections.get(source_type="accounting")
    # Disconnecting asks first, saying what it does.
    asked = client.post("/setup/settings", {"action": "revoke", "connection": str(ledger.pk)})
    assert asked.status_code == 200
    assert "What was already posted stays" in asked.content.decode()
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.LINKED
    client.post(
        "/setup/settings",
        {"action": "revoke", "connection": str(ledger.pk), "confirm": "yes"},
    )
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.UNLINKED
    # Then offers to reconnect, on the settings page and the stage.
    page = client.get("/setup/settings").content.decode()
    assert f"/setup/reconnect/{ledger.pk}" in page and "Reconnect" in page
    stage = client.get("/setup/stage/accounting").content.decode()
    assert f"/setup/reconnect/{ledger.pk}" in stage and "was disconnected" in stage
    back = client.post(f"/setup/reconnect/{ledger.pk}", {"next": "/setup/stage/accounting"})
    assert back["Location"] == "/setup/stage/accounting"
    fresh = merchant.connections.exclude(pk=ledger.pk).get(source_type="accounting")
    assert fresh.status == Connection.Status.LINKED and fresh.platform_key == "beancount"
    assert "is connected again" in client.get("/setup/stage/accounting").content.decode()


def test_an_account_is_created_inline_in_the_ledger(client, partner):
    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    bad = client.post(
        "/setup/accounts/new",
        {"back": "sales", "account_id": "cakes", "account_type": "Income"},
        follow=True,
    )
    assert "not a valid Beancount account name" in bad.content.decode()
    client.post(
        "/setup/accounts/new",
        {
            "back": "sales",
            "account_id": "Income:Sales:Cakes",
            "name": "Cakes",
            "account_type": "Income",
        },
    )
    page = client.get("/setup/stage/sales")
    options = [a["id"] for a in page.context["slots"][0]["options"]]
    assert "Income:Sales:Cakes" in options
    assert AuditLog.objects.filter(actor="merchant", action="setup_flow.accounts_create").exists()


def test_a_failed_sync_is_retried_from_the_settings_page(client, partner, settings):
    from datetime import UTC, date, datetime
    from pathlib import Path

    from commerce_sync.core.services.demo import demo_seed
    from commerce_sync.syncs.runs import sync_run_execute

    seed = demo_seed(days=1, orders_per_day=5, today=date(2026, 11, 10))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    item = run.push_items.get()
    ledger = Path(seed.ledger_path)
    ledger.write_text(ledger.read_text().split("\n2026-11-09 *")[0] + "\n")
    PushItem.objects.filter(pk=item.pk).update(status="failed", target_id="", last_error="refused")
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    enter(client, seed.merchant)
    page = client.get("/setup/settings").content.decode()
    assert "Some documents could not be written" in page and 'value="retry"' in page
    client.post("/setup/settings", {"action": "retry", "run": str(run.pk)})
    item.refresh_from_db()
    assert item.status == "pushed"
    assert "The failed sync was retried." in client.get("/setup/settings").content.decode()


def test_what_the_books_will_hold_differently_is_shown_with_the_run(client, partner, settings):
    """A target's advisory (say Sage leaving invoices outstanding because the
    payments go to a non-bank account) is a warning of a run that
    succeeded: the merchant sees it beside the run, not only support."""
    from datetime import UTC, date, datetime

    from commerce_sync.core.services.demo import demo_seed
    from commerce_sync.syncs.runs import sync_run_execute

    seed = demo_seed(days=1, orders_per_day=5, today=date(2026, 11, 10))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    advice = "Payments to ledger account 1010 (Card clearing) are posted as journals"
    SyncRun.objects.filter(pk=run.pk).update(
        messages=[
            {"level": "warning", "code": "TargetAdvisory", "message": advice},
            {"level": "warning", "code": "LateRecord", "message": "an internal note"},
        ]
    )
    enter(client, seed.merchant)
    page = client.get("/setup/settings").content.decode()
    assert advice in page
    assert "an internal note" not in page


def test_an_accountant_invited_to_one_stage_sees_only_that_stage(client, partner, mailoutbox):
    import re

    from django.test import Client

    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    refused = client.post(
        "/setup/invite", {"stage": "fees", "email": "not-an-address"}, follow=True
    )
    assert "is not an email address" in refused.content.decode()
    client.post("/setup/invite", {"stage": "fees", "email": "books@accountant.example"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["books@accountant.example"]
    path = re.search(r"http://testserver(/setup/start/\S+)", mailoutbox[0].body).group(1)
    assert AuditLog.objects.filter(action="setup_flow.invite", changes__stage="fees").exists()
    accountant = Client()
    assert accountant.get(path)["Location"] == "/setup/stage/fees"
    assert accountant.get("/setup/stage/fees").status_code == 200
    for elsewhere in (
        "/setup/stage/sales",
        "/setup/review",
        "/setup/settings",
        "/setup/stage/commerce",
    ):
        assert accountant.get(elsewhere).status_code == 403, elsewhere
    assert accountant.post("/setup/finish").status_code == 403
    page = accountant.get("/setup/stage/fees")
    assert [s["name"] for s in page.context["stages"]] == ["fees"]
    standard_set(accountant, back="fees")
    done = accountant.post(
        "/setup/stage/fees", {"fees.accounts.paymentFee": "Expenses:PaymentFees"}
    )
    assert done["Location"] == "/setup/invited/done"
    assert accountant.get(path).status_code == 401  # the invitation worked once
    # The merchant's own session picks up what the accountant chose.
    fees = client.get("/setup/stage/fees")
    assert fees.context["slots"][0]["value"] == "Expenses:PaymentFees"
    assert next(s for s in fees.context["stages"] if s["name"] == "fees")["done"]


def test_the_code_expires_after_its_ttl_with_the_clock_frozen(client, partner, settings):
    from datetime import UTC, datetime
    from unittest import mock

    from commerce_sync.core.services.setup_links import setup_link_issue

    settings.SETUP_LINK_TTL = 30
    merchant = new_merchant(partner)
    issued_at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    fresh = setup_link_issue(merchant=merchant, actor="t", now=issued_at).code
    stale = setup_link_issue(merchant=merchant, actor="t", now=issued_at).code
    clock = "commerce_sync.core.services.setup_links.timezone.now"
    with mock.patch(clock, return_value=issued_at + timedelta(seconds=29)):
        assert client.get(f"/setup/start/{fresh}").status_code == 302
    with mock.patch(clock, return_value=issued_at + timedelta(seconds=30)):
        response = client.get(f"/setup/start/{stale}")
    assert response.status_code == 401 and "This link has expired." in response.content.decode()


def test_the_session_expires(client, partner, settings):
    import time
    from unittest import mock

    enter(client, new_merchant(partner))
    assert client.get("/setup/stage/commerce").status_code == 200
    later = time.time() + settings.SETUP_SESSION_SECONDS + 1
    with mock.patch("setup_flow.session.time.time", return_value=later):
        response = client.get("/setup/stage/commerce")
    assert response.status_code == 401
    assert "Your session has ended." in response.content.decode()


def test_product_categories_seen_get_accounts_of_their_own(client, partner):
    merchant = new_merchant(partner)
    enter(client, merchant)
    through_connections(client)
    standard_set(client)
    client.post(
        "/setup/accounts/new",
        {"back": "sales", "account_id": "Income:Sales:Coffee", "account_type": "Income"},
    )
    categories = client.get("/setup/stage/sales").context["categories"]
    assert categories, "the sandbox describes its product categories"
    first = categories[0]
    assert post_sales(client, **{first["name"]: "Income:Sales:Coffee"}).status_code == 302
    again = client.get("/setup/stage/sales").context["categories"]
    assert again[0]["value"] == "Income:Sales:Coffee"


def test_setup_link_command_prints_a_link_on_the_port_the_app_serves(settings, client):
    """`make run` with PORT=8123 serves on 127.0.0.1:8123 (SITE_URL empty):
    the printed link points there and opens the flow."""
    from io import StringIO

    from django.core.management import call_command

    settings.SITE_URL = ""
    settings.LOCAL_SITE_URL = "http://127.0.0.1:8123"
    merchant = new_merchant(PartnerFactory())
    out = StringIO()
    call_command("setup_link", "--merchant", str(merchant.pk), stdout=out, stderr=StringIO())
    url = out.getvalue().strip()
    assert url.startswith("http://127.0.0.1:8123/setup/start/")
    assert client.get(url.split("127.0.0.1:8123", 1)[1], follow=True).status_code == 200


def test_cash_is_offered_before_a_cash_sale_and_optional_until_one(client, partner):
    """A merchant whose recent sales were all by card still sees Cash on
    the payments page (optional), so a first cash sale finds its account;
    Card stays required."""
    from django.core.cache import cache

    merchant = new_merchant(partner)
    cache.set(f"setup-flow:payment-types:{merchant.pk}", ["Card"], 600)  # only card seen
    enter(client, merchant)
    through_connections(client)
    standard_set(client)
    slots = {s["name"]: s for s in client.get("/setup/stage/payments").context["slots"]}
    assert slots["payments.accounts.card"]["required"]
    assert "payments.accounts.cash" in slots and not slots["payments.accounts.cash"]["required"]
    chosen = {name: s["value"] for name, s in slots.items() if name != "payments.accounts.cash"}
    chosen["payments.accounts.cash"] = ""
    assert client.post("/setup/stage/payments", chosen).status_code == 302
    cache.set(f"setup-flow:payment-types:{merchant.pk}", ["Card", "Cash"], 600)  # now seen
    slots = {s["name"]: s for s in client.get("/setup/stage/payments").context["slots"]}
    assert slots["payments.accounts.cash"]["required"]
