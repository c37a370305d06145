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


def _linked_through_the_flow(client, partner, settings, platform_key, double, **link):
    """A merchant (sandbox sales from "Main street") whose `platform_key`
    books (a MYOB double with one company file) are connected through the
    flow's consent screen."""
    from tests.setup_flow.test_oauth_platforms import consent_screen

    settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = double.url
    settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = double.client
    merchant = MerchantFactory(partner=partner, time_zone="Australia/Sydney", country="AU")
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 4, "seed": "locations"},
    )
    books = connection_create(
        merchant=merchant, platform_key=platform_key, source_type="accounting"
    )
    client.get(start_path(merchant, **link))
    _screen, callback = consent_screen(client, books)
    assert client.get(callback).status_code == 302
    books.refresh_from_db()
    assert books.status == "Linked"
    return merchant, books


def test_a_myob_merchant_posts_each_location_under_a_category(client, partner, settings):
    from commerce_sync.core.services import merchant_setup as setup
    from commerce_sync.core.services.connections import connection_target
    from tests.connectors.test_myob import _seed
    from tests.doubles.myob_double import MyobDouble

    with MyobDouble() as myob:
        _seed(myob)
        soho = myob.books.seed_category("SOHO", "Soho")
        myob.books.seed_category("SHUT", "Closed", active=False)
        merchant, books = _linked_through_the_flow(client, partner, settings, "myob", myob)
        assert setup.location_tracking_options(merchant=merchant) == [
            {"category_id": "Category", "category": "Category", "option_id": soho,
             "option": "SOHO Soho", "value": soho}
        ]  # fmt: skip
        page = client.get("/setup/locations")
        assert page.status_code == 200 and page.context["tracks"]
        assert page.context["category_choices"] == [("Category", "Category")]
        assert dict(page.context["grouped"])["Category"] == [(soho, "SOHO Soho")]
        refused = client.post(
            "/setup/locations",
            {"sales.grouping.byLocation": "1", "tracking.category": "Category"},
        )
        assert refused.status_code == 400
        assert "Main street: choose its option of Category" in refused.content.decode()
        stranger = "6f8e9c1a-7b2d-4c3e-9f10-112233445566"
        wrong = client.post(
            "/setup/locations",
            {"sales.grouping.byLocation": "1", "tracking.category": "Category",
             "tracking.MAIN": stranger},
        )  # fmt: skip
        assert f"{stranger} is not an option of Category" in wrong.content.decode()
        books.refresh_from_db()
        assert "categories" not in books.settings
        saved = client.post(
            "/setup/locations",
            {"sales.grouping.byLocation": "1", "tracking.category": "Category",
             "tracking.MAIN": soho},
        )  # fmt: skip
        assert saved["Location"] == "/setup/stage/sales"
        books.refresh_from_db()
        assert books.settings["categories"] == {"MAIN": soho}
        assert setup.location_tracking_get(merchant=merchant) == {
            "category": "Category",
            "options": {"MAIN": soho},
        }
        assert AuditLog.objects.filter(
            action="connection.settings_update", changes={"categories": {"MAIN": soho}}
        ).exists()
        # The sync's target posts Main street's documents under Soho.
        assert connection_target(connection=books).categories == {"MAIN": soho}
        again = client.get("/setup/locations")
        assert (again.context["category"], again.context["rows"][0]["value"]) == ("Category", soho)
        # No tracking: the setting goes.
        client.post("/setup/locations", {"sales.grouping.byLocation": "1"})
        books.refresh_from_db()
        assert "categories" not in books.settings
        assert connection_target(connection=books).categories is None
        assert myob.violations == []


def test_the_myob_locations_page_is_in_french(client, partner, settings):
    from tests.connectors.test_myob import _seed
    from tests.doubles.myob_double import MyobDouble

    with MyobDouble() as myob:
        _seed(myob)
        myob.books.seed_category("SOHO", "Soho")
        _linked_through_the_flow(client, partner, settings, "myob", myob, locale="fr-fr")
        page = client.get("/setup/locations")
        body = page.content.decode()
        assert '<option value="Category">Catégorie</option>' in body
        assert '<optgroup label="Catégorie">' in body
        refused = client.post(
            "/setup/locations",
            {"sales.grouping.byLocation": "1", "tracking.category": "Category"},
        )
        assert "Catégorie" in refused.content.decode()


def test_an_exact_merchant_posts_each_location_under_a_cost_centre(partner, settings):
    from commerce_sync.core.services import merchant_setup as setup
    from commerce_sync.core.services.connections import connection_target
    from tests.connectors.test_exact import _seed
    from tests.doubles.exact_double import ExactDouble

    merchant = MerchantFactory(partner=partner, country="NL")
    with ExactDouble() as exact:
        _seed(exact)
        exact.books.seed_cost_centre("100", "Damrak")
        exact.books.seed_cost_centre("900", "Closed", active=False)
        settings.EXACT_BASE_URL = exact.url
        books = connection_create(
            merchant=merchant,
            platform_key="exact",
            source_type="accounting",
            settings={"division": exact.division, "host": "nl"},
            credentials={"access_token": exact.token, "refresh_token": exact.refresh_token,
                         "expires_at": "2099-01-01T00:00:00+00:00"},
            status="Linked",
        )  # fmt: skip
        options = setup.location_tracking_options(merchant=merchant)
        assert options == [
            {"category_id": "CostCenter", "category": "CostCenter", "option_id": "100",
             "option": "100 Damrak", "value": "100"}
        ]  # fmt: skip
        with pytest.raises(ValueError, match="900 is not an option of CostCenter"):
            setup.location_tracking_set(
                merchant=merchant, category="CostCenter", options={"MAIN": "900"}
            )
        saved = setup.location_tracking_set(
            merchant=merchant, category="CostCenter", options={"MAIN": "100"}
        )
        assert saved == {"category": "CostCenter", "options": {"MAIN": "100"}}
        books.refresh_from_db()
        assert books.settings["cost_centres"] == {"MAIN": "100"}
        assert connection_target(connection=books).cost_centres == {"MAIN": "100"}
        setup.location_tracking_set(merchant=merchant, category="", options={})
        books.refresh_from_db()
        assert "cost_centres" not in books.settings
        assert exact.violations == []
