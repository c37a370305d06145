"""The protocol, in three calls around a POST handler:

    claim = idempotency_claim(partner=..., key=..., fingerprint=...)
    claim.replay   -> (status, body) stored: answer that, do nothing else
    claim.record   -> ours: handle the request, then idempotency_complete(...)

The claim is a row inserted in its own committed transaction under a unique
(partner, key) constraint, so of two concurrent requests with one key only
one inserts; the other finds the row (PostgreSQL makes it wait for the
first insert's transaction) and is refused while the first is unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from commerce_sync.core.models import Partner
from commerce_sync.errors import ApplicationError
from commerce_sync.idempotency.models import IdempotencyKey


class IdempotencyConflict(ApplicationError):
    """The key was used for another request (another body or path), or its
    first request is still being handled. Nothing was done."""


@dataclass(frozen=True)
class Claim:
    record: IdempotencyKey | None = None
    replay: tuple[int, Any] | None = None


def key_lifetime() -> timedelta:
    """How long a key is remembered (`IDEMPOTENCY_KEY_TTL_HOURS`, default 24)."""
    return timedelta(hours=getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24))


def idempotency_claim(
    *, partner: Partner, key: str, fingerprint: str, now: datetime | None = None
) -> Claim:
    """Claim `key` for this request (`Claim.record`), or find its stored
    answer (`Claim.replay`: HTTP status and JSON body). A key older than
    `key_lifetime()` is forgotten first. Raises IdempotencyConflict when the
    key belongs to another request or its first request is unanswered."""
    now = now or timezone.now()
    with transaction.atomic():
        IdempotencyKey.objects.filter(
            partner=partner, key=key, created_at__lt=now - key_lifetime()
        ).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    partner=partner, key=key, fingerprint=fingerprint, created_at=now
                )
            return Claim(record=record)
        except IntegrityError:
            found = IdempotencyKey.objects.get(partner=partner, key=key)
    if found.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different request; "
            "use a new key for a new request"
        )
    if found.status_code is None:
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still being handled; retry shortly"
        )
    return Claim(replay=(found.status_code, found.response_body))


def idempotency_complete(*, record: IdempotencyKey, status_code: int, body: Any) -> None:
    """Store the answer to replay. A server error (5xx) is not stored: the
    key is released so the request can be tried again."""
    if status_code >= 500:
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        return
    IdempotencyKey.objects.filter(pk=record.pk).update(
        status_code=status_code, response_body=body, completed_at=timezone.now()
    )


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Forget every key older than `key_lifetime()`; returns how many."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=now - key_lifetime()).delete()
    return deleted
