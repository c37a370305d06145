"""Partner webhooks: emitting events, delivering them signed, retrying,
and the partner's management of its endpoints.

Emission (`webhook_event_emit`) runs inside the caller's transaction, in a
savepoint: the event and one pending delivery per subscribed endpoint commit
with the change they describe, or not at all, and any error is logged, never
raised (a webhook never fails a sync). After commit, each delivery is handed
to django-q2 (`async_task`) for an immediate first attempt.

Delivery (`webhook_delivery_attempt`): a worker claims a due pending row
with one conditional UPDATE (status pending and due; it moves the row's
`next_attempt_at` forward by a lease), so with several workers, the sweep and
the immediate task racing, exactly one of them POSTs. A worker that dies
mid-POST leaves the row pending; the sweep retries it when the lease ends.
Each attempt is signed per Standard Webhooks (`webhook-id`,
`webhook-timestamp`, `webhook-signature`), POSTed as JSON with a short
timeout through the SSRF guard, never following redirects. 2xx succeeds.
Any other answer, or none, fails the attempt and schedules the next one as a
new pending row after `RETRY_DELAYS` (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
10 h: eight attempts over about 27.5 hours); the last failed attempt is
`abandoned`. 410 Gone disables the endpoint (the receiver says it is gone
for good) and abandons its pending deliveries; the partner re-enables it.

Retries are picked up by a sweep, `webhook_deliveries_dispatch`, called by
the 5-minute dispatcher (`commerce_sync.core.tasks.dispatch_due_syncs`), so a
retry is due at its time and sent within five minutes after; nothing is lost
if a task or worker is lost.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets as random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from commerce_sync.core.models import Partner
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.errors import ConfigurationError
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from connectors.partner.ssrf import UnsafeUrl, call_deadline, safe_session, url_check

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "sync.completed",
    "sync.failed",
    "sync.disabled",
    "connection.created",
    "connection.deauthorized",
    "configuration.updated",
    "alert.raised",
    "alert.resolved",
)
# After attempt n fails, attempt n + 1 is due RETRY_DELAYS[n - 1] later.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# (connect, read) seconds; the lease outlasts both, so a claimed row is never re-sent early.
TIMEOUT = (3.05, 10)
# Seconds for a whole delivery, reading the answer's excerpt included: a
# receiver dripping its answer cannot hold a worker longer.
DEADLINE = 15.0
LEASE = timedelta(minutes=2)
RESPONSE_EXCERPT_CHARS = 500
SECRET_OVERLAP = timedelta(hours=24)
SWEEP_BATCH = 1000
DELIVER_TASK = "commerce_sync.webhooks.tasks.webhook_deliver"
Status = WebhookDelivery.Status


# Secrets and signatures ------------------------------------------------------------


def webhook_secret_generate() -> str:
    """A new signing secret in Standard Webhooks' format: `whsec_` and the
    base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()


