"""The partner API's per-request costs kept low without losing correctness:
rate limits counted by GCRA in the database or Redis (exact under
concurrency), and accepted API keys remembered briefly (revocation effective
at once in the revoking process, within PARTNER_API_KEY_CACHE_SECONDS in
the others)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from commerce_sync.core import selectors
from commerce_sync.core.models import PartnerApiKey, RateLimitBucket
from commerce_sync.core.services import rate_limits
from commerce_sync.core.services.partners import partner_api_key_create, partner_api_key_revoke
from commerce_sync.core.services.rate_limits import Rate, rate_limit_take, rate_parse
from tests.api.helpers import Api, assert_error
from tests.factories import MerchantFactory, PartnerFactory, SyncRunFactory

REDIS_URL = "redis://127.0.0.1:6379/15"


def test_rates_parse_and_bad_ones_are_named():
    assert rate_parse("600/min") == Rate(600, 60.0)
    assert rate_parse("5/s") == Rate(5, 1.0)
    assert rate_parse("10 / hours") == Rate(10, 3600.0)
    assert rate_parse("1000/day") == Rate(1000, 86400.0)
    for bad in ("600", "0/min", "5/fortnight", "x/min"):
        with pytest.raises(ValueError, match="not a rate"):
            rate_parse(bad)


@pytest.fixture
def clock(monkeypatch):
    """The database store's clock, moved by hand."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(rate_limits.time, "time", lambda: now[0])
    return now


def test_database_store_allows_a_burst_then_one_per_interval(db, settings, clock):
    settings.RATE_LIMIT_REDIS_URL = ""
    rate = Rate(3, 60.0)  # 3 at once, then one every 20 s
    assert [rate_limit_take(key="k", rate=rate).allowed for _ in range(3)] == [True] * 3
    refused = rate_limit_take(key="k", rate=rate)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(20.0)
    assert rate_limit_take(key="other", rate=rate).allowed  # keys are independent
    clock[0] += 19.0
    assert not rate_limit_take(key="k", rate=rate).allowed
    clock[0] += 1.0
    assert rate_limit_take(key="k", rate=rate).allowed
    assert not rate_limit_take(key="k", rate=rate).allowed
    clock[0] += 60.0  # a full period idle: the whole burst again, not more
    assert [rate_limit_take(key="k", rate=rate).allowed for _ in range(4)] == [True] * 3 + [False]
    assert RateLimitBucket.objects.count() == 2  # one row per key, updated in place


@pytest.mark.django_db(transaction=True)
def test_database_store_is_exact_when_processes_race(settings):
    """Eight threads (eight database connections) take 40 slots of a limit
    of 25: exactly 25 are allowed."""
    settings.RATE_LIMIT_REDIS_URL = ""
    rate = Rate(25, 3600.0)
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(5):
                allowed.append(rate_limit_take(key="race", rate=rate).allowed)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 40
    assert allowed.count(True) == 25


@pytest.fixture
def redis_url():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_redis_store_allows_a_burst_then_refuses_with_the_wait(settings, redis_url):
    settings.RATE_LIMIT_REDIS_URL = redis_url
    key = f"test-{uuid.uuid4()}"
    rate = Rate(3, 60.0)
    assert [rate_limit_take(key=key, rate=rate).allowed for _ in range(3)] == [True] * 3
    refused = rate_limit_take(key=key, rate=rate)
    assert not refused.allowed
    assert 19.0 < refused.retry_after <= 20.0
    assert rate_limit_take(key=f"{key}-other", rate=rate).allowed


def test_redis_store_is_exact_when_processes_race(settings, redis_url):
    settings.RATE_LIMIT_REDIS_URL = redis_url
    key = f"race-{uuid.uuid4()}"
    rate = Rate(25, 3600.0)
    allowed: list[bool] = []

    def worker() -> None:
        allowed.extend(rate_limit_take(key=key, rate=rate).allowed for _ in range(5))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 25


def test_an_unreachable_redis_lets_requests_through_and_warns(settings, caplog):
    pytest.importorskip("redis")
    settings.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    assert rate_limit_take(key="k", rate=Rate(1, 60.0)).allowed
    assert "Redis unavailable" in caplog.text


