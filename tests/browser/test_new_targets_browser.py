"""A merchant whose accountant uses FreeAgent, Exact Online, MYOB Business or
Sage Accounting goes through the setup flow in Chromium, 375 px wide, with
the keyboard only: Connect (the double's consent screen), the platform's own
picker, accounts, tax rates, payments, schedule, preview and finish; the
first sync then writes the day's documents into the double. axe-core checks
each page (serious or critical violations fail the test)."""

from __future__ import annotations

import contextlib
import os
import zoneinfo
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from commerce_sync.core.models import PushItem, SyncConfigurationVersion, SyncRun
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.core.services.setup_links import setup_link_issue
from commerce_sync.syncs.runs import sync_run_execute
from tests.factories import PartnerFactory

if not Path("/usr/bin/chromium").exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing at /usr/bin/chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")

COUNTRY = {
    "freeagent": ("GB", "GBP", "Europe/London"),
    "exact": ("NL", "EUR", "Europe/Amsterdam"),
    "myob": ("AU", "AUD", "Australia/Sydney"),
    "sage": ("GB", "GBP", "Europe/London"),
}


@contextlib.contextmanager
def books_double(platform: str, settings: Any) -> Iterator[Any]:
    """The platform's double, seeded as its connector tests seed it, with the
    app's settings pointed at it."""
    if platform == "freeagent":
        from tests.connectors.test_freeagent import uk_company
        from tests.doubles.freeagent_double import FreeAgentDouble

        with FreeAgentDouble(uk_company()) as double:
            settings.FREEAGENT_API_URL = double.api_url
            settings.FREEAGENT_CLIENT_ID = "client-id"
            settings.FREEAGENT_CLIENT_SECRET = "client-secret"
            yield double
    elif platform == "exact":
        from tests.connectors.test_exact import _seed
        from tests.doubles.exact_double import ExactDouble

        with ExactDouble(divisions=(499156, 2001)) as double:
            _seed(double)
            double.books.seed_vat("OUTPUT5", "5", to_pay="2200")  # the sandbox sells at 5 % too
            settings.EXACT_BASE_URL = double.url
            settings.EXACT_CLIENT_ID, settings.EXACT_CLIENT_SECRET = (
                "exact-client",
                "exact-client-secret",
            )
            yield double
    elif platform == "myob":
        from tests.connectors.test_myob import _seed
        from tests.doubles.myob_double import MyobDouble

        with MyobDouble(other_files=("Shop Books",)) as double:
            _seed(double)
            double.books.seed_tax("OUTPUT5", "5", collected="2200", paid="2200")
            settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = double.url
            settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = double.client
            yield double
    else:
        from tests.connectors.test_sage import _point_at, _seed
        from tests.doubles.sage_double import SageDouble

        with SageDouble(debtors="1300", creditors="1600", others=("b999",)) as double:
            _seed(double)
            double.books.seed_tax("OUTPUT5", "5")
            _point_at(double, settings)
            yield double
    # Chromium asks the consent screen's host for its icon: not an API call.
    taken = [v for v in double.harness.take() if "favicon" not in v]
    assert taken == []


@pytest.fixture
def phone(settings, tmp_path, chromium, csp_watch):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = chromium.new_context(viewport={"width": 375, "height": 740})
    page = csp_watch(context.new_page())
    page.errors = []
    page.on(
        "console",
        lambda message: (
            page.errors.append(f"{page.url}: {message.text}")
            # (the doubles' consent screens have no icon: Chromium's request
            # for one is not the flow's error)
            if message.type == "error" and "favicon" not in message.location.get("url", "")
            else None
        ),
    )
    yield page
    context.close()


def tab_to(page: Any, selector: str) -> None:
    for _ in range(120):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is never reached with Tab on {page.url}")


def press(page: Any, selector: str, key: str = "Enter") -> None:
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press(key)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


class Axe:
    def __init__(self, page: Any) -> None:
        self.page, self.axe, self.found = page, axe_module.Axe(), []

    def __call__(self, label: str) -> None:
        results = self.axe.run(self.page)
        for violation in results.response["violations"]:
            if violation.get("impact") in ("serious", "critical"):
                self.found.append(f"{label}: {violation['id']} {violation['help']}")


NEXT = "main .nav-buttons button[type=submit]"


def two_days_back(merchant: Any) -> str:
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(merchant.time_zone))
    return (today - timedelta(days=2)).isoformat()


