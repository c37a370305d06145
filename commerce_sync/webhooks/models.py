"""Partner webhooks: where a partner wants events, the events, and every
delivery attempt (the delivery log).

Models hold fields and constraints only; behaviour lives in `services.py`
and reads in `selectors.py`.
"""

import secrets
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from connectors.credentials import EncryptedJSONField


def event_id_generate() -> str:
    """A Standard Webhooks message id: `msg_` and 26 random hexadecimal characters."""
    return "msg_" + secrets.token_hex(13)


class WebhookEndpoint(models.Model):
    """A partner's receiver URL. `event_types` lists the subscribed event
    types; empty means every type. `secrets` is encrypted at rest (Fernet,
    like `Connection.credentials`): {"current": "whsec_...", "previous":
    "whsec_..." or None, "previous_until": ISO date-time or None}."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["partner", "created_at"])]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One event for one partner; `payload` is the exact JSON body sent
    ({"type", "timestamp", "data"})."""

    id = models.CharField(primary_key=True, max_length=40, default=event_id_generate)
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=50)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["partner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one endpoint. A pending row is an
    attempt due at `next_attempt_at`; a failed attempt that may be retried
    is followed by a new pending row (attempt + 1); the last failed attempt
    is `abandoned`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} #{self.attempt} ({self.status})"