def test_the_api_throttles_through_redis_too(client, db, settings, redis_url):
    settings.RATE_LIMIT_REDIS_URL = redis_url
    settings.PARTNER_API_RATE = "2/min"
    partner = PartnerFactory()
    merchant = MerchantFactory(partner=partner)
    _, key = partner_api_key_create(partner=partner, name="k")
    api = Api(client, key)
    path = f"/companies/{merchant.pk}/sync/commerce/syncs/list/status"
    assert [api.get(path).status_code for _ in range(2)] == [200, 200]
    throttled = api.get(path)
    assert_error(throttled, 429)
    assert 1 <= int(throttled["Retry-After"]) <= 30
    assert not RateLimitBucket.objects.exists()  # nothing counted in the database


@pytest.fixture
def keyed(client, db, settings):
    settings.PARTNER_API_KEY_CACHE_SECONDS = 10
    selectors.api_key_cache_clear()
    partner = PartnerFactory()
    merchant = MerchantFactory(partner=partner)
    SyncRunFactory(merchant=merchant)
    record, key = partner_api_key_create(partner=partner, name="k")
    path = f"/companies/{merchant.pk}/sync/commerce/syncs/list/status"
    yield Api(client, key), record, path
    selectors.api_key_cache_clear()


def test_a_remembered_key_costs_no_query(keyed, django_assert_num_queries, settings):
    api, _record, path = keyed
    settings.RATE_LIMIT_REDIS_URL = ""
    api.get(path)
    # The rate limit's upsert and the page: nothing for the key.
    with django_assert_num_queries(2):
        assert api.get(path).status_code == 200


def test_a_key_revoked_in_this_process_is_refused_at_once(keyed):
    api, record, path = keyed
    assert api.get(path).status_code == 200
    partner_api_key_revoke(key=record, actor="test")
    assert_error(api.get(path), 401)


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_seconds(keyed, monkeypatch):
    """Another process revoked it (no signal here): refused once the
    remembered entry is PARTNER_API_KEY_CACHE_SECONDS old."""
    api, record, path = keyed
    now = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: now[0])
    assert api.get(path).status_code == 200
    PartnerApiKey.objects.filter(pk=record.pk).update(revoked_at=timezone.now())
    now[0] += 9.9
    assert api.get(path).status_code == 200  # still remembered: the documented bound
    now[0] += 0.2
    assert_error(api.get(path), 401)


def test_with_no_cache_every_request_looks_its_key_up(keyed, settings):
    api, record, path = keyed
    settings.PARTNER_API_KEY_CACHE_SECONDS = 0
    assert api.get(path).status_code == 200
    PartnerApiKey.objects.filter(pk=record.pk).update(revoked_at=timezone.now())
    assert_error(api.get(path), 401)


@pytest.mark.parametrize("store", ["database", "redis"])
def test_wrong_keys_from_one_address_are_throttled_before_any_key_is_looked_at(
    client, db, settings, store, request
):
    """PARTNER_API_FAILED_AUTH_RATE per client address: wrong and malformed
    keys are 401s until the budget is spent, then every key from that
    address not already remembered as good is a 429; another address and
    keys that work are not counted."""
    settings.RATE_LIMIT_REDIS_URL = request.getfixturevalue("redis_url") if store == "redis" else ""
    settings.PARTNER_API_FAILED_AUTH_RATE = "3/hour"
    partner = PartnerFactory()
    _, key = partner_api_key_create(partner=partner, name="k")
    _, fresh = partner_api_key_create(partner=partner, name="fresh")  # never used before
    good, wrong = Api(client, key), Api(client, "cs_not-a-key")
    assert [good.get("/companies").status_code for _ in range(5)] == [200] * 5  # never counted
    assert_error(wrong.get("/companies"), 401)
    malformed = client.get("/api/v1/companies", HTTP_AUTHORIZATION="Basic %%%")
    assert_error(malformed, 401)
    assert_error(wrong.get("/companies"), 401)  # the third: the budget is spent
    throttled = wrong.get("/companies")
    assert_error(throttled, 429)
    assert int(throttled["Retry-After"]) >= 1000  # one slot refills every 20 minutes
    # A right key this process has not seen yet is refused too (a guess that
    # lands must not show); one it remembers as good costs nothing and works.
    assert_error(Api(client, fresh).get("/companies"), 429)
    assert good.get("/companies").status_code == 200
    elsewhere = client.get(
        "/api/v1/companies",
        REMOTE_ADDR="192.0.2.7",
        HTTP_AUTHORIZATION=good._headers(fresh, None)["HTTP_AUTHORIZATION"],
    )
    assert elsewhere.status_code == 200
