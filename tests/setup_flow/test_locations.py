"""The Sales stage's Locations page: one document per location, and for a
Xero merchant the tracking option of each location (saved on the
connection, audited), refused with a named fix when incomplete."""

from __future__ import annotations

from typing import Any

import pytest

from commerce_sync.core.models import AuditLog
from commerce_sync.core.services.connections import connection_create
from tests.connectors.test_xero import uk_books_tracking
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import new_merchant, start_path
from tests.setup_flow.test_oauth import consent, xero_double

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def test_a_xero_merchant_tracks_each_location(client, partner, settings):
    merchant = MerchantFactory(partner=partner, time_zone="Europe/London")
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 4, "seed": "locations"},
    )
    ledger = connection_create(merchant=merchant, platform_key="xero", source_type="accounting")
    with xero_double(settings) as xero:
        xero.books.tracking_categories = uk_books_tracking()  # Location: Soho, Leeds
        client.get(start_path(merchant))
        callback, _query = consent(client, ledger)
        assert client.get(callback).status_code == 302
        sales = client.get("/setup/stage/sales").content.decode()
        assert 'href="/setup/locations"' in sales and "1 location" in sales
        page = client.get("/setup/locations")
        assert page.status_code == 200
        assert [r["label"] for r in page.context["rows"]] == ["Main street"]
        assert page.context["categories"] == ["Location"]
        # Tracking without one document per location, or without an option: refused.
        refused = client.post("/setup/locations", {"tracking.category": "Location"})
        body = refused.content.decode()
        assert refused.status_code == 400
        assert "tick “One document per location”" in body
        assert "Main street: choose its option of Location" in body
        wrong = client.post(
            "/setup/locations",
            {
                "sales.grouping.byLocation": "1",
                "tracking.category": "Location",
                "tracking.MAIN": "Mayfair",
            },
        )
        assert "Mayfair is not an option of Location" in wrong.content.decode()
        saved = client.post(
            "/setup/locations",
            {
                "sales.grouping.byLocation": "1",
                "tracking.category": "Location",
                "tracking.MAIN": "Soho",
            },
        )
        assert saved["Location"] == "/setup/stage/sales"
        ledger.refresh_from_db()
        assert ledger.settings["tracking"] == {"category": "Location", "options": {"MAIN": "Soho"}}
        assert AuditLog.objects.filter(
            actor="merchant", action="connection.settings_update"
        ).exists()
        assert client.get("/setup/stage/sales").context["by_location"]
        # No tracking: the setting is removed.
        client.post("/setup/locations", {"sales.grouping.byLocation": "1"})
        ledger.refresh_from_db()
        assert "tracking" not in ledger.settings


def test_a_ledger_merchant_chooses_documents_per_location(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    page = client.get("/setup/locations")
    assert page.status_code == 200 and not page.context["tracks"]
    assert "does not track locations from here" in page.content.decode()
    client.post("/setup/locations", {"sales.grouping.byLocation": "1"})
    assert client.get("/setup/stage/sales").context["by_location"]


def test_an_invitee_to_the_sales_stage_may_open_locations(client, partner: Any):
    from commerce_sync.core.services.setup_links import setup_link_issue

    merchant = new_merchant(partner)
    code = setup_link_issue(merchant=merchant, actor="t", stage="fees").code
    client.get(f"/setup/start/{code}")
    assert client.get("/setup/locations").status_code == 403


def test_a_quickbooks_merchant_tracks_locations_by_department_or_class(client, partner, settings):
    from tests.doubles.consent import IntuitOAuthDouble
    from tests.doubles.quickbooks_double import QuickBooksDouble
    from tests.setup_flow.test_oauth_platforms import consent_screen

    merchant = MerchantFactory(partner=partner, time_zone="Europe/London")
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 4, "seed": "locations"},
    )
    books = connection_create(
        merchant=merchant, platform_key="quickbooks", source_type="accounting"
    )
    with QuickBooksDouble() as api:
        api.company.add("Department", {"Name": "High Street"}, "D1")
        api.company.add("Class", {"Name": "Shop"}, "C1")
        with IntuitOAuthDouble(access_token=api.token, companies=[(api.realm, "Café")]) as oauth:
            settings.QUICKBOOKS_API_URL = api.url
            settings.QUICKBOOKS_AUTHORIZE_URL = oauth.authorize_url
            settings.QUICKBOOKS_TOKEN_URL = oauth.token_url
            settings.QUICKBOOKS_CLIENT_ID, settings.QUICKBOOKS_CLIENT_SECRET = oauth.client
            client.get(start_path(merchant))
            _screen, callback = consent_screen(client, books)
            client.get(callback)
            page = client.get("/setup/locations")
            assert page.context["categories"] == ["Class", "Department"]
            assert ("D1", "High Street") in dict(page.context["grouped"])["Department"]
            wrong = client.post(
                "/setup/locations",
                {
                    "sales.grouping.byLocation": "1",
                    "tracking.category": "Department",
                    "tracking.MAIN": "C1",
                },
            )
            assert "Shop is not an option of Department" in wrong.content.decode()
            saved = client.post(
                "/setup/locations",
                {
                    "sales.grouping.byLocation": "1",
                    "tracking.category": "Department",
                    "tracking.MAIN": "D1",
                },
            )
            assert saved.status_code == 302
            books.refresh_from_db()
            assert books.settings["locations"] == {"by": "Department", "map": {"MAIN": "D1"}}
            again = client.get("/setup/locations")
            assert again.context["category"] == "Department"
            assert again.context["rows"][0]["value"] == "D1"