# MYOB in the invoice format is left out: MYOB works each line's tax out
# itself, and a day whose orders' tax was rounded order by order is refused
# by a cent ("MYOB works out tax 6.30 at OUTPUT2's 20%, the sales carried
# 6.29"), so the sandbox's days do not sync (a known defect, reported).
@pytest.mark.parametrize(
    ("platform", "locale", "invoice"),
    [
        (platform, locale, invoice)
        for platform in ("freeagent", "exact", "myob", "sage")
        for locale, invoice in (("en-us", False), ("fr-fr", False), ("fr-fr", True))
        if not (platform == "myob" and invoice)
    ],
)
def test_a_merchant_connects_the_books_and_syncs(
    live_server, phone, settings, platform, locale, invoice
):
    country, currency, zone = COUNTRY[platform]
    merchant = merchant_create(
        partner=PartnerFactory(),
        name=f"Shop {platform}",
        country=country,
        currency=currency,
        time_zone=zone,
    )
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 6},
    )
    books = connection_create(merchant=merchant, platform_key=platform, source_type="accounting")
    axe = Axe(phone)
    CURRENT["platform"] = platform
    with books_double(platform, settings) as double:
        code = setup_link_issue(merchant=merchant, actor="partner:test", locale=locale).code
        phone.goto(f"{live_server.url}/setup/start/{code}")
        press(phone, NEXT)  # the sales platform: nothing to authorise
        axe("accounting")
        press(phone, f"a[href='/setup/connect/{books.pk}']")  # the double's consent screen
        if not phone.url.startswith(live_server.url):
            press(phone, "button[type=submit], button")  # allow
        if phone.locator("input[name=organisation]").count():  # the platform's own picker
            axe("picker")
            chosen = served(platform, double)
            tab_to(phone, "input[name=organisation]")
            for _ in range(5):
                if phone.evaluate("document.activeElement.value") == chosen:
                    break
                phone.keyboard.press("ArrowDown")
            press(phone, "main form button[type=submit]")
            books.refresh_from_db()
            assert chosen in [str(v) for v in books.settings.values()], (chosen, books.settings)
        assert "/setup/stage/accounting" in phone.url, phone.inner_text("main")
        books.refresh_from_db()
        assert books.status == "Linked", phone.inner_text("main")
        axe("accounting-connected")
        if platform == "freeagent":  # journals reach the bank through a category
            choose(phone, f"transit-{books.pk}", "901")
            press(phone, f"form[action='/setup/freeagent-transit/{books.pk}'] button")
            books.refresh_from_db()
            assert books.settings["transit_category"] == "901"
        press(phone, NEXT)
        assert "/setup/stage/sales" in phone.url, phone.inner_text("main")
        press(phone, "a[href^='/setup/suggest']")
        axe("suggest")
        if phone.locator("main form button[type=submit]").count():
            press(phone, "main form button[type=submit]")
        else:  # nothing to propose: back to the stage
            press(phone, "main a[href='/setup/stage/sales']")
        tab_to(phone, "input[name='mapSettings.outputFormat']")  # the radio group
        phone.keyboard.press("Space")
        if invoice and not phone.locator("#fmt-invoice").is_checked():
            phone.keyboard.press("ArrowDown")
        assert phone.locator("#fmt-invoice" if invoice else "#fmt-journal").is_checked()
        if invoice:  # each tax rate of the sales to one of the books', a customer
            for row in phone.locator("select[id^='f-sales-taxRates-'], #f-sales-newTaxRates").all():
                ident = row.get_attribute("id")
                pct = "0" if ident == "f-sales-newTaxRates" else ident.rsplit("-", 1)[-1]
                choose(phone, ident, rate_for(row, pct))
            choose(phone, "f-sales-salesCustomer", first_choice(phone, "f-sales-salesCustomer"))
        next_until(phone, "/setup/stage/fees", axe, "sales")
        if invoice and phone.locator("#f-fees-feesSupplier").count():
            choose(phone, "f-fees-feesSupplier", first_choice(phone, "f-fees-feesSupplier"))
        next_until(phone, "/setup/stage/payments", axe, "fees")
        next_until(phone, "/setup/stage/schedule", axe, "payments")
        tab_to(phone, "#f-schedule-startDate")
        phone.fill("#f-schedule-startDate", two_days_back(merchant))
        press(phone, NEXT)
        axe("review")
        if platform == "sage" and not invoice:
            # The accountant hides the sales account in Sage after it was
            # chosen: the preview says so and finishing is refused, rather
            # than "Your sync is set up" and a first sync that fails.
            hidden = double.books.ledger("4000")
            hidden["included_in_chart"] = False
            press(phone, "a[href^='/setup/preview']")
            main = phone.inner_text("main")
            assert "Ledger account 4000 is no longer in use in Sage Accounting" in main, main
            press(phone, "main form[action$='/setup/finish'] button[type=submit]")
            assert not SyncConfigurationVersion.objects.filter(merchant=merchant).exists()
            # (the refusal is a 400, which Chromium logs as an error)
            phone.errors[:] = [e for e in phone.errors if not e.startswith(phone.url)]
            hidden["included_in_chart"] = True  # shown again in Sage
            phone.goto(f"{live_server.url}/setup/review")
        press(phone, "a[href^='/setup/preview']")
        axe("preview")
        assert phone.locator("table.preview").count() >= 1, phone.inner_text("main")
        press(phone, "main form[action$='/setup/finish'] button[type=submit]")
        axe("done")
        version = SyncConfigurationVersion.objects.get(merchant=merchant)
        assert version.created_by == "merchant"
        run = SyncRun.objects.get(merchant=merchant)
        assert run.status == SyncRun.Status.SUCCEEDED and run.data_pushed, run.messages
        items = PushItem.objects.filter(merchant=merchant)
        print(sorted((i.kind, i.status, i.key.split(":", 1)[1]) for i in items))
        if not invoice:
            assert items.count() == 2  # two days from the start date, one journal each
        assert {i.status for i in items} == {PushItem.Status.PUSHED}
        assert all(i.target_id for i in items)
        # Synced again at once: nothing is due, nothing is written twice.
        written = items.count()
        assert sync_run_execute(merchant=merchant) is None
        assert PushItem.objects.filter(merchant=merchant).count() == written
    assert not axe.found, axe.found
    assert phone.errors == []


