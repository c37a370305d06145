"""/api/v1/webhooks: register, list, get, change, delete, rotate the secret,
read the delivery log, redeliver. Secrets only in the answers to create and
rotate; every object scoped to the partner (another's is a 404 and stays
unchanged)."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from commerce_sync.core.keys import api_key_generate
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint
from commerce_sync.webhooks.services import webhook_event_emit
from tests.doubles.webhook_receiver import WebhookReceiver
from tests.factories import PartnerApiKeyFactory, PartnerFactory

BASE = "/api/v1/webhooks"


def client_for(partner) -> APIClient:
    key = api_key_generate()
    PartnerApiKeyFactory(partner=partner, plaintext=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def partner(db):
    return PartnerFactory()


@pytest.fixture
def api(partner) -> APIClient:
    return client_for(partner)


@pytest.fixture
def other(db) -> APIClient:
    return client_for(PartnerFactory())


def create(api: APIClient, url: str, **extra) -> dict:
    response = api.post(BASE, {"url": url, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_create_answers_the_secret_once(api, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    body = create(api, receiver.url, description="ops", eventTypes=["sync.failed"])

    assert body["secret"].startswith("whsec_")
    assert body["url"] == receiver.url and body["eventTypes"] == ["sync.failed"]
    assert body["enabled"] is True and body["description"] == "ops"
    got = api.get(f"{BASE}/{body['id']}")
    listed = api.get(BASE).json()
    assert got.status_code == 200 and "secret" not in got.json()
    assert "secret" not in listed["results"][0]
    for text in (got.content.decode(), str(listed)):
        assert "whsec_" not in text and body["secret"].removeprefix("whsec_") not in text
    assert listed["totalResults"] == 1 and listed["results"][0]["id"] == body["id"]
    assert body["secret"].removeprefix("whsec_") not in caplog.text


def test_bad_input_is_a_400_naming_the_field(api, receiver, settings):
    cases = [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://[::1/x"}, "url"),
        ({"url": "https://example.com/x", "eventTypes": "sync.failed"}, "eventTypes"),
        ({"url": receiver.url, "eventTypes": ["sync.exploded"]}, "eventTypes.0"),
        ({"url": receiver.url, "colour": "red"}, "colour"),
        ({}, "url"),
    ]
    for body, field in cases:
        response = api.post(BASE, body, format="json")
        assert response.status_code == 400, body
        items = response.json()["validation"]["errors"]
        assert field in [i["itemId"] for i in items], (body, items)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = api.post(BASE, {"url": "http://127.0.0.1:8000/x"}, format="json")
    assert response.status_code == 400
    assert "internal address" in response.json()["error"]
    assert not WebhookEndpoint.objects.exists()


def test_list_is_paged(api, receiver):
    ids = [create(api, f"{receiver.url}/{n}")["id"] for n in range(3)]
    page = api.get(BASE, {"page": 2, "pageSize": 2}).json()
    assert page["pageNumber"] == 2 and page["pageSize"] == 2 and page["totalResults"] == 3
    assert [e["id"] for e in page["results"]] == ids[2:]
    assert api.get(BASE, {"pageSize": 0}).status_code == 400
    assert api.get(BASE, {"page": "x"}).status_code == 400
    far = api.get(BASE, {"page": 10**15, "pageSize": 5000})
    assert far.status_code == 200 and far.json()["results"] == []


def test_update_and_delete(api, receiver):
    body = create(api, receiver.url)
    response = api.patch(
        f"{BASE}/{body['id']}", {"enabled": False, "eventTypes": ["sync.completed"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert response.json()["eventTypes"] == ["sync.completed"]
    assert api.patch(f"{BASE}/{body['id']}", {"url": "nope"}, format="json").status_code == 400

    assert api.delete(f"{BASE}/{body['id']}").status_code == 204
    assert api.get(f"{BASE}/{body['id']}").status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_rotate_answers_a_new_secret_that_signs(
    api, partner, receiver, django_capture_on_commit_callbacks
):
    body = create(api, receiver.url)
    rotated = api.post(f"{BASE}/{body['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != body["secret"]

    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(partner=partner, type="sync.completed", data={"syncId": "s"})
    (received,) = receiver.received
    assert Webhook(new).verify(received.body, received.headers)["data"] == {"syncId": "s"}
    Webhook(body["secret"]).verify(received.body, received.headers)  # still valid for 24 h


def test_deliveries_are_listed_and_redelivered(
    api, partner, receiver, django_capture_on_commit_callbacks
):
    body = create(api, receiver.url)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_emit(partner=partner, type="sync.failed", data={"syncId": "s"})

    log = api.get(f"{BASE}/{body['id']}/deliveries").json()
    assert log["totalResults"] == 2
    pending, failed = log["results"]  # newest first
    assert (failed["attempt"], failed["status"], failed["httpStatus"]) == (1, "failed", 500)
    assert failed["eventId"] == event.id and failed["eventType"] == "sync.failed"
    assert failed["error"] == "The receiver answered HTTP 500"
    assert (pending["attempt"], pending["status"]) == (2, "pending")
    assert pending["nextAttemptAt"] is not None

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}/{body['id']}/deliveries/{failed['id']}/redeliver")
    assert response.status_code == 200
    assert response.json()["id"] == pending["id"]  # the pending retry, sent now
    assert WebhookDelivery.objects.get(pk=pending["id"]).status == "succeeded"
    assert len(receiver.received) == 2
    paged = api.get(f"{BASE}/{body['id']}/deliveries", {"pageSize": 1}).json()
    assert len(paged["results"]) == 1 and paged["totalResults"] == 2


def test_another_partners_webhooks_are_404_and_unchanged(
    api, other, partner, receiver, django_capture_on_commit_callbacks
):
    body = create(api, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(partner=partner, type="sync.completed", data={})
    delivery = WebhookDelivery.objects.get()
    endpoint = f"{BASE}/{body['id']}"
    calls = [
        ("get", endpoint, None),
        ("patch", endpoint, {"enabled": False}),
        ("delete", endpoint, None),
        ("post", f"{endpoint}/rotate-secret", None),
        ("get", f"{endpoint}/deliveries", None),
        ("post", f"{endpoint}/deliveries/{delivery.pk}/redeliver", None),
    ]
    before = WebhookEndpoint.objects.get().secrets
    for method, path, data in calls:
        response = getattr(other, method)(path, data, format="json")
        assert response.status_code == 404, (method, path)
        assert response.json()["statusCode"] == 404
    assert other.get(BASE).json()["totalResults"] == 0
    endpoint_row = WebhookEndpoint.objects.get()
    assert endpoint_row.enabled and endpoint_row.secrets == before
    assert WebhookDelivery.objects.count() == 1 and len(receiver.received) == 1
    # Unknown and malformed ids look the same.
    assert api.get(f"{BASE}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get(f"{BASE}/nope").status_code == 404
    assert api.post(f"{endpoint}/deliveries/nope/redeliver").status_code == 404


def test_without_a_key_every_webhook_route_is_401(db):
    anonymous = APIClient()
    for path in (BASE, f"{BASE}/x", f"{BASE}/x/deliveries"):
        assert anonymous.get(path).status_code == 401
    assert anonymous.post(BASE, {"url": "https://example.com"}, format="json").status_code == 401


def test_the_schema_documents_the_webhook_operations(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operations = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    assert {
        "listWebhooks",
        "createWebhook",
        "getWebhook",
        "updateWebhook",
        "deleteWebhook",
        "rotateWebhookSecret",
        "listWebhookDeliveries",
        "redeliverWebhookDelivery",
    } <= operations
