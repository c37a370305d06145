"""A MYOB merchant in a real browser (Debian's Chromium through Playwright)
connects its company file and, on the Sales stage's Locations page, posts
its location's documents under a MYOB category, in French; axe-core checks
each page (tests/browser/test_setup_flow_browser.py's `Checker`)."""

from __future__ import annotations

import pytest

from commerce_sync.core.models import AuditLog, Connection
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.core.services.setup_links import setup_link_issue
from tests.browser.test_setup_flow_browser import Checker, page  # noqa: F401 - the fixture
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_myob_merchant_chooses_a_category_for_its_location_in_french(live_server, page, settings):  # noqa: F811
    from tests.connectors.test_myob import _seed
    from tests.doubles.myob_double import MyobDouble

    with MyobDouble() as myob:
        _seed(myob)
        soho = myob.books.seed_category("SOHO", "Soho")
        myob.books.seed_category("SHUT", "Fermé", active=False)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        merchant = merchant_create(
            partner=PartnerFactory(),
            name="Café de Sydney",
            country="AU",
            currency="AUD",
            time_zone="Australia/Sydney",
        )
        connection_create(
            merchant=merchant,
            platform_key="sandbox",
            source_type="commerce",
            settings={"orders_per_day": 4, "seed": "locations"},
        )
        connection_create(merchant=merchant, platform_key="myob", source_type="accounting")
        check = Checker(page, "locations-myob-fr-fr")
        code = setup_link_issue(merchant=merchant, actor="partner:test", locale="fr-fr").code
        page.goto(f"{live_server.url}/setup/start/{code}")
        page.click("main button[type=submit]")
        page.click("a[href^='/setup/connect/']")  # MYOB's consent screen (the double)
        if page.locator("button[value=allow]").count():
            page.click("button[value=allow]")
        assert "Connecté" in page.inner_text("main"), page.inner_text("main")
        books = merchant.connections.get(source_type="accounting")
        assert books.status == Connection.Status.LINKED
        page.goto(f"{live_server.url}/setup/locations")
        check("locations")
        assert page.locator("#f-tracking-category option").all_inner_texts() == [
            "— Aucun suivi —",
            "Catégorie",
        ]
        row = page.locator("label", has_text="Main street").get_attribute("for")
        # Only the file's active categories are offered.
        assert page.locator(f"#{row} option").all_inner_texts()[1:] == ["SOHO Soho"]
        # Tracking without one document per location is refused, in French.
        page.select_option("#f-tracking-category", "Category")
        page.select_option(f"#{row}", soho)
        page.click("main .nav-buttons button[type=submit]")
        assert page.locator("#f-tracking-category-error").count() == 1
        assert "/setup/locations" in page.url
        books.refresh_from_db()
        assert "categories" not in books.settings
        check("locations-refused")
        page.check("#f-grouping-location")
        page.select_option("#f-tracking-category", "Category")
        page.select_option(f"#{row}", soho)
        page.click("main .nav-buttons button[type=submit]")
        assert page.url.endswith("/setup/stage/sales"), page.inner_text("main")
        books.refresh_from_db()
        assert books.settings["categories"] == {"MAIN": soho}
        assert AuditLog.objects.filter(
            actor="merchant", action="connection.settings_update", object_id=str(books.pk)
        ).exists()
        page.goto(f"{live_server.url}/setup/locations")
        assert page.locator(f"#{row}").input_value() == soho
        assert page.locator("#f-tracking-category").input_value() == "Category"
        # The browser asks the consent screen's host for its icon: not API traffic.
        taken = myob.harness.take()
        assert [v for v in taken if "GET /favicon.ico " not in v] == [], taken
    assert not check.found, check.found