def choose(page: Any, ident: str, want: str) -> None:
    """Select `want` in the select `ident` with the keyboard only."""
    field = page.locator(f"#{ident}")
    tab_to(page, f"#{ident}")
    page.keyboard.press("Home")
    for _ in range(40):
        if field.input_value() == want:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{want} is not offered in {ident}: {field.inner_text()}")


def next_until(page: Any, expected: str, axe: Any, label: str) -> None:
    """Pick the accounts CHOICES names among the stage's fields, then Next."""
    for key, want in CHOICES[platform_of(page)].items():
        section, name = key.split("-", 1)
        ident = f"f-{section}-accounts-{name}"
        if page.locator(f"#{ident}").count():
            choose(page, ident, want)
    press(page, NEXT)
    if expected not in page.url:
        axe(f"{label}-refused")
    assert expected in page.url, page.inner_text("main")


# What the merchant picks where the flow asks (journal format): sales and
# refunds to the sales account, the clearing accounts apart from the bank.
CHOICES: dict[str, dict[str, str]] = {
    "freeagent": {"sales-sales": "001", "sales-refund": "001", "payments-card": "681",
                  "payments-cash": "681", "payments-onlineCard": "681",
                  "payments-prepaidPayment": "796", "payments-payout": "bank:1",
                  "sales-gratuity": "001", "sales-prepaid": "796", "sales-tax": "796",
                  "fees-paymentFee": "250"},
    "exact": {"sales-sales": "4000", "sales-refund": "4050", "payments-card": "1110",
              "payments-cash": "1000", "payments-onlineCard": "1200",
              "payments-prepaidPayment": "2150", "payments-payout": "1100",
              "sales-gratuity": "4000", "sales-prepaid": "2150", "sales-tax": "2200",
              "fees-paymentFee": "6100"},
    "myob": {"sales-sales": "4000", "sales-refund": "4050", "payments-card": "1110",
             "payments-cash": "1000", "payments-onlineCard": "1200",
             "payments-prepaidPayment": "2150", "payments-payout": "1100",
              "sales-gratuity": "4000", "sales-prepaid": "2150", "sales-tax": "2200",
              "fees-paymentFee": "6100"},
    "sage": {"sales-sales": "4000", "sales-refund": "4050", "payments-card": "1110",
             "payments-cash": "1100", "payments-onlineCard": "1200",
             "payments-prepaidPayment": "2150", "payments-payout": "1000",
             "sales-gratuity": "4000", "sales-prepaid": "2150", "sales-tax": "2200",
             "fees-paymentFee": "6100"},
}  # fmt: skip
CURRENT: dict[str, str] = {}


def platform_of(page: Any) -> str:
    return CURRENT["platform"]


def rate_for(select: Any, pct: str) -> str:
    """The value of the first tax rate offered at `pct` per cent."""
    for option in select.locator("option").all():
        value = option.get_attribute("value")
        if value and option.inner_text().rstrip().endswith(f"({pct} %)"):
            return value
    raise AssertionError(f"no {pct} % rate offered: {select.inner_text()}")


def first_choice(page: Any, ident: str) -> str:
    values = [o.get_attribute("value") for o in page.locator(f"#{ident} option").all()]
    return next(v for v in values if v)


def served(platform: str, double: Any) -> str:
    """The id of the books the double serves (the others are listed only)."""
    if platform == "exact":
        return str(double.division)
    if platform == "myob":
        return str(double.company_file)
    return str(double.business_id)