def webhook_signature_headers(
    *, endpoint: WebhookEndpoint, msg_id: str, body: str, at: datetime, now: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers for `body` sent at `at`: signed with the
    current secret and, until its 24 hours after a rotation end (judged at
    `now`), also with the previous one (space-separated `v1,<sig>` values)."""
    keys = endpoint.secrets or {}
    signatures = [Webhook(keys["current"]).sign(msg_id, at, body)]
    previous, until = keys.get("previous"), keys.get("previous_until")
    if previous and until and datetime.fromisoformat(until) > now:
        signatures.append(Webhook(previous).sign(msg_id, at, body))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "CommerceSync-Webhooks/1.0",
    }


def webhook_url_check(url: str, *, resolve_names: bool = True) -> None:
    """Raise `UnsafeUrl` (a ConfigurationError, its message worded for a
    webhook) unless `url` is http(s) to a public address or a host in
    PARTNER_ALLOWED_HOSTS (the guard of `connectors.partner.ssrf`).

    An endpoint's URL is checked twice: when it is registered, for its shape
    (`resolve_names=False`: scheme, host, no credentials, a port, an address
    literal not internal, not localhost), since the partner's DNS may not
    exist yet; and at every delivery, resolved, so a name that points
    inside our network is refused then (the attempt fails as "Refused").
    `WEBHOOK_ALLOW_PRIVATE` (tests and local development only, default off)
    lets any http(s) URL through."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        if not url.lower().startswith(("http://", "https://")):
            raise UnsafeUrl("A webhook URL is http or https")
        return
    url_check(
        url,
        subject="The webhook host",
        credentials_hint="deliveries are signed (verify the webhook-signature header) instead",
        resolve_names=resolve_names,
    )


# Emission -----------------------------------------------------------------------


def _subscribes(event_types: list[str] | None, type: str) -> bool:
    return not event_types or type in event_types


def webhook_event_emit(
    *, partner: Partner | int, type: str, data: dict[str, Any], now: datetime | None = None
) -> WebhookEvent | None:
    """Record event `type` with `data` (ids, statuses, messages, dates of
    `partner`'s own objects; never secrets) for every enabled endpoint of
    `partner` (a Partner or its id) subscribed to it, and deliver it after
    commit. Returns the event, or None when no endpoint wants it (nothing is
    stored) or when emission failed; never raises (errors are logged)."""
    try:
        if type not in EVENT_TYPES:
            raise ValueError(f"Unknown webhook event type {type!r}")
        partner_id = partner if isinstance(partner, int) else partner.pk
        now = now or timezone.now()
        with transaction.atomic():  # a savepoint: a failure leaves the caller's work intact
            endpoint_ids = [
                pk
                for pk, types in WebhookEndpoint.objects.filter(
                    partner_id=partner_id, enabled=True
                ).values_list("pk", "event_types")
                if _subscribes(types, type)
            ]
            if not endpoint_ids:
                return None
            event = WebhookEvent(partner_id=partner_id, type=type, created_at=now)
            event.payload = {"type": type, "timestamp": now.isoformat(), "data": data}
            event.save(force_insert=True)
            deliveries = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(endpoint_id=pk, event=event, next_attempt_at=now, created_at=now)
                for pk in endpoint_ids
            )
            ids = [str(d.pk) for d in deliveries]
            transaction.on_commit(partial(_enqueue, ids), robust=True)
        return event
    except Exception:
        log.exception("webhook event not emitted", extra={"type": type})
        return None


def _enqueue(delivery_ids: Iterable[str], now: datetime | None = None) -> None:
    """Hand each delivery to a django-q2 worker (`webhook_deliver`)."""
    for delivery_id in delivery_ids:
        try:
            async_task(
                DELIVER_TASK,
                delivery_id,
                now.isoformat() if now else None,
                group="webhooks",
                task_name=f"webhook {delivery_id}",
            )
        except Exception:
            log.exception("webhook delivery not enqueued", extra={"delivery": delivery_id})


def webhook_deliveries_dispatch(*, now: datetime | None = None) -> int:
    """The sweep: enqueue every pending delivery due at `now` (at most
    SWEEP_BATCH, oldest first). Returns how many; never raises (the
    dispatcher that calls it also enqueues syncs)."""
    try:
        due = list(
            WebhookDelivery.objects.filter(
                status=Status.PENDING, next_attempt_at__lte=now or timezone.now()
            )
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        _enqueue([str(pk) for pk in due], now)
        return len(due)
    except Exception:
        log.exception("webhook sweep failed")
        return 0


# Delivery ------------------------------------------------------------------------


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """POST `body`; (HTTP status or None, response excerpt, error)."""
    excerpt = ""
    try:
        webhook_url_check(url)
        session = safe_session(check_addresses=not settings.WEBHOOK_ALLOW_PRIVATE)
        with session, call_deadline(DEADLINE):
            response = session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
                stream=True,
            )
            try:
                raw = response.raw.read(RESPONSE_EXCERPT_CHARS * 4, decode_content=True) or b""
                excerpt = raw.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_CHARS]
            except Exception as error:  # the body is a courtesy; the status decides
                excerpt = f"(body unreadable: {type(error).__name__})"
            finally:
                response.close()
    except UnsafeUrl as error:
        return None, "", f"Refused: {error.message}"
    except requests.RequestException as error:
        return None, "", f"{type(error).__name__}: {error}"[:1000]
    return response.status_code, excerpt, ""


