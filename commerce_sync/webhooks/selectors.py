"""Reads of the webhooks, always scoped to the partner: another partner's
objects are indistinguishable from none."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from commerce_sync.core.models import Partner
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def webhook_endpoints_list(*, partner: Partner) -> QuerySet[WebhookEndpoint]:
    """`partner`'s endpoints, oldest first (the secrets column deferred)."""
    return (
        WebhookEndpoint.objects.filter(partner=partner)
        .defer("secrets")
        .order_by("created_at", "id")
    )


def webhook_endpoint_get(*, partner: Partner, endpoint_id: str) -> WebhookEndpoint | None:
    """`partner`'s endpoint `endpoint_id`, or None (unknown, malformed or another's)."""
    pk = _uuid(endpoint_id)
    if pk is None:
        return None
    return WebhookEndpoint.objects.filter(partner=partner, pk=pk).first()


def webhook_deliveries_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """Every attempt to `endpoint`, newest first, with its event."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .order_by("-created_at", "-attempt", "id")
    )


def webhook_delivery_get(*, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery | None:
    """The attempt `delivery_id` to `endpoint`, or None."""
    pk = _uuid(delivery_id)
    if pk is None:
        return None
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint, pk=pk)
        .select_related("event", "endpoint")
        .first()
    )
