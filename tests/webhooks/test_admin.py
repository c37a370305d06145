"""The operator's admin: endpoints and the delivery log, read-only, filtered,
with a redeliver action; never a signing secret."""

from __future__ import annotations

from django.urls import reverse

from commerce_sync.webhooks.models import WebhookDelivery
from commerce_sync.webhooks.services import webhook_endpoint_create, webhook_event_emit
from tests.factories import PartnerFactory


def test_the_admin_lists_endpoints_and_deliveries_and_redelivers(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    endpoint, secret = webhook_endpoint_create(partner=partner, url=receiver.url)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(partner=partner, type="sync.failed", data={"syncId": "s"})

    pages = [
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_webhookdelivery_changelist") + "?status__exact=failed",
        reverse("admin:webhooks_webhookevent_changelist"),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert secret.removeprefix("whsec_") not in response.content.decode()
    assert "sync.failed" in admin_client.get(pages[2]).content.decode()

    failed = WebhookDelivery.objects.get(attempt=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "redeliver", "_selected_action": [str(failed.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    assert "queued again" in response.content.decode()
    assert WebhookDelivery.objects.get(attempt=2).status == "succeeded"
    assert len(receiver.received) == 2
