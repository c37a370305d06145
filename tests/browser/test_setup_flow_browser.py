"""A merchant in a real browser (Debian's Chromium through Playwright) goes
from the partner's start URL to a finished configuration and its first
sync, in English (journal entries) and in French (invoices), then uses the
settings page (pause, edit, revoke). axe-core checks every page for serious
or critical violations; screenshots of every page go to var/screenshots/
(360 px wide, the narrowest supported)."""

from __future__ import annotations

import os
import zoneinfo
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from commerce_sync.core.models import Connection, PushItem, SyncConfigurationVersion, SyncRun
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.core.services.setup_links import setup_link_issue
from tests.connectors.test_xero import uk_books
from tests.doubles.xero_double import XeroDouble
from tests.factories import PartnerFactory
from tests.setup_flow.helpers import new_merchant

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing at /usr/bin/chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")


@pytest.fixture
def page(settings, tmp_path, chromium, csp_watch):
    """A fresh context of the run's Chromium (tests/browser/conftest.py),
    watched for Content-Security-Policy violations."""
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, java_script_enabled=False
    )
    yield csp_watch(context.new_page())
    context.close()


class Checker:
    """Runs axe-core on each page (JavaScript is off for the merchant, so a
    second JS-enabled page loads the same URL with the same cookies) and
    saves a screenshot. With `axe` False it only saves the screenshot (for
    pages another test already checks, identical)."""

    def __init__(self, page, name: str, *, axe: bool = True) -> None:
        self.page, self.name, self.count = page, name, 0
        self.axe, self.axe_on = axe_module.Axe(), axe
        self.found: list[str] = []

    def __call__(self, label: str) -> None:
        self.count += 1
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{self.name}-{self.count:02d}-{label}.png"), full_page=True
        )
        if not self.axe_on:
            return
        browser = self.page.context.browser
        context = browser.new_context(viewport={"width": 360, "height": 740})
        context.add_cookies(self.page.context.cookies())
        probe = context.new_page()
        probe.goto(self.page.url)
        results = self.axe.run(probe)
        for violation in results.response["violations"]:
            if violation.get("impact") in ("serious", "critical"):
                self.found.append(f"{label}: {violation['id']} {violation['help']}")
        context.close()


def due_start(merchant) -> str:
    """Two days back, not the flow's default (yesterday): then a day is due
    whatever the hour; with yesterday nothing is due before the 02:00 sync hour."""
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(merchant.time_zone))
    return (today - timedelta(days=2)).isoformat()


def journey(
    page, live_server, merchant, *, locale: str, invoice: bool, name: str, axe: bool = True
) -> Checker:
    check = Checker(page, name, axe=axe)
    code = setup_link_issue(
        merchant=merchant,
        actor="partner:test",
        locale=locale,
        redirect_url="https://partner.example/back",
    ).code
    page.goto(f"{live_server.url}/setup/start/{code}")
    check("commerce")
    page.click("main button[type=submit]")
    check("accounting")
    page.click("main button[type=submit]")
    check("sales")
    page.click("a[href^='/setup/suggest']")
    check("suggest")
    page.check("#create")
    page.click("main button[type=submit]")
    if invoice:  # the locations page, then the tax rates the standard set created
        page.click("a[href='/setup/locations']")
        check("locations")
        page.check("#f-grouping-location")
        page.click("main .nav-buttons button[type=submit]")
    page.check("#fmt-invoice" if invoice else "#fmt-journal")
    if invoice:
        page.fill("#f-sales-salesCustomer", "Daily sales")
        assert page.locator("#f-sales-taxRates-20").input_value()
        check("sales-invoice")
    page.click("main .nav-buttons button[type=submit]")
    check("fees")
    if invoice:
        page.fill("#f-fees-feesSupplier", "Card processor")
    page.click("main .nav-buttons button[type=submit]")
    check("payments")
    page.click("main .nav-buttons button[type=submit]")
    check("schedule")
    page.fill("#f-schedule-startDate", due_start(merchant))
    page.click("main .nav-buttons button[type=submit]")
    check("review")
    page.click("a[href^='/setup/preview']")
    check("preview")
    assert page.locator("table.preview").count() >= 1
    page.click("main form button[type=submit]")
    check("done")
    return check


