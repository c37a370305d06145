"""Webhooks end to end on PostgreSQL: events from real syncs reach a local
receiver signed (checked with the standardwebhooks verifier), failed
deliveries are retried on the backoff schedule and logged attempt by
attempt, a receiver that was down gets every event once it is back, and
nothing a webhook does can fail a sync or leak another partner's events.

Time is moved by passing `now=` to the sweep, never by sleeping."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from commerce_sync.core.models import Connection, SyncRun
from commerce_sync.core.services.connections import connection_create, connection_mark_deauthorized
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.core.tasks import dispatch_due_syncs
from commerce_sync.syncs.runs import sync_run_execute
from commerce_sync.syncs.scheduling import merchant_disable_if_failing
from commerce_sync.webhooks import services
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from commerce_sync.webhooks.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    webhook_deliveries_dispatch,
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
    webhook_event_emit,
)
from tests.doubles.webhook_receiver import WebhookReceiver, free_port
from tests.factories import PartnerFactory, SyncRunFactory

TODAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
Status = WebhookDelivery.Status


@pytest.fixture
def demo(db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    return demo_seed(days=3, orders_per_day=15, today=TODAY)


def subscribe(partner, url: str, types: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_create(partner=partner, url=url, event_types=types or [])


def emit(capture, partner, type: str = "sync.completed", **data) -> WebhookEvent | None:
    with capture(execute=True):
        return webhook_event_emit(partner=partner, type=type, data=data or {"n": 1})


def verified(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def test_a_sandbox_sync_sends_sync_completed_signed(
    demo, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = subscribe(demo.merchant.partner, receiver.url)

    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status_code == 2000
    assert receiver.types() == ["sync.completed"]
    message = verified(secret, receiver.received[0])  # raises unless the signature is ours
    assert message["data"]["companyId"] == str(demo.merchant.pk)
    assert message["data"]["syncId"] == str(run.pk)
    assert message["data"]["statusCode"] == 2000
    assert message["data"]["status"] == "succeeded"
    assert message["data"]["dataPushed"] is True
    assert message["data"]["errorMessage"] is None
    headers = {k.lower(): v for k, v in receiver.received[0].headers.items()}
    event = WebhookEvent.objects.get()
    assert headers["webhook-id"] == event.id and event.id.startswith("msg_")
    assert headers["content-type"] == "application/json"
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.endpoint, delivery.attempt, delivery.status) == (endpoint, 1, Status.SUCCEEDED)
    assert delivery.http_status == 200 and delivery.duration_ms is not None
    assert '"ok": true' in delivery.response_excerpt
    # Another secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        verified(services.webhook_secret_generate(), receiver.received[0])


def test_a_failing_sync_sends_sync_failed_with_its_error(
    demo, receiver, django_capture_on_commit_callbacks
):
    _, secret = subscribe(demo.merchant.partner, receiver.url)
    configuration = demo.merchant.sync_configuration
    configuration.document["payments"]["accounts"]["cash"] = {
        "selectedAccountId": "Assets:Cash:Gone"
    }
    configuration.save(update_fields=["document"])

    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.FAILED and run.status_code == 4000
    assert receiver.types() == ["sync.failed", "alert.raised"]  # the alert: the first failing day
    data = verified(secret, receiver.received[0])["data"]
    assert data["statusCode"] == 4000 and data["statusText"] == "Configuration error"
    assert "Assets:Cash:Gone does not exist" in data["errorMessage"]


def test_only_subscribed_types_are_sent(demo, receiver, django_capture_on_commit_callbacks):
    subscribe(demo.merchant.partner, receiver.url, ["sync.failed"])
    with django_capture_on_commit_callbacks(execute=True):
        sync_run_execute(merchant=demo.merchant, now=NOW)
    assert receiver.received == []
    assert not WebhookEvent.objects.exists()  # nobody wanted it: nothing stored


def test_500_then_200_is_retried_after_the_backoff_and_every_attempt_logged(
    db, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    endpoint, secret = subscribe(partner, receiver.url)
    receiver.answers = [500]

    event = emit(django_capture_on_commit_callbacks, partner)

    first = WebhookDelivery.objects.get(attempt=1)
    assert first.status == Status.FAILED and first.http_status == 500
    assert first.error == "The receiver answered HTTP 500"
    second = WebhookDelivery.objects.get(attempt=2)
    assert second.status == Status.PENDING
    assert second.next_attempt_at == first.attempted_at + RETRY_DELAYS[0]

    assert webhook_deliveries_dispatch(now=first.attempted_at + timedelta(seconds=4)) == 0
    assert len(receiver.received) == 1
    assert webhook_deliveries_dispatch(now=second.next_attempt_at) == 1

    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED and second.http_status == 200
    assert len(receiver.received) == 2
    # The same message both times, so the receiver can tell a retry.
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {event.id}
    for received in receiver.received:
        verified(secret, received)
    log = list(endpoint.deliveries.order_by("attempt").values_list("attempt", "status"))
    assert log == [(1, Status.FAILED), (2, Status.SUCCEEDED)]


def test_retries_span_more_than_a_day_then_the_delivery_is_abandoned(
    db, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    endpoint, _ = subscribe(partner, receiver.url)
    receiver.answers = [503] * 100
    emit(django_capture_on_commit_callbacks, partner)
    started = WebhookDelivery.objects.get(attempt=1).attempted_at

    now = started
    for delay in RETRY_DELAYS:
        now += delay
        assert webhook_deliveries_dispatch(now=now - timedelta(seconds=1)) == 0  # not yet
        assert webhook_deliveries_dispatch(now=now) == 1

    log = list(endpoint.deliveries.order_by("attempt"))
    assert [d.attempt for d in log] == list(range(1, MAX_ATTEMPTS + 1))
    assert [d.status for d in log] == [Status.FAILED] * (MAX_ATTEMPTS - 1) + [Status.ABANDONED]
    assert all(d.http_status == 503 for d in log)
    assert log[-1].attempted_at - log[0].attempted_at > timedelta(hours=24)
    assert webhook_deliveries_dispatch(now=now + timedelta(days=3)) == 0
    assert len(receiver.received) == MAX_ATTEMPTS


def test_a_receiver_down_for_a_while_gets_every_event_once_back(
    db, allow_private, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    receiver = WebhookReceiver(port=free_port())  # nothing listens there yet
    _, secret = subscribe(partner, receiver.url)
    events = [
        emit(django_capture_on_commit_callbacks, partner, type, n=n)
        for n, type in enumerate(["sync.completed", "sync.failed", "configuration.updated"])
    ]
    failed = WebhookDelivery.objects.filter(attempt=1)
    assert {d.status for d in failed} == {Status.FAILED}
    assert all("ConnectionError" in d.error and d.http_status is None for d in failed)
    later = timezone.now() + timedelta(minutes=1)
    assert webhook_deliveries_dispatch(now=later) == 3  # still down: attempt 2 fails too
    assert WebhookDelivery.objects.filter(attempt=3, status=Status.PENDING).count() == 3

    with receiver:  # back
        assert webhook_deliveries_dispatch(now=later + timedelta(minutes=6)) == 3
        assert webhook_deliveries_dispatch(now=later + timedelta(days=2)) == 0

    got = sorted(r.headers["webhook-id"] for r in receiver.received)
    assert got == sorted(e.id for e in events)  # each once
    assert sorted(verified(secret, r)["data"]["n"] for r in receiver.received) == [0, 1, 2]
    assert not WebhookDelivery.objects.filter(status=Status.PENDING).exists()


def test_the_dispatcher_tick_sends_the_retries_due(
    db, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    subscribe(partner, receiver.url)
    receiver.answers = [500]
    emit(django_capture_on_commit_callbacks, partner)
    WebhookDelivery.objects.filter(status=Status.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    dispatch_due_syncs()

    assert len(receiver.received) == 2
    assert WebhookDelivery.objects.get(attempt=2).status == Status.SUCCEEDED


def test_a_claimed_delivery_is_sent_once(db, receiver, django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    subscribe(partner, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # not delivered yet
        webhook_event_emit(partner=partner, type="sync.completed", data={})
    (delivery,) = WebhookDelivery.objects.all()

    assert webhook_delivery_attempt(delivery_id=str(delivery.pk)) is not None
    assert webhook_delivery_attempt(delivery_id=str(delivery.pk)) is None  # a second worker
    assert webhook_deliveries_dispatch() == 0
    assert len(receiver.received) == 1


def test_never_another_partners_events(db, allow_private, django_capture_on_commit_callbacks):
    mine, theirs = PartnerFactory(), PartnerFactory()
    with WebhookReceiver() as my_receiver, WebhookReceiver() as their_receiver:
        subscribe(mine, my_receiver.url)
        subscribe(theirs, their_receiver.url)
        emit(django_capture_on_commit_callbacks, mine, companyId="m-1")
        emit(django_capture_on_commit_callbacks, theirs, companyId="t-1")
    assert [r.json["data"]["companyId"] for r in my_receiver.received] == ["m-1"]
    assert [r.json["data"]["companyId"] for r in their_receiver.received] == ["t-1"]
    assert WebhookEvent.objects.filter(partner=mine).count() == 1


def test_a_delivery_error_never_fails_the_sync(
    demo, receiver, django_capture_on_commit_callbacks, monkeypatch
):
    subscribe(demo.merchant.partner, receiver.url)

    def broken(*args, **kwargs):
        raise RuntimeError("the queue is down")

    monkeypatch.setattr(services, "async_task", broken)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000
    # The event and its delivery are stored: the sweep sends them later.
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.status == Status.PENDING
    monkeypatch.undo()
    assert webhook_deliveries_dispatch() == 1
    assert receiver.types() == ["sync.completed"]


def test_an_emission_error_never_fails_the_sync(
    demo, receiver, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    subscribe(demo.merchant.partner, receiver.url)

    def broken(self, *args, **kwargs):
        raise RuntimeError("the events table is gone")

    monkeypatch.setattr(WebhookEvent, "save", broken)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000
    assert run.push_items.filter(status="pushed").count() == 3
    assert "webhook event not emitted" in caplog.text
    assert receiver.received == []


def test_a_slow_or_failing_receiver_does_not_fail_the_sync(
    demo, receiver, django_capture_on_commit_callbacks
):
    subscribe(demo.merchant.partner, receiver.url)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert WebhookDelivery.objects.get(attempt=1).status == Status.FAILED


def test_410_gone_disables_the_endpoint(db, receiver, django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    endpoint, _ = subscribe(partner, receiver.url)
    receiver.answers = [410]
    emit(django_capture_on_commit_callbacks, partner)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == Status.ABANDONED
    assert emit(django_capture_on_commit_callbacks, partner) is None  # nothing more is sent
    assert len(receiver.received) == 1


def test_after_rotation_both_secrets_verify_for_a_day(
    db, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    endpoint, old = subscribe(partner, receiver.url)
    new = webhook_endpoint_secret_rotate(endpoint=endpoint, actor="test")
    assert new != old and new.startswith("whsec_")

    emit(django_capture_on_commit_callbacks, partner)
    verified(old, receiver.received[0])
    verified(new, receiver.received[0])

    receiver.answers = [500]
    emit(django_capture_on_commit_callbacks, partner)
    webhook_deliveries_dispatch(now=timezone.now() + timedelta(hours=25))
    late = receiver.received[-1]
    verified(new, late)
    with pytest.raises(WebhookVerificationError):
        verified(old, late)


def test_a_delivery_is_redelivered_by_hand(db, receiver, django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    _, secret = subscribe(partner, receiver.url)
    event = emit(django_capture_on_commit_callbacks, partner)
    first = WebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        again = webhook_delivery_redeliver(delivery=first, actor="operator:ann")

    again.refresh_from_db()
    assert (again.attempt, again.status) == (2, Status.SUCCEEDED)
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id, event.id]
    verified(secret, receiver.received[1])


def test_the_ssrf_guard_refuses_private_urls_unless_allowed(
    db, settings, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    subscribe(partner, receiver.url)  # allowed: the tests' setting
    settings.WEBHOOK_ALLOW_PRIVATE = False  # production

    from django.core.exceptions import ValidationError

    for url in [receiver.url, "http://10.0.0.7/hooks", "http://169.254.169.254/latest"]:
        with pytest.raises(ValidationError) as refused:
            webhook_endpoint_create(partner=partner, url=url)
        assert "internal address" in str(refused.value.message_dict["url"])

    emit(django_capture_on_commit_callbacks, partner)
    (delivery,) = WebhookDelivery.objects.filter(attempt=1)
    assert delivery.status == Status.FAILED and delivery.error.startswith("Refused:")
    assert receiver.received == []

    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]  # the operator's allow-list
    webhook_deliveries_dispatch(now=timezone.now() + timedelta(minutes=1))
    assert len(receiver.received) == 1


def test_the_secret_is_encrypted_at_rest_and_never_logged(
    db, receiver, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.DEBUG)
    partner = PartnerFactory()
    endpoint, secret = subscribe(partner, receiver.url)
    receiver.answers = [500]
    emit(django_capture_on_commit_callbacks, partner)
    rotated = webhook_endpoint_secret_rotate(endpoint=endpoint, actor="test")
    webhook_deliveries_dispatch(now=timezone.now() + timedelta(minutes=1))

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    for value in (secret, rotated):
        assert value.removeprefix("whsec_") not in stored
        assert value.removeprefix("whsec_") not in caplog.text
    assert len(receiver.received) == 2


def test_the_core_emits_each_event_where_it_happens(
    demo, receiver, django_capture_on_commit_callbacks
):
    partner = demo.merchant.partner
    subscribe(partner, receiver.url)
    merchant = demo.merchant
    with django_capture_on_commit_callbacks(execute=True):
        connection = connection_create(
            merchant=merchant,
            platform_key="sandbox",
            source_type=Connection.SourceType.COMMERCE,
            credentials={"token": "s3cr3t-token"},
            settings={"orders_per_day": 3},
            status=Connection.Status.LINKED,
        )
        connection_mark_deauthorized(connection=connection, reason="Grant revoked")
        config = merchant.sync_configuration
        sync_configuration_save(
            merchant=merchant,
            document=config.document,
            start_date=config.start_date,
            sync_hour=5,
            time_zone=config.time_zone,
            actor="test",
        )
        failing = SyncRunFactory(
            merchant=merchant,
            status=SyncRun.Status.FAILED,
            period_start=NOW - timedelta(days=40),
            period_end=NOW,
        )
        assert merchant_disable_if_failing(merchant=merchant, run=failing)

    assert receiver.types() == [
        "connection.created",
        "alert.raised",  # connection_deauthorized (raised before the event, same transaction)
        "connection.deauthorized",
        "configuration.updated",
        "alert.raised",  # sync_disabled
        "sync.disabled",
    ]
    created, _, deauthorized, updated, _, disabled = (r.json["data"] for r in receiver.received)
    assert created["connectionId"] == str(connection.pk) and created["status"] == "Linked"
    assert deauthorized["reason"] == "Grant revoked"
    assert updated["changed"] == ["sync_hour"] and updated["version"] == 2
    assert disabled["companyId"] == str(merchant.pk) and "31" in disabled["reason"]
    assert all("s3cr3t-token" not in r.body.decode() for r in receiver.received)


def test_a_webhook_url_is_checked_for_its_shape_when_registered_and_resolved_at_delivery(
    db, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """No DNS when registered (the partner's name may not exist yet); the
    name is resolved at every delivery, and refused there when it points
    inside, with messages that speak of the webhook."""
    from django.core.exceptions import ValidationError

    from connectors.partner import ssrf

    settings.WEBHOOK_ALLOW_PRIVATE = False
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def resolve_to_loopback(host, port, *args, **kwargs):
        looked_up.append(host)
        return real_getaddrinfo("127.0.0.1", port, proto=socket.IPPROTO_TCP)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", resolve_to_loopback)
    partner = PartnerFactory()
    endpoint, _secret = webhook_endpoint_create(
        partner=partner, url="https://hooks.not-yet.example/in"
    )
    assert endpoint.url == "https://hooks.not-yet.example/in" and looked_up == []
    for url, words in [
        ("https://user:pw@hooks.example/in", "webhook-signature"),
        ("http://localhost:9000/in", "The webhook host 'localhost'"),
        ("http://[::1]/in", "The webhook host '::1' resolves to an internal address"),
        ("ftp://hooks.example/in", "http(s)"),
    ]:
        with pytest.raises(ValidationError) as refused:
            webhook_endpoint_create(partner=partner, url=url)
        message = str(refused.value.message_dict["url"])
        assert words in message and "partner API" not in message, message
    emit(django_capture_on_commit_callbacks, partner)
    (delivery,) = WebhookDelivery.objects.filter(attempt=1)
    assert looked_up == ["hooks.not-yet.example"]
    assert delivery.status == Status.FAILED
    assert delivery.error.startswith("Refused: The webhook host 'hooks.not-yet.example'")
    assert "internal address" in delivery.error
