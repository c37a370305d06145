"""django-q2 tasks of the webhooks: thin callers of the services."""

from __future__ import annotations

from datetime import datetime

from commerce_sync.webhooks.services import webhook_delivery_attempt


def webhook_deliver(delivery_id: str, now: str | None = None) -> str:
    """One attempt of one delivery (see `webhook_delivery_attempt`); `now`
    is an ISO date-time when the sweep ran for a given time (tests)."""
    delivery = webhook_delivery_attempt(
        delivery_id=delivery_id, now=datetime.fromisoformat(now) if now else None
    )
    if delivery is None:
        return "skipped: not pending or not due, or another worker has it"
    return f"{delivery.status} (attempt {delivery.attempt}, HTTP {delivery.http_status})"
