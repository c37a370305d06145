"""What a merchant new to the flow ran into (issue 11's fresh user test):
a time zone too long for any zone answered a 500; Finish pressed twice
saved two versions; the "set up" page claimed a setup that never happened;
the standard set and the payment types stayed English on French pages; the
language button read "Modification" (Django admin's word won over ours);
the connect page did not say which organisation or company was chosen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from django.test import Client
from django.utils import translation

from commerce_sync.core.models import Connection, SyncConfigurationVersion
from commerce_sync.core.services.connections import connection_create, connection_ledger_path
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import new_merchant, start_path
from tests.setup_flow.test_oauth import consent, xero_double
from tests.setup_flow.test_oauth_platforms import consent_screen
from tests.setup_flow.test_oauth_platforms import quickbooks as quickbooks
from tests.setup_flow.test_taxes_and_finish import invoice_merchant, sales_form, through_to_sales

pytestmark = pytest.mark.django_db
WAITING = "Compte d\u2019attente"  # French typography: a closing quote, not an apostrophe
CATALOGUE = Path(__file__).resolve().parents[2] / "setup_flow/locale/fr/LC_MESSAGES/django.po"


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def test_a_time_zone_longer_than_any_is_a_message_not_a_500(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    response = client.post(
        "/setup/stage/schedule",
        {
            "schedule.startDate": "2026-11-01",
            "schedule.syncHour": "2",
            "schedule.timeZone": "Europe/London" * 400,
        },
    )
    assert response.status_code == 400
    assert "Time zone: choose a time zone from the list." in response.content.decode()


def finish_ready(client: Any, merchant: Any, *, locale: str = "en-us") -> None:
    """Open the flow and complete every stage with the standard set."""
    client.get(start_path(merchant, locale=locale))
    client.post("/setup/suggest", {"create": "yes", "back": "sales"})
    assert client.post("/setup/stage/sales", _sales(client)).status_code == 302
    for stage in ("fees", "payments"):
        page = client.get(f"/setup/stage/{stage}").context
        data = {s["name"]: s["value"] for s in page["slots"]}
        assert client.post(f"/setup/stage/{stage}", data).status_code == 302
    schedule = {"schedule.startDate": "2026-11-01", "schedule.syncHour": "2"}
    schedule["schedule.timeZone"] = merchant.time_zone
    assert client.post("/setup/stage/schedule", schedule).status_code == 302


def _sales(client: Any) -> dict[str, str]:
    page = client.get("/setup/stage/sales").context
    data = {s["name"]: s["value"] for s in page["slots"]}
    return {**data, "mapSettings.outputFormat": "JournalEntry"}


def test_finish_pressed_twice_saves_one_version(client, partner):
    merchant = new_merchant(partner)
    finish_ready(client, merchant)
    first = client.post("/setup/finish")
    assert first["Location"] == "/setup/done"
    again = client.post("/setup/finish")  # the second click, or the history's resubmit
    assert again["Location"] == "/setup/done"
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 1
    assert "(version 1)" in client.get("/setup/done").content.decode()


def test_a_draft_finished_after_another_finish_saves_nothing(client, partner):
    """Two finishes of one draft's version at once (two tabs, or two clicks
    whose requests overlap): the first saves, the second is told."""
    merchant = new_merchant(partner)
    other = Client()
    finish_ready(client, merchant)
    finish_ready(other, merchant)  # begun from the same version: none yet
    assert client.post("/setup/finish")["Location"] == "/setup/done"
    late = other.post("/setup/finish", follow=True)
    assert "Your choices were already saved (version 1)." in late.content.decode()
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 1


def test_a_draft_begun_before_other_choices_were_saved_overwrites_nothing_unseen(client, partner):
    merchant = new_merchant(partner)
    other = Client()
    finish_ready(client, merchant)
    finish_ready(other, merchant)
    schedule = {"schedule.startDate": "2026-11-01", "schedule.syncHour": "5"}
    other.post("/setup/stage/schedule", {**schedule, "schedule.timeZone": merchant.time_zone})
    assert client.post("/setup/finish")["Location"] == "/setup/done"
    moved = other.post("/setup/finish", follow=True)
    assert "changed elsewhere since you began (it is version 1 now)" in moved.content.decode()
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 1
    # Kept, seen, finished again: saved over the version now current.
    assert other.post("/setup/finish")["Location"] == "/setup/done"
    latest = SyncConfigurationVersion.objects.filter(merchant=merchant).order_by("-version")[0]
    assert (latest.version, latest.sync_hour) == (2, 5)


def test_a_standard_set_suggested_again_keeps_sales_out_of_refunds(client, partner):
    """Once the standard accounts exist, suggesting again (a second session,
    an invitee, a returning merchant) proposed Income:Sales:Refunds for
    sales: its id holds "sales"."""
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    client.post("/setup/suggest", {"create": "yes", "back": "sales"})
    again = Client()
    again.get(start_path(merchant))
    rows = again.get("/setup/suggest?back=sales").context["rows"]
    assert all(r["exists"] for r in rows)
    chosen = {r["label"]: r["account"] for r in rows}
    assert (chosen["Sales"], chosen["Refunds"]) == ("Income:Sales", "Income:Sales:Refunds")
    again.post("/setup/suggest", {"back": "sales"})
    slots = {s["name"]: s["value"] for s in again.get("/setup/stage/sales").context["slots"]}
    assert slots["sales.accounts.sales"] == "Income:Sales"


def test_nobody_is_told_a_setup_is_done_that_was_not(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    assert client.get("/setup/done")["Location"] == "/setup/review"
    assert client.get("/setup/invited/done")["Location"] == "/setup/"


def test_the_standard_set_is_named_in_the_merchants_language(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant, locale="fr-fr"))
    rows = {
        r["account"]: r["name"] for r in client.get("/setup/suggest?back=sales").context["rows"]
    }
    assert rows["Assets:Bank:Current"] == "Compte bancaire"
    assert rows["Assets:Clearing:Card"] == f"{WAITING} Carte"  # every sandbox day has cards
    french = {
        "Cash": "Espèces",
        "OnlineCard": "Carte en ligne",
        "Prepaid": "Prépayé (carte cadeau)",
    }
    for kind, label in french.items():
        assert rows.get(f"Assets:Clearing:{kind}", f"{WAITING} {label}") == (f"{WAITING} {label}")
    rates = {a: n for a, n in rows.items() if a.startswith("Liabilities:SalesTax:Rate")}
    assert rates, rows  # the sandbox's sales are taxed
    for account, name in rates.items():
        assert name == f"Taux de taxe {account.removeprefix('Liabilities:SalesTax:Rate')} %"
    client.post("/setup/suggest", {"create": "yes", "back": "sales"})
    books = merchant.connections.get(platform_key="beancount")
    text = Path(connection_ledger_path(connection=books)).read_text(encoding="utf-8")
    # The names follow the language; the ids (Beancount's English roots) do not.
    account, name = next(iter(rates.items()))
    assert f'open {account}\n  name: "{name}"' in text
    assert f'open Assets:Clearing:Card\n  name: "{WAITING} Carte"' in text
    payments = client.get("/setup/stage/payments").content.decode()
    assert f'{WAITING} Carte <span class="req">' in payments
    assert "Card clearing" not in payments


def test_every_text_of_the_flow_reads_as_its_french_catalogue_says():
    """No other catalogue (Django's admin, the core's) shadows one of ours:
    "Change" read "Modification" on the language button."""
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source, locale="fr")
    shadowed = []
    with translation.override("fr-fr"):
        for message in catalogue:
            if not message.id or not message.string:
                continue
            if isinstance(message.id, tuple):
                got = translation.ngettext(message.id[0], message.id[1], 1)
                wanted = message.string[0]
            elif message.context:
                got = translation.pgettext(message.context, message.id)
                wanted = message.string
            else:
                got, wanted = translation.gettext(message.id), message.string
            if got != wanted:
                shadowed.append(f"{message.id!r}: {got!r} instead of {wanted!r}")
    assert shadowed == []


def test_the_connect_page_names_the_xero_organisation_chosen(client, partner, settings):
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    ledger = connection_create(merchant=merchant, platform_key="xero", source_type="accounting")
    with xero_double(settings, other_tenants=("Second Ltd",)):
        client.get(start_path(merchant, locale="fr-fr"))
        callback, _query = consent(client, ledger)
        client.get(callback)  # the picker: two organisations
        # The same address again (reloaded, or the language switched on it):
        # the picker again, its code not exchanged a second time ...
        second = client.get(callback)
        assert second.status_code == 200 and "Second Ltd" in second.content.decode()
        # ... but an answer with another state is still not ours.
        forged = client.get(re.sub(r"state=[^&]+", "state=forged", callback))
        assert forged.status_code == 400
        from connectors.xero.oauth import xero_tenants

        ledger.refresh_from_db()
        tenants = xero_tenants(access_token=ledger.credentials["access_token"])
        chosen = next(t for t in tenants if t.name == "Second Ltd")
        # An organisation the grant does not reach: said plainly, the picker again.
        wrong = client.post("/setup/organisation", {"organisation": "not-one-of-them"})
        assert wrong.status_code == 400
        body = wrong.content.decode()
        assert "Choisissez l\u2019une des organisations de la liste." in body
        assert "Double Ltd" in body and "Second Ltd" in body
        client.post("/setup/organisation", {"organisation": chosen.tenant_id})
        page = client.get("/setup/stage/accounting").content.decode()
        assert "Organisation : Second Ltd" in page
        ledger.refresh_from_db()
        assert ledger.settings["tenant_name"] == "Second Ltd"


def test_the_connect_page_names_the_quickbooks_company_chosen(client, partner, quickbooks):
    api, _intuit = quickbooks
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    books = connection_create(
        merchant=merchant, platform_key="quickbooks", source_type="accounting"
    )
    client.get(start_path(merchant))
    _screen, callback = consent_screen(client, books, realmId=api.realm)
    assert client.get(callback)["Location"] == "/setup/stage/accounting"
    books.refresh_from_db()
    assert books.status == Connection.Status.LINKED
    assert books.settings["company_name"] == "Double Café Ltd"
    assert "Company: Double Café Ltd" in client.get("/setup/stage/accounting").content.decode()


def test_the_preview_shows_where_a_payout_goes(client, partner):
    """An invoice merchant's payout is a transfer: the preview showed it
    with no account and an amount of "None"."""
    merchant = invoice_merchant(partner)
    through_to_sales(client, merchant)
    client.post("/setup/suggest", {"create": "yes", "back": "sales"})
    assert client.post("/setup/stage/sales", sales_form(client.get("/setup/stage/sales")))[
        "Location"
    ].endswith("/fees")
    fees = {s["name"]: s["value"] for s in client.get("/setup/stage/fees").context["slots"]}
    client.post("/setup/stage/fees", {**fees, "fees.feesSupplier": "Card processor"})
    payments = client.get("/setup/stage/payments").context["slots"]
    client.post("/setup/stage/payments", {s["name"]: s["value"] for s in payments})
    preview = client.get("/setup/preview")
    transfers = [d for d in preview.context["preview"]["documents"] if d["type"] == "transfer"]
    assert transfers, preview.context["preview"]  # the sandbox pays out every morning
    for transfer in transfers:
        into, out = transfer["lines"]
        assert into["account"] == "Assets:Bank:Current" and into["amount"] > 0
        assert out["account"].startswith("Assets:Clearing:") and out["amount"] == -into["amount"]
    body = preview.content.decode()
    assert ">None<" not in body
    # Each document is named in words, not by the engine's type key.
    assert "<caption>Transfer " in body and "<caption>Invoice " in body
    assert "<caption>transfer " not in body


def test_a_page_that_is_not_there_answers_in_the_merchants_language(client, partner, settings):
    settings.DEBUG = False
    merchant = new_merchant(partner)
    client.get(start_path(merchant, locale="fr-fr"))
    for path in ("/setup/stage/nope", f"/setup/connect/{merchant.pk}", "/setup/x"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.content.decode()
        assert "Page introuvable" in body and 'href="/setup/"' in body, path
    assert "Page introuvable" not in client.get("/portal/nope").content.decode()
