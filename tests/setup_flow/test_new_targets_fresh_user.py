"""A fresh merchant connecting the accounting targets of issue 17 (Sage,
MYOB, Exact, FreeAgent) through the setup flow, as a merchant would break it."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from commerce_sync.core.models import AuditLog, Connection
from commerce_sync.core.services.configuration import Problem, sync_configuration_check
from commerce_sync.core.services.connections import connection_create
from mapping.config import INVOICE, JOURNAL
from setup_flow import drafts
from tests.connectors.test_myob import _seed as myob_seed
from tests.connectors.test_sage import _point_at, _seed
from tests.doubles.myob_double import MyobDouble
from tests.doubles.sage_double import SageDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path
from tests.setup_flow.test_freeagent_setup import freeagent  # noqa: F401 - the fixture
from tests.setup_flow.test_oauth import consent
from tests.setup_flow.test_oauth_platforms import consent_screen

pytestmark = pytest.mark.django_db


def _callback_page(client: Any, partner: Any, platform_key: str, **link: str) -> tuple[Any, Any]:
    merchant = MerchantFactory(partner=partner, country="GB")
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    books = connection_create(
        merchant=merchant, platform_key=platform_key, source_type="accounting"
    )
    client.get(start_path(merchant, **link))
    _, callback = consent_screen(client, books)
    return books, client.get(callback)


def test_a_sage_login_reaching_no_business_is_told_what_to_do(
    client: Any, partner: Any, settings: Any
) -> None:
    with SageDouble() as sage:
        _seed(sage)
        _point_at(sage, settings)
        sage.businesses.clear()
        books, page = _callback_page(client, partner, "sage")
        # Not a silent return to the stage with the connection still waiting.
        assert page.status_code == 400
        text = page.content.decode()
        assert "Sage Accounting gave access to nothing to post to" in text
        assert "then connect again" in text
        assert "has been lost. <a" in text  # two sentences, not "lost.Continue"
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH
        assert sage.violations == []


def test_a_myob_login_reaching_no_company_file_is_told_so_in_french(
    client: Any, partner: Any, settings: Any
) -> None:
    with MyobDouble() as myob:
        myob_seed(myob)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        myob.files.clear()
        books, page = _callback_page(client, partner, "myob", locale="fr-fr")
        assert page.status_code == 400
        text = page.content.decode()
        assert "MYOB Business n\u2019a donné accès à rien où comptabiliser" in text
        assert "gave access" not in text
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH


def _freeagent_linked(client: Any, partner: Any, **link: str) -> Connection:
    merchant = MerchantFactory(partner=partner, country="GB")
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    ledger = connection_create(
        merchant=merchant, platform_key="freeagent", source_type="accounting"
    )
    client.get(start_path(merchant, **link))
    callback, _ = consent(client, ledger)
    assert client.get(callback)["Location"] == "/setup/stage/accounting"
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.LINKED
    return ledger


def _transit_problems(ledger: Connection, output_format: str) -> list[str]:
    document = {
        "mapSettings": {"outputFormat": output_format},
        "payments": {"accounts": {"payout": {"selectedAccountId": "bank:1"}}},
    }
    checked = sync_configuration_check(merchant=ledger.merchant, document=document, schedule={})
    return [p.item_id for p in checked.problems if p.code == "TransitCategoryMissing"]


@pytest.mark.usefixtures("freeagent")
def test_a_freeagent_journal_to_the_bank_needs_a_transit_category_the_merchant_can_choose(
    client: Any, partner: Any
) -> None:
    ledger = _freeagent_linked(client, partner)
    # Journal format, payout to a bank account, no transit category: every
    # payout would be refused at each sync, so the configuration is refused now.
    payout = "configuration.payments.accounts.payout.selectedAccountId"
    assert _transit_problems(ledger, JOURNAL) == [payout]
    assert _transit_problems(ledger, INVOICE) == []  # invoices explain the bank line
    page = client.get("/setup/stage/accounting").content.decode()
    assert 'name="transit_category"' in page
    assert ">Capital introduced (901)<" in page and ">Current account" not in page
    url = f"/setup/freeagent-transit/{ledger.pk}"
    # A bank account or a category the company lacks is refused, nothing kept.
    for wrong in ("bank:1", "999", ""):
        assert client.post(url, {"transit_category": wrong})["Location"] == (
            "/setup/stage/accounting"
        )
        ledger.refresh_from_db()
        assert "transit_category" not in ledger.settings
    flash = client.get("/setup/stage/accounting").content.decode()
    assert "Transit category: choose one of your FreeAgent categories" in flash
    client.post(url, {"transit_category": "901"})
    ledger.refresh_from_db()
    assert ledger.settings["transit_category"] == "901"
    assert AuditLog.objects.filter(action="connection.settings_update").exists()
    assert _transit_problems(ledger, JOURNAL) == []
    assert 'value="901" selected' in client.get("/setup/stage/accounting").content.decode()


@pytest.mark.usefixtures("freeagent")
def test_the_transit_category_speaks_french(client: Any, partner: Any) -> None:
    ledger = _freeagent_linked(client, partner, locale="fr-fr")
    page = client.get("/setup/stage/accounting").content.decode()
    assert "Enregistrer la catégorie de transit" in page
    assert "Save the transit category" not in page
    problem = Problem("configuration.payments.accounts.payout", "x", "TransitCategoryMissing")
    with translation.override("fr"):
        text = drafts.message(problem, {}, "FreeAgent")
    assert "catégorie de transit" in text, text
    assert ledger.status == Connection.Status.LINKED


@pytest.mark.parametrize("locale", ["", "fr-fr"])
def test_the_accounting_stage_names_the_sage_business_and_myob_file_chosen(
    client: Any, partner: Any, settings: Any, locale: str
) -> None:
    with SageDouble(others=("b999",)) as sage, MyobDouble(other_files=("Shop Books",)) as myob:
        _seed(sage)
        _point_at(sage, settings)
        myob_seed(myob)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        expected = {
            "": ("Business: Business b999", "Company file: Shop Books"),
            "fr-fr": ("Entreprise : Business b999", "Fichier de société : Shop Books"),
        }[locale]
        for (platform_key, choice), shown in zip(
            (("sage", "b999"), ("myob", myob.files[1][0])), expected, strict=True
        ):
            books, picker = _callback_page(client, partner, platform_key, locale=locale)
            assert picker.status_code == 200
            client.post("/setup/organisation", {"organisation": choice})
            books.refresh_from_db()
            assert books.status == Connection.Status.LINKED
            page = client.get("/setup/stage/accounting").content.decode()
            assert shown in page, page


def test_a_sage_business_outside_the_grant_is_refused_in_french(
    client: Any, partner: Any, settings: Any
) -> None:
    with SageDouble(others=("b999",)) as sage:
        _seed(sage)
        _point_at(sage, settings)
        books, picker = _callback_page(client, partner, "sage", locale="fr-fr")
        assert "Choisissez l\u2019organisation" in picker.content.decode()
        refused = client.post("/setup/organisation", {"organisation": "b-not-granted"})
        assert refused.status_code == 400
        assert "Choisissez l\u2019une des organisations de la liste." in refused.content.decode()
        books.refresh_from_db()
        assert (
            books.status == Connection.Status.PENDING_AUTH and "business_id" not in books.settings
        )
        # The picker still works after the refusal.
        client.post("/setup/organisation", {"organisation": "b999"})
        books.refresh_from_db()
        assert books.status == Connection.Status.LINKED and books.settings["business_id"] == "b999"


@pytest.mark.parametrize(("base", "refused"), [("EUR", True), ("GBP", False)])
def test_a_sage_business_in_another_currency_is_refused_before_any_sync(
    client: Any, partner: Any, settings: Any, base: str, refused: bool
) -> None:
    with SageDouble(base_currency=base) as sage:
        _seed(sage)
        _point_at(sage, settings)
        books, _ = _callback_page(client, partner, "sage", locale="fr-fr")
        books.refresh_from_db()
        assert books.status == Connection.Status.LINKED and books.merchant.currency == "GBP"
        checked = sync_configuration_check(merchant=books.merchant, document={}, schedule={})
        found = [p for p in checked.problems if p.code == "BaseCurrencyMismatch"]
        assert len(found) == int(refused)
        if refused:
            with translation.override("fr"):
                text = drafts.message(found[0], {}, "Sage Accounting")
            assert "tient sa comptabilité en EUR et vos ventes sont en GBP" in text, text
            review = client.get("/setup/review").content.decode()
            assert "tient sa comptabilité en EUR" in review
        assert sage.violations == []