@pytest.mark.parametrize(
    ("locale", "invoice", "finished_text"),
    [
        ("en-us", False, "Your sync is set up"),
        ("fr-fr", True, "Votre synchronisation est configurée"),
    ],
)
def test_a_merchant_sets_up_and_syncs(live_server, page, locale, invoice, finished_text):
    merchant = new_merchant(PartnerFactory(), name=f"Bakery {locale}")
    check = journey(
        page, live_server, merchant, locale=locale, invoice=invoice, name=f"journey-{locale}"
    )
    assert finished_text in page.inner_text("main")
    version = SyncConfigurationVersion.objects.get(merchant=merchant)
    assert version.created_by == "merchant"
    assert version.document["mapSettings"]["outputFormat"] == (
        "Invoice" if invoice else "JournalEntry"
    )
    run = SyncRun.objects.get(merchant=merchant)
    assert run.status == SyncRun.Status.SUCCEEDED and run.data_pushed
    assert PushItem.objects.filter(merchant=merchant, status="pushed").exists()
    assert not check.found, check.found


def test_the_settings_page_pauses_edits_and_revokes(live_server, page):
    merchant = new_merchant(PartnerFactory(), name="Settings Bakery")
    # The same journey as test_a_merchant_sets_up_and_syncs[en-us], whose
    # pages axe checks there: here only the settings pages are checked.
    check = journey(
        page, live_server, merchant, locale="en-us", invoice=False, name="settings-setup", axe=False
    )
    check.axe_on = True
    page.goto(f"{live_server.url}/setup/settings")
    check("settings")
    page.click("button[value=pause]")
    assert "Syncing is paused." in page.inner_text("main")
    check("settings-paused")
    merchant.refresh_from_db()
    assert not merchant.enabled
    page.click("button[value=edit]")
    assert "locked" in page.inner_text("main")
    check("edit-sales")
    page.click("main .nav-buttons button[type=submit]")
    page.click("main .nav-buttons button[type=submit]")
    page.click("main .nav-buttons button[type=submit]")
    page.click("main .nav-buttons button[type=submit]")
    page.click("main form button[type=submit]")
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 2
    page.goto(f"{live_server.url}/setup/settings")
    page.locator("button[value=revoke]").first.click()
    assert "What was already posted stays" in page.inner_text("main")  # asked first
    check("settings-disconnect-confirm")
    assert not merchant.connections.filter(status=Connection.Status.UNLINKED).exists()
    page.click("main button[value=revoke]")
    assert "is disconnected" in page.inner_text("main")
    check("settings-revoked")
    assert merchant.connections.filter(status=Connection.Status.UNLINKED).count() == 1
    page.click("main form[action^='/setup/reconnect/'] button")
    assert "is connected again" in page.inner_text("main")
    check("settings-reconnected")
    assert merchant.connections.filter(status=Connection.Status.LINKED).count() == 2
    assert not check.found, check.found


@pytest.fixture
def xero(settings):
    books = uk_books()
    books.tax_rates["REDUCED"] = {
        "TaxType": "REDUCED",
        "Name": "5% (VAT on Income)",
        "EffectiveRate": 5,
        "Status": "ACTIVE",
    }
    with XeroDouble(books) as double:
        settings.XERO_API_URL = double.api_url
        settings.XERO_IDENTITY_URL = double.url
        settings.XERO_AUTHORIZE_URL = double.authorize_url
        settings.XERO_CLIENT_ID = "client-id"
        settings.XERO_CLIENT_SECRET = "client-secret"
        yield double


