"""Syncs through the partner API: request (latest, historic), enqueue on
django-q2 (inline in tests), poll to completion on the sandbox POS and the
Beancount ledger; refusals as the engine decides; reads in Codat's shapes
with a constant number of queries; another partner sees nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data as bean
from codat_sync_for_commerce.models import shared as sdk
from django.utils import timezone

from commerce_sync.core.models import AuditLog, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.syncs.runs import sync_run_execute
from mapping.periods import local_instant, zone
from tests.api.helpers import Api, assert_error, codat_properties, error_items
from tests.factories import MerchantFactory, PartnerFactory, SyncRunFactory

DAYS = 3


@pytest.fixture
def demo(db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    return demo_seed(days=DAYS, orders_per_day=5, today=timezone.localdate())


@pytest.fixture
def api(client, demo) -> Api:
    _, key = partner_api_key_create(partner=demo.merchant.partner, name="test")
    return Api(client, key)


@pytest.fixture
def other_api(client, db) -> Api:
    """Partner B, with a company of its own."""
    partner = PartnerFactory()
    MerchantFactory(partner=partner)
    _, key = partner_api_key_create(partner=partner, name="b")
    return Api(client, key)


def ledger_transactions(path: str) -> list[bean.Transaction]:
    entries, errors, _ = loader.load_file(path)
    assert errors == []
    return [e for e in entries if isinstance(e, bean.Transaction)]


def company_path(merchant) -> str:
    return f"/companies/{merchant.pk}/sync/commerce"


def test_sync_latest_answers_at_once_then_runs_to_completion(
    api, demo, django_capture_on_commit_callbacks
):
    merchant = demo.merchant
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(company_path(merchant) + "/latest", {})
        # The answer was made before the worker ran: pending, 1000.
        assert response.status_code == 200, response.content
        summary = response.json()
        assert SyncRun.objects.get().status == SyncRun.Status.PENDING
    assert len(callbacks) == 1
    assert set(summary) == codat_properties("SyncSummary")
    assert summary["syncStatusCode"] == 1000 and summary["syncStatus"] == "Pending"
    assert summary["companyId"] == str(merchant.pk)
    assert summary["dataPushed"] is False
    assert summary["dataConnections"] is None
    sdk.SyncSummary.model_validate(summary)  # Codat's client reads it
    run = SyncRun.objects.get(pk=summary["commerceSyncId"])
    assert run.kind == SyncRun.Kind.LATEST
    assert summary["syncDateRangeUtc"]["start"].startswith(
        str(timezone.localdate() - timedelta(days=DAYS))
    )
    assert AuditLog.objects.filter(action="sync_run.request", object_id=str(run.pk)).exists()

    # Polling: the worker has run it.
    by_id = api.get(f"{company_path(merchant)}/syncs/{run.pk}/status")
    assert by_id.status_code == 200
    status = by_id.json()
    assert set(status) == codat_properties("CompanySyncStatus")
    sdk.CompanySyncStatus.model_validate(status)
    assert status == {
        "companyId": str(merchant.pk),
        "syncId": str(run.pk),
        "syncStatusCode": 2000,
        "syncStatus": "Complete",
        "errorMessage": None,
        "syncExceptionMessage": None,
        "syncUtc": status["syncUtc"],
        "dataPushed": True,
    }
    assert len(ledger_transactions(demo.ledger_path)) == DAYS
    for path in ("/syncs/latest/status", "/syncs/lastSuccessful/status"):
        assert api.get(company_path(merchant) + path).json() == status
    listed = api.get(company_path(merchant) + "/syncs/list/status").json()
    assert listed == [status]

    overall = api.get(f"/meta/companies/{merchant.pk}/sync/commerce/status")
    assert overall.status_code == 200
    body = overall.json()
    assert set(body) == codat_properties("SyncStatus")
    sdk.SyncStatus.model_validate(body)
    assert body["commerceSyncId"] == body["syncId"] == str(run.pk)
    assert body["syncStatusCode"] == 2000

    # Synced to the latest sync hour: nothing due (2040), nothing created.
    again = api.post(company_path(merchant) + "/latest", {})
    assert_error(again, 400, detailed=2040)
    assert SyncRun.objects.count() == 1


def test_sync_to_a_date_stops_there(api, demo, django_capture_on_commit_callbacks):
    merchant = demo.merchant
    sync_to = timezone.localdate() - timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(company_path(merchant) + "/latest", {"syncTo": f"{sync_to}T12:00:00"})
    assert response.status_code == 200, response.content
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert len(ledger_transactions(demo.ledger_path)) == DAYS - 1
    # A syncTo in the future is cut to now; no body at all is accepted too.
    with django_capture_on_commit_callbacks(execute=True):
        rest = api.post(company_path(merchant) + "/latest", raw="")
    assert rest.status_code == 200, rest.content
    assert len(ledger_transactions(demo.ledger_path)) == DAYS


def test_a_queued_sync_refuses_another_with_5080(api, demo, django_capture_on_commit_callbacks):
    merchant = demo.merchant
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(company_path(merchant) + "/latest", {})
    assert first.status_code == 200
    body = assert_error(api.post(company_path(merchant) + "/latest", {}), 400, detailed=5080)
    assert first.json()["commerceSyncId"] in body["error"]
    # The scheduler's run is refused the same way, and the engine agrees.
    historic = api.post(
        f"/meta/companies/{merchant.pk}/sync/commerce/historic",
        {"dateRange": {"start": "2020-01-01", "finish": "2020-01-03"}},
    )
    assert_error(historic, 400, detailed=5080)
    assert SyncRun.objects.count() == 1
    # The queued run, executed by its task, ends as any sync does.
    run = SyncRun.objects.get()
    sync_run_execute(merchant=merchant, run=run)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    # A second delivery of the same task does nothing.
    assert sync_run_execute(merchant=merchant, run=run).status_code == 2000
    assert len(ledger_transactions(demo.ledger_path)) == DAYS


def test_historic_range_runs_and_an_overlap_with_a_posted_sync_is_5080(
    api, demo, django_capture_on_commit_callbacks
):
    merchant = demo.merchant
    today = timezone.localdate()
    historic = f"/meta/companies/{merchant.pk}/sync/commerce/historic"
    # Plain dates name days a person picked: both are included (two days).
    before = {"start": str(today - timedelta(days=10)), "finish": str(today - timedelta(days=9))}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(historic, {"dateRange": before})
    assert response.status_code == 200, response.content
    summary = response.json()
    assert summary["syncStatusCode"] == 1000
    run = SyncRun.objects.get(pk=summary["commerceSyncId"])
    assert run.kind == SyncRun.Kind.HISTORIC and run.status == SyncRun.Status.SUCCEEDED
    assert len(ledger_transactions(demo.ledger_path)) == 2

    overlapping = {
        "start": str(today - timedelta(days=9)),
        "finish": str(today - timedelta(days=7)),
    }
    body = assert_error(api.post(historic, {"dateRange": overlapping}), 400, detailed=5080)
    assert str(run.pk) in body["error"]
    assert SyncRun.objects.count() == 1


def test_plain_dates_name_business_days_whatever_the_sync_hour(
    api, demo, django_capture_on_commit_callbacks
):
    """A business day starting at 02:00: "start": "<day>" is that day, not
    the one its midnight falls in; a date-time is cut to the sync hour."""
    merchant = demo.merchant
    config = merchant.sync_configuration
    config.sync_hour = 2
    config.save(update_fields=["sync_hour"])
    tz = zone(config.time_zone)
    today = timezone.localdate()
    historic = f"/meta/companies/{merchant.pk}/sync/commerce/historic"
    # One plain date as both bounds: that one day, included.
    days = {"start": str(today - timedelta(days=6)), "finish": str(today - timedelta(days=6))}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(historic, {"dateRange": days})
    assert response.status_code == 200, response.content
    run = SyncRun.objects.get(pk=response.json()["commerceSyncId"])
    assert run.period_start == local_instant(today - timedelta(days=6), 2, tz)
    assert run.period_end == local_instant(today - timedelta(days=5), 2, tz)
    midnight = f"{today - timedelta(days=3)}T00:00:00"  # before 02:00: the day before
    instants = {"start": midnight, "finish": f"{today - timedelta(days=2)}T00:00:00"}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(historic, {"dateRange": instants})
    assert response.status_code == 200, response.content
    run = SyncRun.objects.get(pk=response.json()["commerceSyncId"])
    assert run.period_start == local_instant(today - timedelta(days=4), 2, tz)


def test_bad_sync_requests_name_the_field(api, demo):
    merchant = demo.merchant
    historic = f"/meta/companies/{merchant.pk}/sync/commerce/historic"
    today = timezone.localdate()
    cases = [
        ({}, "dateRange"),
        ({"dateRange": {"start": "2024-01-01"}}, "dateRange.finish"),
        ({"dateRange": {"start": "yesterday", "finish": "2024-01-02"}}, "dateRange.start"),
        ({"dateRange": {"start": "2024-01-05", "finish": "2024-01-02"}}, "dateRange.finish"),
        (
            {"dateRange": {"start": str(today), "finish": str(today + timedelta(days=3))}},
            "dateRange.finish",
        ),
    ]
    for body, item in cases:
        items = error_items(assert_error(api.post(historic, body), 400))
        assert item in items, (body, items)
    bad_to = api.post(company_path(merchant) + "/latest", {"syncTo": "soon"})
    assert "syncTo" in error_items(assert_error(bad_to, 400))
    assert SyncRun.objects.count() == 0


def test_an_unconfigured_company_cannot_sync(client, db):
    merchant = MerchantFactory()
    _, key = partner_api_key_create(partner=merchant.partner, name="k")
    api = Api(client, key)
    response = api.post(company_path(merchant) + "/latest", {})
    assert "companyId" in error_items(assert_error(response, 400))
    for path in ("/syncs/latest/status", "/syncs/lastSuccessful/status"):
        assert_error(api.get(company_path(merchant) + path), 404)
    assert_error(api.get(f"/meta/companies/{merchant.pk}/sync/commerce/status"), 404)
    assert api.get(company_path(merchant) + "/syncs/list/status").json() == []


def test_a_failed_sync_reads_with_its_messages(api, demo):
    merchant = demo.merchant
    run = SyncRunFactory(
        merchant=merchant,
        status=SyncRun.Status.FAILED,
        status_code=5130,
        messages=[
            {"level": "warning", "code": "Late", "message": "late"},
            {"level": "error", "code": "DocumentRejected", "message": "Account closed"},
            {"level": "error", "code": "DocumentRejected", "message": "Tax code missing"},
        ],
    )
    body = api.get(f"{company_path(merchant)}/syncs/{run.pk}/status").json()
    assert body["syncStatus"] == "PushError" and body["syncStatusCode"] == 5130
    assert body["errorMessage"] == "Account closed"
    assert body["syncExceptionMessage"] == "Account closed; Tax code missing"
    assert_error(api.get(company_path(merchant) + "/syncs/lastSuccessful/status"), 404)
    assert_error(api.get(f"{company_path(merchant)}/syncs/not-a-uuid/status"), 404)


READS = [
    "/companies/{id}/sync/commerce/syncs/list/status",
    "/companies/{id}/sync/commerce/syncs/latest/status",
    "/companies/{id}/sync/commerce/syncs/lastSuccessful/status",
    "/companies/{id}/sync/commerce/syncs/{run}/status",
    "/meta/companies/{id}/sync/commerce/status",
]


def _runs(merchant, count: int) -> SyncRun:
    start = timezone.now() - timedelta(days=count + 1)
    SyncRun.objects.bulk_create(
        SyncRun(
            merchant=merchant,
            period_start=start + timedelta(days=i),
            period_end=start + timedelta(days=i + 1),
            status=SyncRun.Status.SUCCEEDED,
            status_code=2000,
            data_pushed=True,
            created_at=start + timedelta(days=i + 1),
            finished_at=start + timedelta(days=i + 1),
        )
        for i in range(count)
    )
    return SyncRun.objects.filter(merchant=merchant).first()


# Queries per read once the partner's key is remembered (a key's first
# request looks it up): the rate limit's upsert (no Redis in the tests) and
# one query for the answer; get-configuration reads the company with its
# configuration, the accounting connection and the options' cache row.
READ_QUERIES = {path: 2 for path in READS} | {"/config/companies/{id}/sync/commerce": 4}


@pytest.mark.parametrize("path", list(READ_QUERIES))
def test_reads_take_the_same_queries_for_3_runs_or_300(
    path, client, db, django_assert_num_queries, settings, tmp_path
):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.RATE_LIMIT_REDIS_URL = ""
    expected = READ_QUERIES[path]
    if "config" in path and not settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        expected -= 1  # the options' cache row is in Redis (REDIS_URL set), not a query
    # A configured company (get-configuration reads its ledger's options).
    small = demo_seed(days=1, orders_per_day=1, today=timezone.localdate()).merchant
    partner = small.partner
    _, key = partner_api_key_create(partner=partner, name="k")
    api = Api(client, key)
    large = MerchantFactory(partner=partner)
    small_run, large_run = _runs(small, 3), _runs(large, 300)
    small_path = path.format(id=small.pk, run=small_run.pk)
    api.get(small_path)  # the key is looked up once, the options read once
    with django_assert_num_queries(expected):
        response = api.get(small_path)
    assert response.status_code == 200
    large_path = path.format(id=large.pk, run=large_run.pk)
    if "config" in path:
        # The same company with 300 more runs: what grows is the history.
        _runs(small, 300)
        large_path = small_path
    api.get(large_path)
    with django_assert_num_queries(expected):
        response = api.get(large_path)
    assert response.status_code == 200
    if path.endswith("list/status"):
        assert len(response.json()) == 100  # the newest page; the rest by `page`
        assert 'rel="next"' in response["Link"]


def test_list_syncs_is_paged_newest_first_with_a_link_to_older(api, demo):
    merchant = demo.merchant
    SyncRun.objects.filter(merchant=merchant).delete()
    _runs(merchant, 5)
    newest = SyncRun.objects.filter(merchant=merchant).order_by("-created_at", "-id")
    ids = [str(run.pk) for run in newest]
    path = company_path(merchant) + "/syncs/list/status"
    first = api.get(path + "?pageSize=2")
    assert [s["syncId"] for s in first.json()] == ids[:2]
    assert first["Link"] == f'<{path}?page=2&pageSize=2>; rel="next"'
    second = api.get(path + "?page=2&pageSize=2")
    assert [s["syncId"] for s in second.json()] == ids[2:4]
    last = api.get(path + "?page=3&pageSize=2")
    assert [s["syncId"] for s in last.json()] == ids[4:]
    assert "Link" not in last
    assert api.get(path + "?page=9&pageSize=2").json() == []
    # Without parameters: the newest 100, every one of these five.
    whole = api.get(path)
    assert [s["syncId"] for s in whole.json()] == ids
    assert "Link" not in whole
    for bad in ("?pageSize=0", "?pageSize=1001", "?page=0", "?page=x"):
        body = assert_error(api.get(path + bad), 400)
        assert error_items(body)


def test_another_partner_gets_404_everywhere_and_changes_nothing(api, other_api, demo):
    merchant = demo.merchant
    run = SyncRunFactory(merchant=merchant)
    runs_before = SyncRun.objects.count()
    for path in READS:
        response = other_api.get(path.format(id=merchant.pk, run=run.pk))
        assert_error(response, 404)
    for path, body in (
        (f"/companies/{merchant.pk}/sync/commerce/latest", {}),
        (
            f"/meta/companies/{merchant.pk}/sync/commerce/historic",
            {"dateRange": {"start": "2024-01-01", "finish": "2024-01-02"}},
        ),
    ):
        assert_error(other_api.post(path, body), 404)
    # Their own company, our sync's id: still 404.
    theirs = MerchantFactory._meta.model.objects.exclude(partner=merchant.partner).first()
    assert_error(other_api.get(f"/companies/{theirs.pk}/sync/commerce/syncs/{run.pk}/status"), 404)
    assert SyncRun.objects.count() == runs_before
    assert not AuditLog.objects.filter(action="sync_run.request").exists()


def test_a_disabled_company_is_refused_and_a_run_queued_before_is_failed(
    api, demo, django_capture_on_commit_callbacks
):
    merchant = demo.merchant
    with django_capture_on_commit_callbacks(execute=False):
        queued = api.post(company_path(merchant) + "/latest", {}).json()
    merchant.enabled, merchant.disabled_reason = False, "Failing for 31 days"
    merchant.save()
    body = assert_error(api.post(company_path(merchant) + "/latest", {}), 400, detailed=4000)
    assert "Failing for 31 days" in body["error"]
    run = SyncRun.objects.get(pk=queued["commerceSyncId"])
    sync_run_execute(merchant=merchant, run=run)
    status = api.get(f"{company_path(merchant)}/syncs/{run.pk}/status").json()
    assert (status["syncStatusCode"], status["syncStatus"]) == (4000, "ValidateError")
    assert "Failing for 31 days" in status["errorMessage"]


def test_a_requested_run_whose_task_was_lost_stops_blocking_after_30_minutes(
    api, demo, django_capture_on_commit_callbacks
):
    from commerce_sync.syncs.scheduling import merchants_due

    merchant = demo.merchant
    with django_capture_on_commit_callbacks(execute=False):  # the task never runs
        lost = api.post(company_path(merchant) + "/latest", {}).json()["commerceSyncId"]
    assert merchant not in merchants_due()
    SyncRun.objects.filter(pk=lost).update(created_at=timezone.now() - timedelta(minutes=31))
    assert merchant in merchants_due()
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(company_path(merchant) + "/latest", {})
    assert again.status_code == 200, again.content
    lost_run = SyncRun.objects.get(pk=lost)
    assert (lost_run.status, lost_run.status_code) == (SyncRun.Status.FAILED, 5000)
    assert SyncRun.objects.get(pk=again.json()["commerceSyncId"]).status_code == 2000
