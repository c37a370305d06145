"""/metrics: closed unless configured (404), refused without the token or
from outside the allow-list (403), and holding django-prometheus's figures
and the product's own, read from the database at scrape time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django_q.brokers import get_broker

from commerce_sync.core.services.demo import demo_seed
from commerce_sync.syncs.runs import sync_run_execute
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEvent
from commerce_sync.webhooks.services import webhook_endpoint_create
from tests.factories import PushItemFactory, SyncRunFactory

TOKEN = "scrape-token-0123456789"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name{labels}` in exposition text."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    assert found, f"{name}{{{wanted}}} not in the metrics"
    return float(found.group(1))


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return TOKEN


def scrape(client, token: str | None = TOKEN, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/metrics", **headers, **extra)


def test_unconfigured_metrics_do_not_exist(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404
    assert scrape(client).status_code == 404


def test_the_token_is_required_and_checked(client, db, token):
    assert scrape(client, None).status_code == 403
    assert scrape(client, "wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    answer = scrape(client)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")  # the exposition format
    assert "no-cache" in answer["Cache-Control"] or "max-age=0" in answer["Cache-Control"]


def test_the_address_allow_list(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.7"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403

    settings.METRICS_TOKEN = TOKEN  # both set: both must pass
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert scrape(client, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert scrape(client, REMOTE_ADDR="172.16.0.1").status_code == 403


def test_the_figures_come_from_real_syncs_and_the_queues(
    client, db, token, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.WEBHOOK_ALLOW_PRIVATE = True
    merchant = demo_seed(days=2, orders_per_day=5, today=date(2026, 11, 10)).merchant
    run = sync_run_execute(merchant=merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    assert run.status_code == 2000
    SyncRunFactory(merchant=merchant, status="running", status_code=1010)
    failed_run = SyncRunFactory(merchant=merchant, status="failed", status_code=4000)
    PushItemFactory(sync_run=failed_run, status="failed", key="k-1")
    PushItemFactory(sync_run=failed_run, status="failed", key="k-2")
    get_broker().enqueue("a waiting task")  # the ORM broker's queue
    endpoint, _ = webhook_endpoint_create(partner=merchant.partner, url="http://127.0.0.1:9/x")
    event = WebhookEvent.objects.create(partner=merchant.partner, type="sync.failed", payload={})
    WebhookDelivery.objects.create(endpoint=endpoint, event=event, status="failed")
    WebhookDelivery.objects.create(endpoint=endpoint, event=event, attempt=2, status="abandoned")

    text = scrape(client).content.decode()

    assert sample(text, "commerce_sync_syncs_recent", status_code="2000") == 1
    assert sample(text, "commerce_sync_syncs_in_progress", status_code="1010") == 1
    assert sample(text, "commerce_sync_push_items_failed") == 2
    assert sample(text, "commerce_sync_queue_depth") == 1
    assert sample(text, "commerce_sync_webhook_deliveries", status="failed") == 1
    assert sample(text, "commerce_sync_webhook_deliveries", status="abandoned") == 1
    assert sample(text, "commerce_sync_webhook_deliveries", status="succeeded") == 0
    assert sample(text, "commerce_sync_merchants", state="enabled") == 1
    assert sample(text, "commerce_sync_incidents_open", kind="sync_failed") == 0
    assert sample(text, "commerce_sync_metrics_errors") == 0
    # the run's duration and its push phase, as gauge histograms of the last 24 hours
    assert "# TYPE commerce_sync_sync_duration_seconds histogram" in text  # (gauge histogram)
    assert (
        sample(text, "commerce_sync_sync_duration_seconds_bucket", kind="scheduled", le="+Inf") == 1
    )
    assert (
        sample(text, "commerce_sync_sync_duration_seconds_bucket", kind="scheduled", le="3600.0")
        == 1
    )
    assert sample(text, "commerce_sync_sync_duration_seconds_gcount", kind="scheduled") == 1
    assert sample(text, "commerce_sync_push_duration_seconds_gcount") == 1
    assert 0 < sample(text, "commerce_sync_push_duration_seconds_gsum") < 600
    # django-prometheus's own: the requests this process answered
    assert "django_http_requests_total_by_method_total" in text


def test_the_product_figures_take_a_fixed_number_of_queries(
    client, db, token, django_assert_max_num_queries
):
    for _ in range(5):
        SyncRunFactory(status="succeeded", status_code=2000)
    with django_assert_max_num_queries(12):
        assert scrape(client).status_code == 200
