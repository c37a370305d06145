"""The setup flow's tax mapping and its finish: an invoice merchant is
asked for a tax rate per rate its recent sales use (created in a Beancount
ledger with the standard set), and Finish refuses, naming the stage, while
the preview of yesterday refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commerce_sync.core.models import Connection, SyncConfigurationVersion
from setup_flow.session import KEY
from tests.setup_flow.helpers import new_merchant, start_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def invoice_merchant(partner):
    merchant = new_merchant(partner)
    Connection.objects.filter(merchant=merchant, platform_key="sandbox").update(
        settings={"orders_per_day": 12, "seed": "tax-mapping"}
    )
    return merchant


def through_to_sales(client, merchant):
    assert client.get(start_path(merchant)).status_code == 302
    for stage in ("commerce", "accounting"):
        assert client.post(f"/setup/stage/{stage}").status_code == 302


def sales_form(page, **changes):
    values = {s["name"]: s["value"] for s in page.context["slots"]}
    values |= {t["name"]: t["value"] for t in page.context["tax_rows"]}
    values["sales.newTaxRates.defaultZero"] = page.context["default_zero"]
    values |= {
        "mapSettings.outputFormat": "Invoice",
        "sales.salesCustomer": "Walk-in",
        "sales.invoiceStatus": "Submitted",
    }
    return values | changes


def test_an_invoice_merchant_maps_each_tax_rate_its_sales_use(client, partner):
    merchant = invoice_merchant(partner)
    through_to_sales(client, merchant)
    page = client.get("/setup/stage/sales")
    rows = {t["name"]: t for t in page.context["tax_rows"]}
    # The sandbox's British café sells at 20 %, 5 % and 0 %.
    assert {"sales.taxRates.20", "sales.taxRates.5", "sales.taxRates.0"} <= set(rows)
    assert "Your ledger has no tax rates yet" in page.content.decode()
    refused = client.post("/setup/stage/sales", sales_form(page))
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Sales taxed at 20 %: your recent sales use this rate" in body
    assert "Suggest a standard set" in body
    # The standard set creates one tax rate per rate seen, with consent.
    proposed = client.get("/setup/suggest?back=sales").content.decode()
    assert "Liabilities:SalesTax:Rate20" in proposed
    client.post("/setup/suggest", {"back": "sales", "create": "yes"})
    page = client.get("/setup/stage/sales")
    rows = {t["name"]: t["value"] for t in page.context["tax_rows"]}
    assert rows["sales.taxRates.20"] == "Liabilities:SalesTax:Rate20"
    assert rows["sales.taxRates.5"] == "Liabilities:SalesTax:Rate5"
    assert page.context["default_zero"] == "Liabilities:SalesTax:Rate0"
    cleared = client.post("/setup/stage/sales", sales_form(page, **{"sales.taxRates.5": ""}))
    assert cleared.status_code == 400
    assert "Sales taxed at 5 %" in cleared.content.decode()
    assert client.post("/setup/stage/sales", sales_form(page)).status_code == 302


def test_finish_refuses_while_the_preview_refuses_and_names_the_stage(client, partner):
    merchant = invoice_merchant(partner)
    through_to_sales(client, merchant)
    client.post("/setup/suggest", {"back": "sales", "create": "yes"})
    page = client.get("/setup/stage/sales")
    assert client.post("/setup/stage/sales", sales_form(page)).status_code == 302
    fees = {"fees.accounts.paymentFee": "Expenses:PaymentFees", "fees.feesSupplier": "Bank"}
    assert client.post("/setup/stage/fees", fees).status_code == 302
    payments = client.get("/setup/stage/payments").context["slots"]
    chosen = {s["name"]: s["value"] for s in payments}
    assert client.post("/setup/stage/payments", chosen).status_code == 302
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    schedule = {
        "schedule.startDate": yesterday,
        "schedule.syncHour": "0",
        "schedule.timeZone": "Europe/London",
    }
    assert client.post("/setup/stage/schedule", schedule).status_code == 302
    # The 20 % mapping lost after the sales page (an older draft, an edit):
    # the rules pass, yesterday's preview does not.
    session = client.session
    draft = session[KEY + "draft"]
    del draft["document"]["sales"]["taxRates"]["20"]
    session[KEY + "draft"] = draft
    session.save()
    preview = client.get("/setup/preview")
    assert preview.context["preview"]["errors"]
    refused = client.post("/setup/finish")
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Setup cannot finish yet" in body
    assert "Sales taxed at 20 %: your sales use this tax rate" in body
    assert 'href="/setup/stage/sales"' in body and "on the Sales page" in body
    assert not SyncConfigurationVersion.objects.filter(merchant=merchant).exists()
    # The review shows the invoice choices.
    review = client.get("/setup/review").content.decode()
    assert "Invoice status" in review and "Walk-in" in review and "Bank" in review
    # Fixed on the sales page, it finishes.
    page = client.get("/setup/stage/sales")
    fixed = sales_form(page, **{"sales.taxRates.20": "Liabilities:SalesTax:Rate20"})
    assert client.post("/setup/stage/sales", fixed).status_code == 302
    assert client.post("/setup/finish")["Location"] == "/setup/done"
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).exists()


def test_french_refusals_are_translated(client, partner):
    merchant = invoice_merchant(partner)
    assert client.get(start_path(merchant, locale="fr-fr")).status_code == 302
    for stage in ("commerce", "accounting"):
        client.post(f"/setup/stage/{stage}")
    page = client.get("/setup/stage/sales")
    body = client.post("/setup/stage/sales", sales_form(page)).content.decode()
    assert "Ventes taxées à 20 %" in body and "your recent sales" not in body
    bad = client.post(
        "/setup/stage/schedule",
        {"schedule.startDate": "31/12/2026", "schedule.syncHour": "0", "schedule.timeZone": "X"},
    ).content.decode()
    assert "ISO 8601" not in bad and "IANA" not in bad
    assert "aaaa-mm-jj" in bad or "année-mois-jour" in bad


def test_quebec_tax_components_get_liability_accounts_of_their_own(client, partner):
    from commerce_sync.core.services.connections import connection_create
    from commerce_sync.core.services.merchants import merchant_create

    merchant = merchant_create(
        partner=partner,
        name="Café de Montréal",
        country="CA",
        currency="CAD",
        time_zone="America/Toronto",
        external_id="cafe-montreal",
    )
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 8, "seed": "quebec"},
    )
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    through_to_sales(client, merchant)
    client.post("/setup/suggest", {"back": "sales", "create": "yes"})
    client.post(
        "/setup/accounts/new",
        {"back": "sales", "account_id": "Liabilities:QST", "account_type": "Liability"},
    )
    page = client.get("/setup/stage/sales")
    slots = {s["name"]: s for s in page.context["component_slots"]}
    assert set(slots) == {"sales.accounts.tax-GST", "sales.accounts.tax-QST"}
    assert slots["sales.accounts.tax-QST"]["label"] == "Tax component QST (9.975 %)"
    assert "Liabilities:QST" in [a["id"] for a in slots["sales.accounts.tax-QST"]["options"]]
    rows = {t["name"] for t in page.context["tax_rows"]}
    assert "sales.taxRates.14.975" in rows  # GST and QST together
    values = {s["name"]: s["value"] for s in page.context["slots"]}
    posted = client.post(
        "/setup/stage/sales",
        {
            **values,
            "mapSettings.outputFormat": "JournalEntry",
            "sales.accounts.tax-QST": "Liabilities:QST",
        },
    )
    assert posted.status_code == 302
    again = client.get("/setup/stage/sales").context["component_slots"]
    assert {s["name"]: s["value"] for s in again}["sales.accounts.tax-QST"] == "Liabilities:QST"
