"""The partner API's common ground: Codat's ErrorMessage for every error,
Codat's Basic API-key header and Bearer, the OpenAPI description and its
reference page served without any outside asset."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from commerce_sync.core.services.partners import partner_api_key_create, partner_api_key_revoke
from tests.factories import MerchantFactory, PartnerFactory

pytestmark = pytest.mark.django_db
ERROR_FIELDS = {"statusCode", "service", "error", "correlationId", "canBeRetried"}


def push(client, merchant_id, authorization=None, body="{}", **headers):
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    return client.post(
        f"/api/v1/companies/{merchant_id}/push/commerce-orders",
        data=body,
        content_type="application/json",
        **headers,
    )


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(key.encode()).decode()


@pytest.fixture
def partner_key():
    partner = PartnerFactory()
    _, key = partner_api_key_create(partner=partner, name="test")
    return partner, key


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (None, "credentials were not provided"),
        ("Basic !!!not-base64", "not base64"),
        ("Token abc", "Send Authorization: Basic"),
        ("Bearer wrong-key", "Invalid or revoked API key"),
        (basic("wrong-key"), "Invalid or revoked API key"),
    ],
)
def test_refused_callers_get_a_401_error_message(client, authorization, says):
    response = push(client, "any", authorization)
    body = response.json()
    assert response.status_code == 401 and body["statusCode"] == 401
    assert set(body) >= ERROR_FIELDS and says in body["error"]
    assert response["WWW-Authenticate"].startswith("Basic")


def test_basic_and_bearer_both_carry_the_key_and_a_revoked_key_is_refused(client, partner_key):
    partner, key = partner_key
    merchant = MerchantFactory(partner=partner)
    records = '{"records": []}'
    assert push(client, merchant.pk, basic(key), records).status_code == 200
    assert push(client, merchant.pk, f"Bearer {key}", records).status_code == 200
    assert push(client, merchant.pk, basic(key + ":"), records).status_code == 200
    partner_api_key_revoke(key=partner.api_keys.get(), actor="test")
    assert push(client, merchant.pk, basic(key), records).status_code == 401


def test_another_partners_company_is_a_404_like_none(client, partner_key):
    _, key = partner_key
    theirs = MerchantFactory(partner=PartnerFactory())
    response = push(client, theirs.pk, basic(key), '{"records": []}')
    unknown = push(client, "00000000-0000-0000-0000-000000000000", basic(key), '{"records": []}')
    assert response.status_code == unknown.status_code == 404
    assert response.json()["error"] == unknown.json()["error"]


def test_malformed_json_is_a_400_error_message_with_the_callers_correlation_id(client, partner_key):
    partner, key = partner_key
    merchant = MerchantFactory(partner=partner)
    response = push(client, merchant.pk, basic(key), "{oops", HTTP_X_CORRELATION_ID="abc-123")
    body = response.json()
    assert response.status_code == 400 and body["statusCode"] == 400
    assert body["correlationId"] == "abc-123" and response["X-Correlation-Id"] == "abc-123"
    assert "JSON parse error" in body["error"]


def test_the_openapi_description_validates_and_uses_codats_paths_and_scheme(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(SchemaGenerator().get_schema(request=None, public=True))
    assert schema["servers"] == [{"url": "/api/v1"}]
    assert "/companies/{merchant_id}/push/{data_type}" in schema["paths"]
    assert schema["components"]["securitySchemes"]["auth_header"]["name"] == "Authorization"


def test_the_reference_page_loads_nothing_from_outside(client):
    response = client.get("/api/v1/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "an outside asset"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert assets, "the page names its scripts and styles"
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not served by us"


@pytest.fixture
def demo_key(settings, tmp_path):
    from django.utils import timezone

    from commerce_sync.core.services.demo import demo_seed

    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    demo = demo_seed(days=2, orders_per_day=3, today=timezone.localdate())
    _, key = partner_api_key_create(partner=demo.merchant.partner, name="test")
    return demo.merchant, key


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/companies/{id}/push/commerce-orders", {"records": [], "order": []}, "order"),
        ("/companies/{id}/sync/commerce/latest", {"syncTo": None, "synkTo": "x"}, "synkTo"),
        ("/meta/companies/{id}/sync/commerce/historic", {"daterange": {}}, "daterange"),
        ("/config/companies/{id}/sync/commerce", {"configuration": {}, "colour": 1}, "colour"),
    ],
)
def test_unknown_fields_are_refused_by_name_and_nothing_changes(
    client, demo_key, path, body, field
):
    import json

    from commerce_sync.core.models import SyncConfiguration, SyncRun

    merchant, key = demo_key
    before = (SyncRun.objects.count(), SyncConfiguration.objects.get(merchant=merchant).version)
    response = client.post(
        "/api/v1" + path.format(id=merchant.pk),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(key),
    )
    body = response.json()
    assert response.status_code == 400, body
    assert [item["itemId"] for item in body["validation"]["errors"]] == [field]
    assert "Unknown field" in body["validation"]["errors"][0]["message"]
    assert (
        SyncRun.objects.count(),
        SyncConfiguration.objects.get(merchant=merchant).version,
    ) == before


def test_a_body_that_is_not_an_object_is_refused(client, demo_key):
    merchant, key = demo_key
    response = client.post(
        f"/api/v1/companies/{merchant.pk}/sync/commerce/latest",
        data="[1, 2]",
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(key),
    )
    assert response.status_code == 400 and "JSON object" in response.json()["error"]