def webhook_delivery_attempt(
    *, delivery_id: str, now: datetime | None = None
) -> WebhookDelivery | None:
    """Make the attempt `delivery_id` if it is still pending and due at
    `now`; returns it with its outcome, or None when another worker has it
    or it is not due. Records the HTTP status, a response excerpt (at most
    500 characters), the error and the duration in ms; schedules the next
    attempt or abandons (see the module docstring)."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.enabled:
        delivery.status = Status.ABANDONED
        delivery.error = f"The endpoint is disabled: {endpoint.disabled_reason or 'by the partner'}"
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "error", "next_attempt_at"])
        return delivery

    body = json.dumps(event.payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    headers = webhook_signature_headers(
        endpoint=endpoint, msg_id=event.id, body=body, at=timezone.now(), now=now
    )
    started = time.monotonic()
    http_status, excerpt, error = _post(endpoint.url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = http_status is not None and 200 <= http_status < 300
    gone = http_status == 410
    if not succeeded and not error:
        error = f"The receiver answered HTTP {http_status}"

    with transaction.atomic():
        delivery.http_status = http_status
        delivery.response_excerpt = excerpt
        delivery.error = error
        delivery.duration_ms = duration_ms
        delivery.attempted_at = now
        delivery.next_attempt_at = None
        retry = not succeeded and not gone and delivery.attempt < MAX_ATTEMPTS
        if succeeded:
            delivery.status = Status.SUCCEEDED
        elif retry or delivery.attempt > MAX_ATTEMPTS:  # a manual redelivery is not retried
            delivery.status = Status.FAILED
        else:
            delivery.status = Status.ABANDONED
        delivery.save()
        if retry:
            WebhookDelivery.objects.create(
                endpoint=endpoint,
                event=event,
                attempt=delivery.attempt + 1,
                next_attempt_at=now + RETRY_DELAYS[delivery.attempt - 1],
                created_at=now,
            )
        if gone:
            _endpoint_disable_gone(endpoint)
    log.info(
        "webhook delivery",
        extra={
            "delivery": str(delivery.pk),
            "event": event.id,
            "attempt": delivery.attempt,
            "status": delivery.status,
            "http_status": http_status,
        },
    )
    return delivery


def _endpoint_disable_gone(endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = "The receiver answered 410 Gone"
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    endpoint.deliveries.filter(status=Status.PENDING).update(
        status=Status.ABANDONED, next_attempt_at=None, error="The endpoint answered 410 Gone"
    )
    audit_log_write(
        actor=SYSTEM,
        action="webhook_endpoint.disable",
        obj=endpoint,
        changes={"reason": endpoint.disabled_reason},
    )


@transaction.atomic
def webhook_delivery_redeliver(
    *, delivery: WebhookDelivery, actor: str, now: datetime | None = None
) -> WebhookDelivery:
    """Send `delivery`'s event to its endpoint again, at once (after
    commit). If an attempt of that event to that endpoint is already
    pending, that one is made due now and returned; otherwise a new pending
    attempt numbered after the last is created (automatic retries follow
    only while the number is within the schedule). Raises ConfigurationError
    when the endpoint is disabled."""
    now = now or timezone.now()
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise ConfigurationError(
            "The endpoint is disabled; enable it before redelivering "
            f"({endpoint.disabled_reason or 'disabled by the partner'})"
        )
    # The endpoint's row lock serialises redeliveries, so attempt numbers never collide.
    WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).values_list("pk").get()
    pairs = WebhookDelivery.objects.filter(endpoint=endpoint, event_id=delivery.event_id)
    pending = pairs.filter(status=Status.PENDING).first()
    if pending is not None:
        pending.next_attempt_at = now
        pending.save(update_fields=["next_attempt_at"])
        again = pending
    else:
        last = pairs.aggregate(last=Max("attempt"))["last"] or 0
        again = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=delivery.event_id,
            attempt=last + 1,
            next_attempt_at=now,
            created_at=now,
        )
    audit_log_write(
        actor=actor,
        action="webhook_delivery.redeliver",
        obj=again,
        changes={
            "event": delivery.event_id,
            "endpoint": str(endpoint.pk),
            "attempt": again.attempt,
        },
    )
    transaction.on_commit(partial(_enqueue, [str(again.pk)], now), robust=True)
    return again


# Endpoints --------------------------------------------------------------------------


def _validated(url: str | None, event_types: list[str] | None) -> None:
    problems: dict[str, list[str]] = {}
    if url is not None:
        try:
            URLValidator(schemes=["http", "https"])(url)
            webhook_url_check(url, resolve_names=False)  # resolved at each delivery
        except ValidationError:
            problems["url"] = ["Enter an absolute http(s) URL, e.g. https://example.com/hooks."]
        except UnsafeUrl as error:
            problems["url"] = [error.message]
        except ValueError:  # what urlsplit refuses (a malformed IPv6 host ...)
            problems["url"] = ["The URL cannot be parsed; send an absolute http(s) URL."]
    if event_types is not None:
        unknown = sorted({t for t in event_types if t not in EVENT_TYPES})
        if unknown:
            problems["eventTypes"] = [
                f"Unknown event type(s) {', '.join(unknown)}; use any of {', '.join(EVENT_TYPES)} "
                "(or none for all)."
            ]
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def webhook_endpoint_create(
    *,
    partner: Partner,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    actor: str = SYSTEM,
) -> tuple[WebhookEndpoint, str]:
    """Register `url` for `partner`'s events (`event_types`; empty: all).
    Returns the endpoint and its signing secret, shown this once. Raises
    Django's ValidationError keyed by `url` / `eventTypes`."""
    _validated(url, event_types or [])
    secret = webhook_secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        partner=partner,
        url=url,
        description=description,
        event_types=sorted(set(event_types or [])),
        secrets={"current": secret, "previous": None, "previous_until": None},
    )
    audit_log_write(
        actor=actor,
        action="webhook_endpoint.create",
        obj=endpoint,
        changes={"url": url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: str,
    url: str | None = None,
    description: str | None = None,
    event_types: list[str] | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change the given fields (None: unchanged); enabling clears the
    disabled reason. Raises Django's ValidationError like create."""
    _validated(url, event_types)
    changes: dict[str, Any] = {}
    for name, value in (
        ("url", url),
        ("description", description),
        ("event_types", sorted(set(event_types)) if event_types is not None else None),
        ("enabled", enabled),
    ):
        if value is not None and getattr(endpoint, name) != value:
            setattr(endpoint, name, value)
            changes[name] = value
    if changes.get("enabled") is True:
        endpoint.disabled_reason = ""
    elif changes.get("enabled") is False:
        endpoint.disabled_reason = f"Disabled by {actor}"
    if changes:
        endpoint.save()
        audit_log_write(
            actor=actor, action="webhook_endpoint.update", obj=endpoint, changes=changes
        )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: str) -> None:
    """Delete `endpoint` with its delivery log; pending attempts are dropped."""
    audit_log_write(
        actor=actor,
        action="webhook_endpoint.delete",
        obj=endpoint,
        changes={"url": endpoint.url},
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, actor: str, now: datetime | None = None
) -> str:
    """A new signing secret for `endpoint`, returned this once. For 24 hours
    deliveries carry a signature with the previous secret too, so the
    receiver can switch without losing a message."""
    now = now or timezone.now()
    secret = webhook_secret_generate()
    endpoint.secrets = {
        "current": secret,
        "previous": (endpoint.secrets or {}).get("current"),
        "previous_until": (now + SECRET_OVERLAP).isoformat(),
    }
    endpoint.save(update_fields=["secrets", "updated_at"])
    audit_log_write(
        actor=actor,
        action="webhook_endpoint.rotate_secret",
        obj=endpoint,
        changes={"previous_valid_until": endpoint.secrets["previous_until"]},
    )
    return secret
