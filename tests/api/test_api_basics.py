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
    # The scheme is case-insensitive (RFC 9110 section 11.1), as some clients send it.
    assert push(client, merchant.pk, "b" + basic(key)[1:], records).status_code == 200
    assert push(client, merchant.pk, "BASIC" + basic(key)[5:], records).status_code == 200
    assert push(client, merchant.pk, f"bearer {key}", records).status_code == 200
    assert push(client, merchant.pk, f"BEARER {key}", records).status_code == 200
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


def post_json(client, key, path, body, **headers):
    import json

    return client.post(
        "/api/v1" + path,
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(key),
        **headers,
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/meta/companies/{id}/sync/commerce/historic",
            {"dateRange": {"start": "0001-01-01T00:00:00Z", "finish": "2026-01-02T00:00:00Z"}},
            "dateRange.start",
        ),
        (
            "/meta/companies/{id}/sync/commerce/historic",
            {"dateRange": {"start": "2020-01-01T00:00:00Z", "finish": "9999-12-31T23:00:00-05:00"}},
            "dateRange.finish",
        ),
        ("/companies/{id}/sync/commerce/latest", {"syncTo": "0001-01-01T00:00:00Z"}, "syncTo"),
        (
            "/meta/companies/{id}/sync/commerce/historic",
            {"dateRange": {"start": "2020-01-01T00:00:00Z", "finish": "2022-01-01T00:00:00Z"}},
            "dateRange",
        ),
    ],
)
def test_dates_out_of_range_and_overlong_ranges_are_400s(client, demo_key, path, body, field):
    from commerce_sync.core.models import SyncRun

    merchant, key = demo_key
    runs = SyncRun.objects.count()
    response = post_json(client, key, path.format(id=merchant.pk), body)
    answer = response.json()
    assert response.status_code == 400, answer
    assert [item["itemId"] for item in answer["validation"]["errors"]] == [field]
    assert SyncRun.objects.count() == runs


def test_a_far_date_in_a_query_is_a_400(client, partner_key):
    _, key = partner_key
    response = client.get(
        "/api/v1/companies",
        {"query": "createdDate>9999-12-31T23:00:00-05:00"},
        HTTP_AUTHORIZATION=basic(key),
    )
    assert response.status_code == 400 and "out of range" in response.json()["error"]


def test_deep_and_oversized_bodies_are_4xx_error_messages(client, partner_key, settings):
    _, key = partner_key
    deep = post_json(client, key, "/companies", "[" * 100_000 + "]" * 100_000)
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["error"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    big = post_json(client, key, "/companies", {"name": "x" * 1_200_000})
    assert big.status_code == 413 and big.json()["statusCode"] == 413


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/nowhere", "/api/v1/companies/"])
def test_unknown_api_paths_are_json_404s(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["statusCode"] == 404


def test_head_on_the_start_url_creates_nothing(client, partner_key):
    from commerce_sync.core.models import Merchant

    _, key = partner_key
    response = client.head(
        "/api/v1/config/sync/commerce/sandbox/beancount/start",
        {"merchantIdentifier": "head-made"},
        HTTP_AUTHORIZATION=basic(key),
    )
    assert response.status_code == 405
    assert not Merchant.objects.filter(external_id="head-made").exists()


def test_stored_idempotent_answers_are_encrypted_at_rest(client, partner_key):
    from django.db import connection

    _, key = partner_key
    marker = "Marker Bakery 7f3a"
    first = post_json(client, key, "/companies", {"name": marker}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post_json(client, key, "/companies", {"name": marker}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body FROM idempotency_idempotencykey")
        (raw,) = cursor.fetchone()
    assert marker not in raw


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00", "9999-12-31T00:00:00"])
def test_a_schedule_starting_at_a_far_date_is_refused(client, demo_key, start):
    from commerce_sync.core.models import SyncConfiguration

    merchant, key = demo_key
    current = client.get(
        f"/api/v1/config/companies/{merchant.pk}/sync/commerce", HTTP_AUTHORIZATION=basic(key)
    ).json()
    version = SyncConfiguration.objects.get(merchant=merchant).version
    body = {"configuration": current["configuration"], "schedule": {"startDate": start}}
    response = post_json(client, key, f"/config/companies/{merchant.pk}/sync/commerce", body)
    answer = response.json()
    assert response.status_code == 400, answer
    assert "schedule.startDate" in [item["itemId"] for item in answer["validation"]["errors"]]
    assert SyncConfiguration.objects.get(merchant=merchant).version == version
