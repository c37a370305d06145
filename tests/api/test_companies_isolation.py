"""Tenant isolation for every companies / connections / sync-flow endpoint:
partner B's key on partner A's objects gets 404 (as for objects that do not
exist) and changes nothing of A's."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from commerce_sync.core.models import AuditLog, Connection, Merchant, SetupLink
from commerce_sync.core.services.sync_flow import sync_flow_texts, visible_accounts_get
from tests.api.codat_sync_schema import assert_error, partner_api
from tests.factories import ConnectionFactory, MerchantFactory, PartnerFactory


@pytest.fixture
def a(db):
    partner = PartnerFactory(slug="partner-a")
    merchant = MerchantFactory(partner=partner, external_id="shop-a", name="A's shop")
    connection = ConnectionFactory(
        merchant=merchant,
        platform_key="xero",
        source_type="accounting",
        credentials={"refresh_token": "a-secret"},
        settings={"tenant_id": "t"},
    )
    return partner, merchant, connection


@pytest.fixture
def b(client, db):
    partner = PartnerFactory(slug="partner-b")
    call = partner_api(client, partner)
    call.partner = partner
    call.merchant = MerchantFactory(partner=partner, external_id="shop-b")
    return call


def snapshot(partner, merchant):
    merchant = Merchant.objects.get(pk=merchant.pk)
    return {
        "merchant": (merchant.name, merchant.description, merchant.currency, merchant.enabled),
        "connections": sorted(
            (str(c.pk), c.status, c.credentials, c.platform_key)
            for c in Connection.objects.filter(merchant=merchant)
        ),
        "links": SetupLink.objects.filter(merchant=merchant).count(),
        "audit": AuditLog.objects.filter(merchant=merchant).count(),
        "texts": sync_flow_texts(partner=partner, locale="en-us"),
        "visible": visible_accounts_get(partner=partner, platform_key="xero"),
    }


def a_scoped_calls(merchant, connection, b_merchant):
    company = f"/companies/{merchant.pk}"
    conn = f"{company}/connections/{connection.pk}"
    return [
        ("get", company, None),
        ("put", company, {"name": "taken over"}),
        ("delete", company, None),
        ("get", f"{company}/connections", None),
        ("post", f"{company}/connections", {"platformKey": "square"}),
        ("patch", conn, {"status": "Unlinked"}),
        ("put", f"{conn}/authorization", {"refresh_token": "b-token"}),
        # A's connection under B's own company.
        (
            "patch",
            f"/companies/{b_merchant.pk}/connections/{connection.pk}",
            {"status": "Unlinked"},
        ),
        (
            "put",
            f"/companies/{b_merchant.pk}/connections/{connection.pk}/authorization",
            {"k": "v"},
        ),
        ("get", "/clients/partner-a/config/ui/accounts/platform/xero", None),
    ]


@pytest.mark.parametrize("index", range(10))
def test_b_gets_404_on_as_objects_and_changes_nothing(a, b, index):
    partner, merchant, connection = a
    method, path, body = a_scoped_calls(merchant, connection, b.merchant)[index]
    before = snapshot(partner, merchant)
    assert_error(b(method, path, body), 404)
    assert snapshot(partner, merchant) == before


def test_b_lists_and_queries_only_its_own_companies(a, b):
    _, merchant, _ = a
    body = b("get", "/companies").json()
    assert [c["id"] for c in body["results"]] == [str(b.merchant.pk)]
    assert b("get", "/companies?query=" + quote(f"id={merchant.pk}")).json()["results"] == []
    assert b("get", "/companies?query=" + quote("name~shop")).json()["totalResults"] == 0


def test_what_b_writes_stays_bs(a, b):
    partner, merchant, _ = a
    before = snapshot(partner, merchant)
    assert (
        b("post", "/companies", {"name": "B2", "merchantIdentifier": "shop-a"}).status_code == 200
    )
    assert (
        b(
            "patch",
            "/sync/commerce/config/ui/text?locale=en-us",
            {"configure-misc-nextButton": {"text": "B"}},
        ).status_code
        == 200
    )
    assert (
        b(
            "post", "/sync/commerce/config/ui/accounts/platform/xero", {"visibleAccounts": []}
        ).status_code
        == 200
    )
    # The start URL with A's identifiers makes or finds B's merchant, never A's.
    for identifier in ("shop-a", str(merchant.pk)):
        response = b(
            "get", f"/config/sync/commerce/sandbox/xero/start?merchantIdentifier={identifier}"
        )
        assert response.status_code == 200
    assert SetupLink.objects.filter(merchant__partner=b.partner).count() == 2
    assert snapshot(partner, merchant) == before
    assert Merchant.objects.filter(partner=partner).count() == 1