def option_value(page, select: str, text: str) -> str:
    return page.locator(f"{select} option", has_text=text).first.get_attribute("value")


def test_an_invoice_merchant_connects_xero_in_french(live_server, page, xero):
    merchant = merchant_create(
        partner=PartnerFactory(),
        name="Boulangerie",
        country="GB",
        currency="GBP",
        time_zone="Europe/London",
    )
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 6},
    )
    connection_create(merchant=merchant, platform_key="xero", source_type="accounting")
    check = Checker(page, "journey-xero-fr-fr")
    code = setup_link_issue(merchant=merchant, actor="partner:test", locale="fr-fr").code
    page.goto(f"{live_server.url}/setup/start/{code}")
    page.click("main button[type=submit]")
    check("accounting")
    page.click("a[href^='/setup/connect/']")  # Xero's consent screen (the double) and back
    assert "Connecté" in page.inner_text("main")
    check("accounting-connected")
    page.click("main button[type=submit]")
    page.click("a[href^='/setup/suggest']")
    check("suggest")
    page.click("main button[type=submit]")
    page.check("#fmt-invoice")
    page.select_option(
        "#f-sales-accounts-refund", option_value(page, "#f-sales-accounts-refund", "Sales")
    )
    page.select_option("#f-sales-salesCustomer", label="POS sales")
    check("sales")
    page.click("main .nav-buttons button[type=submit]")
    page.select_option("#f-fees-feesSupplier", label="Card processor")
    option_supplier = page.locator("#f-fees-feesSupplier").input_value()
    check("fees")
    page.click("main .nav-buttons button[type=submit]")
    check("payments")
    page.click("main .nav-buttons button[type=submit]")
    page.fill("#f-schedule-startDate", due_start(merchant))
    page.click("main .nav-buttons button[type=submit]")
    page.click("a[href^='/setup/preview']")
    check("preview")
    assert page.locator("table.preview").count() >= 1, page.inner_text("main")
    page.click("main form button[type=submit]")
    check("done")
    assert "Votre synchronisation est configurée" in page.inner_text("main")
    version = SyncConfigurationVersion.objects.get(merchant=merchant)
    assert version.created_by == "merchant"
    assert version.document["mapSettings"]["outputFormat"] == "Invoice"
    run = SyncRun.objects.get(merchant=merchant)
    assert xero.books.documents["Invoices"]  # the day's sales invoice was written
    ledger = merchant.connections.get(source_type="accounting")
    assert ledger.settings["tenant_id"] == xero.tenant_id
    assert not check.found, check.found
    # Fee refunds are deposited in Xero from the fees supplier.
    assert ledger.settings["bank_contact_id"] == option_supplier
    assert run.status == SyncRun.Status.SUCCEEDED and run.data_pushed, run.messages


