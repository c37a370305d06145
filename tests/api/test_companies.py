"""Companies through the partner API: Codat's list (paging, ordering, the
query language) and create, and our get/update/delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from commerce_sync.core.models import AuditLog, Merchant, PartnerSyncFlowSettings
from tests.api.codat_sync_schema import assert_codat, assert_error, assert_sdk_reads, partner_api
from tests.factories import (
    ConnectionFactory,
    MerchantFactory,
    PartnerFactory,
    PushItemFactory,
    SyncRunFactory,
)


@pytest.fixture
def api(client, partner):
    return partner_api(client, partner)


def named(partner, *names: str, start: datetime | None = None) -> list[Merchant]:
    """Merchants of `partner` called `names`, created a day apart in that order."""
    start = start or datetime(2025, 1, 1, 12, tzinfo=UTC)
    return [
        MerchantFactory(partner=partner, name=name, created_at=start.replace(day=1 + index))
        for index, name in enumerate(names)
    ]


def names_of(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [company["name"] for company in response.json()["results"]]


# -- create, get, update, delete --


def test_create_company_answers_codats_company_and_stores_a_merchant(api, partner):
    response = api("post", "/companies", {"name": "Bank of Dave", "description": "early access"})
    assert response.status_code == 200
    body = response.json()
    assert_codat("Company", body)
    company = assert_sdk_reads("Company", body)
    assert company.name == "Bank of Dave" and company.description == "early access"
    assert body["dataConnections"] == [] and body["redirect"].endswith("/setup/")
    assert "lastSync" not in body
    merchant = Merchant.objects.get(pk=body["id"])
    assert merchant.partner == partner and merchant.description == "early access"
    # Defaults from the settings when the partner set none.
    assert (merchant.country, merchant.currency, merchant.time_zone) == (
        "GB",
        "GBP",
        "Europe/London",
    )
    assert AuditLog.objects.filter(action="merchant.create", object_id=str(merchant.pk)).exists()


def test_create_company_takes_the_partners_defaults_then_explicit_values(api, partner):
    PartnerSyncFlowSettings.objects.create(
        partner=partner,
        merchant_defaults={"country": "FR", "currency": "EUR", "timeZone": "Europe/Paris"},
    )
    body = api("post", "/companies", {"name": "Café"}).json()
    assert (body["country"], body["currency"], body["timeZone"]) == ("FR", "EUR", "Europe/Paris")
    body = api(
        "post",
        "/companies",
        {
            "name": "Shop",
            "country": "US",
            "currency": "USD",
            "timeZone": "America/New_York",
            "merchantIdentifier": "shop-1",
            "tags": {"region": "us"},
        },
    ).json()
    assert (body["country"], body["currency"], body["timeZone"]) == (
        "US",
        "USD",
        "America/New_York",
    )
    assert body["merchantIdentifier"] == "shop-1" and body["tags"] == {"region": "us"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "currency": "pounds"}, "currency"),
        ({"name": "A", "country": "gb"}, "country"),
        ({"name": "A", "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"name": "A", "timeZone": "Europe/London" * 400}, "timeZone"),  # was a 500
        ({"name": "A", "tags": {"": "x"}}, "tags"),
        ({"name": "A", "tags": {str(n): "x" for n in range(11)}}, "tags"),
        ({"name": "A", "colour": "red"}, "colour"),  # never silently dropped
    ],
)
def test_create_company_refuses_bad_bodies_naming_the_field(api, body, field):
    assert_error(api("post", "/companies", body), 400, field=field)
    assert not Merchant.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "A", "country": "XX"}, "country", "not an ISO 3166-1 alpha-2 country code"),
        ({"name": "A", "country": "UK"}, "country", "not an ISO 3166-1 alpha-2 country code"),
        ({"name": "A", "currency": "ABC"}, "currency", "not an ISO 4217 currency code"),
        ({"name": "A", "currency": "XYZ"}, "currency", "not an ISO 4217 currency code"),
    ],
)
def test_unassigned_country_and_currency_codes_are_refused(api, partner, body, field, words):
    error = assert_error(api("post", "/companies", body), 400, field=field)
    assert any(words in item["message"] for item in error["validation"]["errors"]), error
    assert not Merchant.objects.exists()
    merchant = MerchantFactory(partner=partner)
    error = assert_error(api("put", f"/companies/{merchant.pk}", body), 400, field=field)
    merchant.refresh_from_db()
    assert (merchant.country, merchant.currency) != (body.get("country"), body.get("currency"))


def test_real_codes_are_accepted(api):
    body = api("post", "/companies", {"name": "A", "country": "JP", "currency": "JPY"}).json()
    assert (body["country"], body["currency"]) == ("JP", "JPY")


def test_merchant_identifiers_are_compared_exactly_case_included(api, partner):
    """Codat treats the partner's id as an opaque string (documented on the
    field): SHOP-1 is not shop-1."""
    MerchantFactory(partner=partner, external_id="shop-1")
    response = api("post", "/companies", {"name": "B", "merchantIdentifier": "SHOP-1"})
    assert response.status_code == 200
    assert Merchant.objects.filter(partner=partner, external_id__iexact="shop-1").count() == 2


def test_create_company_refuses_a_merchant_identifier_already_used(api, partner):
    MerchantFactory(partner=partner, external_id="shop-1")
    assert_error(
        api("post", "/companies", {"name": "A", "merchantIdentifier": "shop-1"}),
        400,
        field="merchantIdentifier",
    )
    # Another partner's identifiers are its own business.
    MerchantFactory(partner=PartnerFactory(), external_id="shop-2")
    assert (
        api("post", "/companies", {"name": "B", "merchantIdentifier": "shop-2"}).status_code == 200
    )


def test_get_update_and_delete_a_company(api, partner):
    merchant = MerchantFactory(partner=partner, name="Old")
    ConnectionFactory(merchant=merchant)
    body = api("get", f"/companies/{merchant.pk}").json()
    assert_codat("Company", body)
    assert body["name"] == "Old" and len(body["dataConnections"]) == 1
    assert_codat("Connection", body["dataConnections"][0])

    response = api("put", f"/companies/{merchant.pk}", {"name": "New", "description": "d"})
    assert response.status_code == 200
    assert response.json()["name"] == "New" and response.json()["description"] == "d"
    merchant.refresh_from_db()
    assert (merchant.name, merchant.description, merchant.currency) == ("New", "d", "GBP")
    audit = AuditLog.objects.get(action="merchant.update")
    assert audit.changes["name"] == {"from": "Old", "to": "New"}

    assert_error(api("put", f"/companies/{merchant.pk}", {"description": "x"}), 400, field="name")
    assert_error(
        api("put", f"/companies/{merchant.pk}", {"name": "N", "merchantIdentifier": "z"}),
        400,
        field="merchantIdentifier",
    )

    assert api("delete", f"/companies/{merchant.pk}").status_code == 204
    assert not Merchant.objects.filter(pk=merchant.pk).exists()
    assert AuditLog.objects.filter(action="merchant.delete", object_id=str(merchant.pk)).exists()
    assert_error(api("get", f"/companies/{merchant.pk}"), 404)


def test_delete_refuses_a_company_with_sync_history(api, partner):
    synced = MerchantFactory(partner=partner)
    SyncRunFactory(merchant=synced)
    assert_error(api("delete", f"/companies/{synced.pk}"), 409)
    pushed = MerchantFactory(partner=partner)
    PushItemFactory(sync_run=SyncRunFactory(merchant=pushed))
    assert_error(api("delete", f"/companies/{pushed.pk}"), 409)
    assert Merchant.objects.filter(pk__in=[synced.pk, pushed.pk]).count() == 2


def test_unknown_and_malformed_company_ids_are_404(api):
    assert_error(api("get", "/companies/846ed55c-974b-4392-a1f1-87b6fdbf3c5e"), 404)
    assert_error(api("get", "/companies/not-a-uuid"), 404)


def test_last_sync_is_the_latest_finished_run(api, partner):
    merchant = MerchantFactory(partner=partner)
    SyncRunFactory(merchant=merchant, finished_at=datetime(2025, 2, 1, 4, tzinfo=UTC))
    SyncRunFactory(merchant=merchant, finished_at=datetime(2025, 2, 2, 4, 30, tzinfo=UTC))
    body = api("get", f"/companies/{merchant.pk}").json()
    assert body["lastSync"] == "2025-02-02T04:30:00Z"


# -- list: paging and ordering --


def test_list_is_codats_paged_companies(api, partner):
    named(partner, "A", "B", "C", "D", "E")
    MerchantFactory(partner=PartnerFactory(), name="Z")  # another partner's: never listed
    response = api("get", "/companies?page=2&pageSize=2")
    body = response.json()
    assert_codat("Companies", body)
    assert_sdk_reads("Companies", body)
    assert [c["name"] for c in body["results"]] == ["C", "D"]
    assert (body["pageNumber"], body["pageSize"], body["totalResults"]) == (2, 2, 5)
    links = body["_links"]
    assert links["self"]["href"] == "/companies"
    assert links["current"]["href"] == "/companies?page=2&pageSize=2"
    assert links["next"]["href"] == "/companies?page=3&pageSize=2"
    assert links["previous"]["href"] == "/companies?page=1&pageSize=2"
    last = api("get", "/companies?page=3&pageSize=2").json()
    assert [c["name"] for c in last["results"]] == ["E"] and "next" not in last["_links"]
    beyond = api("get", "/companies?page=9&pageSize=2").json()
    assert beyond["results"] == [] and beyond["totalResults"] == 5
    default = api("get", "/companies").json()
    assert default["pageNumber"] == 1 and default["pageSize"] == 100
    assert "previous" not in default["_links"] and "next" not in default["_links"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=5001", "pageSize"),
        ("orderBy=colour", "orderBy"),
    ],
)
def test_bad_paging_and_ordering_are_400(api, query, field):
    assert_error(api("get", f"/companies?{query}"), 400, field=field)


def test_page_size_5000_is_allowed(api, partner):
    named(partner, "A")
    assert api("get", "/companies?pageSize=5000").json()["pageSize"] == 5000


def test_order_by(api, partner):
    named(partner, "beta", "Alpha", "gamma")
    assert names_of(api("get", "/companies")) == ["beta", "Alpha", "gamma"]  # oldest first
    assert names_of(api("get", "/companies?orderBy=-createdDate")) == ["gamma", "Alpha", "beta"]
    assert names_of(api("get", "/companies?orderBy=name")) == ["Alpha", "beta", "gamma"]
    assert names_of(api("get", "/companies?orderBy=-name")) == ["gamma", "beta", "Alpha"]


def test_list_query_count_is_constant(api, partner):
    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert api("get", "/companies").status_code == 200
        return len(captured)

    named(partner, "A")
    queries()  # the key's first request looks it up; later ones find it remembered
    few = queries()
    for merchant in named(partner, "B", "C", "D", "E"):
        ConnectionFactory(merchant=merchant)
        SyncRunFactory(merchant=merchant, finished_at=datetime(2025, 3, 1, tzinfo=UTC))
    assert queries() == few


# -- the query language --


@pytest.fixture
def shops(partner):
    merchants = named(partner, "Corner Café", "Harbour Books", "Café Nero", "Bakery")
    merchants[1].description = "books && maps"
    merchants[1].save()
    return merchants


def query(api, text: str) -> list[str]:
    from urllib.parse import quote

    return names_of(api("get", f"/companies?query={quote(text)}"))


def test_query_equals_and_not_equals(api, shops):
    assert query(api, f"id={shops[1].pk}") == ["Harbour Books"]
    assert query(api, "name=harbour books") == ["Harbour Books"]  # case-insensitive
    assert query(api, "name!=Bakery") == ["Corner Café", "Harbour Books", "Café Nero"]
    assert query(api, f"id!={shops[0].pk}") == ["Harbour Books", "Café Nero", "Bakery"]
    assert query(api, "id=not-a-uuid") == []


def test_query_contains(api, shops):
    assert query(api, "name~café") == ["Corner Café", "Café Nero"]
    assert query(api, 'description~"&&"') == ["Harbour Books"]
    assert query(api, f"id~{str(shops[2].pk)[:8]}") == ["Café Nero"]


def test_query_dates(api, shops):
    # Created 2025-01-01, -02, -03 and -04 at noon UTC.
    assert query(api, "createdDate>2025-01-02") == ["Harbour Books", "Café Nero", "Bakery"]
    assert query(api, "createdDate>2025-01-02T12:00:00Z") == ["Café Nero", "Bakery"]
    assert query(api, "createdDate<2025-01-02") == ["Corner Café"]
    assert query(api, "createdDate>=2025-01-03T12:00:00Z") == ["Café Nero", "Bakery"]
    assert query(api, "createdDate<=2025-01-01T12:00:00") == ["Corner Café"]
    assert query(api, "createdDate=2025-01-03") == ["Café Nero"]  # the whole day
    assert query(api, "createdDate!=2025-01-03") == ["Corner Café", "Harbour Books", "Bakery"]


def test_query_and_or_and_precedence(api, shops):
    assert query(api, "name~café && name~nero") == ["Café Nero"]
    assert query(api, "name=Bakery || name=Café Nero") == ["Café Nero", "Bakery"]
    # && binds tighter: Bakery || (café && corner)
    assert query(api, "name=Bakery || name~café && name~corner") == ["Corner Café", "Bakery"]
    # Grouped, the || comes first: (Bakery || café) && corner
    assert query(api, "{name=Bakery || name~café} && name~corner") == ["Corner Café"]
    assert query(api, "(name=Bakery || name~café) && name~nero") == ["Café Nero"]


def test_query_combines_with_paging_and_ordering(api, shops):
    response = api("get", "/companies?query=name~caf%C3%A9&orderBy=-name&pageSize=1")
    body = response.json()
    assert [c["name"] for c in body["results"]] == ["Corner Café"]
    assert body["totalResults"] == 2
    assert body["_links"]["next"]["href"].startswith("/companies?page=2&pageSize=1&query=")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("colour=red", "could not resolve property 'colour'"),
        ("name", "expected an operator"),
        ("name=", "expected a value"),
        ("=x", "expected a field name"),
        ("name=a &&", "expected a field name"),
        ("{name=a", "expected '}'"),
        ("name=a}", "unexpected '}'"),
        ('name="open', "unterminated"),
        ("name>a", "dates only"),
        ("createdDate~2025", "contains"),
        ("createdDate>yesterday", "not a date"),
    ],
)
def test_a_malformed_query_is_a_400_naming_the_problem(api, shops, text, words):
    from urllib.parse import quote

    body = assert_error(api("get", f"/companies?query={quote(text)}"), 400, field="query")
    assert words in body["error"], body["error"]
    assert "Malformed query" in body["error"]


def test_nul_characters_are_refused_not_a_500(api):
    # PostgreSQL cannot store or compare NUL: refused up front with a 400.
    assert_error(api("get", "/companies?query=name%3Da%00b"), 400, field="query")
    assert_error(
        api("post", "/companies", {"name": "A", "tags": {"a\x00": "b"}}), 400, field="tags"
    )
    assert_error(api("post", "/companies", {"name": "A\x00"}), 400, field="name")
    assert_error(
        api("get", "/config/sync/commerce/sandbox/beancount/start?merchantIdentifier=a%00"),
        400,
        field="merchantIdentifier",
    )
    assert_error(
        api(
            "patch",
            "/sync/commerce/config/ui/text?locale=en-us",
            {"configure-misc-nextButton": {"text": "a\x00"}},
        ),
        400,
        field="configure-misc-nextButton",
    )
    assert not Merchant.objects.exists()
