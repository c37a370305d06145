"""Idempotency-Key on every POST (replay, conflict, per partner, lifetime,
one execution under concurrency) and per-partner throttling (429 with
Retry-After)."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from commerce_sync.core.models import SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.idempotency.models import IdempotencyKey
from commerce_sync.idempotency.services import idempotency_keys_purge
from tests.api.helpers import Api, assert_error
from tests.factories import MerchantFactory, PartnerFactory


@pytest.fixture
def demo(db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    cache.clear()
    return demo_seed(days=2, orders_per_day=4, today=timezone.localdate())


@pytest.fixture
def api(client, demo) -> Api:
    _, key = partner_api_key_create(partner=demo.merchant.partner, name="test")
    return Api(client, key)


def config_path(merchant) -> str:
    return f"/config/companies/{merchant.pk}/sync/commerce"


def test_the_same_key_and_body_replays_the_answer_without_doing_it_again(
    api, demo, django_capture_on_commit_callbacks
):
    latest = f"/companies/{demo.merchant.pk}/sync/commerce/latest"
    headers = {"Idempotency-Key": "sync-1"}
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(latest, {}, headers=headers)
        again = api.post(latest, {}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert SyncRun.objects.count() == 1  # not a second run, and not a 5080 either

    # set-configuration likewise: one new version for two calls.
    body = api.get(config_path(demo.merchant)).json()
    one = api.post(config_path(demo.merchant), body, headers={"Idempotency-Key": "cfg"})
    two = api.post(config_path(demo.merchant), body, headers={"Idempotency-Key": "cfg"})
    assert one.status_code == two.status_code == 200
    assert demo.merchant.sync_configuration_versions.count() == 2

    # A refusal is an answer too: replayed as it was.
    bad = {"configuration": []}
    refused = api.post(config_path(demo.merchant), bad, headers={"Idempotency-Key": "bad"})
    replayed = api.post(config_path(demo.merchant), bad, headers={"Idempotency-Key": "bad"})
    assert refused.status_code == replayed.status_code == 400
    assert replayed.json() == refused.json()


def test_the_same_key_with_another_body_is_a_409(api, demo):
    body = api.get(config_path(demo.merchant)).json()
    headers = {"Idempotency-Key": "k-1"}
    assert api.post(config_path(demo.merchant), body, headers=headers).status_code == 200
    other = copy.deepcopy(body)
    other["schedule"]["syncHour"] = 3
    conflict = assert_error(api.post(config_path(demo.merchant), other, headers=headers), 409)
    assert "Idempotency-Key" in conflict["error"]
    # Another endpoint with the same key is another request too.
    latest = f"/companies/{demo.merchant.pk}/sync/commerce/latest"
    assert_error(api.post(latest, body, headers=headers), 409)
    assert demo.merchant.sync_configuration_versions.count() == 2
    assert SyncRun.objects.count() == 0


def test_keys_are_per_partner(api, demo, client):
    partner_b = PartnerFactory()
    merchant_b = MerchantFactory(partner=partner_b)
    _, key_b = partner_api_key_create(partner=partner_b, name="b")
    api_b = Api(client, key_b)
    headers = {"Idempotency-Key": "shared-name"}
    body_a = api.get(config_path(demo.merchant)).json()
    assert api.post(config_path(demo.merchant), body_a, headers=headers).status_code == 200
    # B's request with the same key is B's own: executed, not A's answer.
    body_b = {
        "configuration": {
            "sales": {"accounts": {"sales": {"selectedAccountId": "4000"}}},
        }
    }
    answer_b = api_b.post(config_path(merchant_b), body_b, headers=headers)
    assert answer_b.status_code == 400  # its own validation, not a 409 nor A's 200
    assert answer_b.json()["validation"]["errors"]
    # B's key on A's company: 404, and nothing stored under A's name.
    assert_error(
        api_b.post(config_path(demo.merchant), body_a, headers={"Idempotency-Key": "x"}), 404
    )
    assert IdempotencyKey.objects.filter(partner=demo.merchant.partner).count() == 1


def test_a_key_in_progress_is_refused_and_an_expired_one_is_forgotten(api, demo):
    body = api.get(config_path(demo.merchant)).json()
    headers = {"Idempotency-Key": "busy"}
    assert api.post(config_path(demo.merchant), body, headers=headers).status_code == 200
    record = IdempotencyKey.objects.get(key="busy")
    # A concurrent twin: the row is claimed but unanswered (the unique
    # constraint lets only one request insert it).
    IdempotencyKey.objects.filter(pk=record.pk).update(status_code=None, response_body=None)
    busy = assert_error(api.post(config_path(demo.merchant), body, headers=headers), 409)
    assert "still being handled" in busy["error"]
    assert demo.merchant.sync_configuration_versions.count() == 2
    # After 24 hours the key is forgotten: the request runs again.
    IdempotencyKey.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert api.post(config_path(demo.merchant), body, headers=headers).status_code == 200
    assert demo.merchant.sync_configuration_versions.count() == 3
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_purge() == 1
    assert not IdempotencyKey.objects.exists()


def test_a_bad_key_is_a_400(api, demo):
    response = api.post(
        config_path(demo.merchant), {"configuration": {}}, headers={"Idempotency-Key": "x" * 300}
    )
    assert_error(response, 400)
    assert not IdempotencyKey.objects.exists()


def test_requests_over_the_partners_rate_get_429_with_retry_after(api, demo, client, settings):
    settings.PARTNER_API_RATE = "3/min"
    path = f"/companies/{demo.merchant.pk}/sync/commerce/syncs/list/status"
    for _ in range(3):
        assert api.get(path).status_code == 200
    throttled = api.get(path)
    body = assert_error(throttled, 429)
    assert body["canBeRetried"] == "True"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Another partner has its own allowance.
    partner_b = PartnerFactory()
    merchant_b = MerchantFactory(partner=partner_b)
    _, key_b = partner_api_key_create(partner=partner_b, name="b")
    response = Api(client, key_b).get(f"/companies/{merchant_b.pk}/sync/commerce/syncs/list/status")
    assert response.status_code == 200


def test_sync_requests_have_a_stricter_rate(
    api, demo, settings, django_capture_on_commit_callbacks
):
    settings.PARTNER_API_SYNC_RATE = "1/min"
    latest = f"/companies/{demo.merchant.pk}/sync/commerce/latest"
    with django_capture_on_commit_callbacks(execute=False):
        assert api.post(latest, {}).status_code == 200
        throttled = api.post(latest, {})
    assert_error(throttled, 429)
    assert throttled["Retry-After"]
    assert SyncRun.objects.count() == 1
    # Reads are not counted against the sync rate.
    assert (
        api.get(f"/companies/{demo.merchant.pk}/sync/commerce/syncs/list/status").status_code == 200
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_execute_once(monkeypatch):
    """Two threads, two database connections: the second arrives while the
    first is inside its handler; it is refused and the work is done once."""
    import threading

    from django.db import connections
    from django.test import Client

    from commerce_sync.api import configuration as configuration_api

    cache.clear()
    merchant = MerchantFactory()
    _, key = partner_api_key_create(partner=merchant.partner, name="k")
    inside, release = threading.Event(), threading.Event()
    calls = []
    real = configuration_api.sync_configuration_set

    def slow(**kwargs):
        calls.append(1)
        inside.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(configuration_api, "sync_configuration_set", slow)
    body = {
        "configuration": {
            "sales": {
                "accounts": {
                    "sales": {"selectedAccountId": "4000"},
                    "refund": {"selectedAccountId": "4000"},
                }
            },
            "payments": {
                "accounts": {
                    "card": {"selectedAccountId": "1100"},
                    "payout": {"selectedAccountId": "1200"},
                }
            },
            "fees": {"accounts": {"paymentFee": {"selectedAccountId": "6100"}}},
        }
    }
    answers: dict[str, int] = {}

    def call(name: str) -> None:
        try:
            response = Api(Client(), key).post(
                config_path(merchant), body, headers={"Idempotency-Key": "same"}
            )
            answers[name] = response.status_code
        finally:
            connections.close_all()

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert inside.wait(10)
    call("second")  # while the first is still being handled
    release.set()
    first.join(10)
    assert answers == {"first": 200, "second": 409}
    assert len(calls) == 1
    assert merchant.sync_configuration_versions.count() == 1