def test_square_and_quickbooks_are_connected_in_the_browser(live_server, page, settings):
    """The commerce source's OAuth (Square's consent screen) and QuickBooks'
    (Intuit's consent screen with its company picker), through the doubles."""
    from tests.doubles.consent import IntuitOAuthDouble
    from tests.doubles.quickbooks_double import QuickBooksDouble
    from tests.doubles.square_double import SquareDouble

    with SquareDouble() as square, QuickBooksDouble() as api:
        api.company.seed_account("40", "Sales", "Revenue")
        api.company.seed_account("41", "Refunds", "Revenue")
        companies = [("9130999", "Another company"), (api.realm, "Double Café Ltd")]
        with IntuitOAuthDouble(access_token=api.token, companies=companies) as intuit:
            settings.SQUARE_API_URL = square.url
            settings.SQUARE_CLIENT_ID = square.client_id
            settings.SQUARE_CLIENT_SECRET = square.client_secret
            settings.QUICKBOOKS_API_URL = api.url
            settings.QUICKBOOKS_AUTHORIZE_URL = intuit.authorize_url
            settings.QUICKBOOKS_TOKEN_URL = intuit.token_url
            settings.QUICKBOOKS_REVOKE_URL = intuit.revoke_url
            settings.QUICKBOOKS_CLIENT_ID, settings.QUICKBOOKS_CLIENT_SECRET = intuit.client
            merchant = merchant_create(
                partner=PartnerFactory(),
                name="Square Café",
                country="GB",
                currency="GBP",
                time_zone="Europe/London",
            )
            connection_create(merchant=merchant, platform_key="square", source_type="commerce")
            connection_create(
                merchant=merchant, platform_key="quickbooks", source_type="accounting"
            )
            check = Checker(page, "journey-oauth")
            code = setup_link_issue(merchant=merchant, actor="partner:test").code
            page.goto(f"{live_server.url}/setup/start/{code}")
            check("commerce-square")
            page.click("a[href^='/setup/connect/']")
            assert page.inner_text("h1") == "Allow access to Square?"
            page.screenshot(path=str(SCREENSHOTS / "journey-oauth-square-consent.png"))
            page.click("button[value=allow]")
            assert "Connected" in page.inner_text("main")
            check("commerce-connected")
            page.click("main button[type=submit]")
            check("accounting-quickbooks")
            page.click("a[href^='/setup/connect/']")
            assert "Allow access to QuickBooks?" in page.inner_text("h1")
            page.select_option("#realm", api.realm)
            page.screenshot(path=str(SCREENSHOTS / "journey-oauth-quickbooks-consent.png"))
            page.click("button[value=allow]")
            assert "Connected" in page.inner_text("main")
            check("accounting-connected")
            books = merchant.connections.get(source_type="accounting")
            till = merchant.connections.get(source_type="commerce")
            assert books.status == Connection.Status.LINKED == till.status
            assert books.settings["realm_id"] == api.realm
            page.click("main button[type=submit]")
            check("sales-quickbooks")
            options = page.locator("#f-sales-accounts-sales option").all_inner_texts()
            assert any("Sales" in o for o in options), options
    # Without a start URL, /setup/ says how a merchant gets in.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/setup/")
    assert "personal link" in page.inner_text("main")
    check("welcome")
    assert not check.found, check.found


def test_a_clover_merchant_chooses_its_region_and_connects_in_french(live_server, page, settings):
    """The region picker (the partner set none), Clover's consent in that
    region (the double) and back, in French; axe-core on the picker."""
    from tests.doubles.clover_double import CLIENT_ID, CLIENT_SECRET, MERCHANT, CloverDouble

    with CloverDouble() as clover:
        settings.CLOVER_API_URLS = {"eu": clover.url}
        settings.CLOVER_WEB_URLS = {"eu": clover.url}
        settings.CLOVER_CLIENT_ID, settings.CLOVER_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
        merchant = merchant_create(
            partner=PartnerFactory(),
            name="Bistrot",
            country="FR",
            currency="EUR",
            time_zone="Europe/Paris",
        )
        connection_create(merchant=merchant, platform_key="clover", source_type="commerce")
        connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
        check = Checker(page, "journey-clover-fr-fr")
        code = setup_link_issue(merchant=merchant, actor="partner:test", locale="fr-fr").code
        page.goto(f"{live_server.url}/setup/start/{code}")
        assert "Région de votre compte Clover" in page.inner_text("main")
        check("commerce-clover-region")
        page.select_option("select[name=region]", "eu")
        page.click("main form[action^='/setup/clover-region/'] button[type=submit]")
        page.click("a[href^='/setup/connect/']")  # Clover's consent (the double) and back
        assert "Connecté" in page.inner_text("main")
        check("commerce-clover-connected")
        assert clover.token_calls == ["token"]
        assert not check.found, check.found
    till = merchant.connections.get(source_type="commerce")
    assert till.status == Connection.Status.LINKED
    assert till.settings == {"region": "eu", "merchant_id": MERCHANT}
