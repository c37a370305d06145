"""The operator's view of the webhooks: endpoints and the delivery log,
read-only (changes go through the services), with a redeliver action.
The signing secrets are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from commerce_sync.core.services.audit import operator_actor
from commerce_sync.errors import ApplicationError
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from commerce_sync.webhooks.services import webhook_delivery_redeliver


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ["url", "partner", "enabled", "event_types", "created_at"]
    list_filter = ["enabled", "partner"]
    search_fields = ["url", "description"]
    fields = [
        "id",
        "partner",
        "url",
        "description",
        "event_types",
        "enabled",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]  # never `secrets`
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return super().get_queryset(request).defer("secrets").select_related("partner")


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnly):
    list_display = ["id", "type", "partner", "created_at"]
    list_filter = ["type", "partner"]
    search_fields = ["id"]
    readonly_fields = ["id", "partner", "type", "payload", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "attempt",
        "status",
        "http_status",
        "duration_ms",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type", "endpoint__partner"]
    search_fields = ["event__id", "endpoint__url"]
    readonly_fields = [
        "id",
        "endpoint",
        "event",
        "attempt",
        "status",
        "http_status",
        "response_excerpt",
        "error",
        "duration_ms",
        "next_attempt_at",
        "attempted_at",
        "created_at",
    ]
    actions = ["redeliver"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return (
            super()
            .get_queryset(request)
            .select_related("event", "endpoint")
            .defer("endpoint__secrets")
        )

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.action(description="Redeliver the selected deliveries now", permissions=["view"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        actor = operator_actor(request.user.get_username())
        done = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_delivery_redeliver(delivery=delivery, actor=actor)
            except ApplicationError as error:
                self.message_user(
                    request, f"{delivery.endpoint.url}: {error.message}", messages.ERROR
                )
                continue
            done += 1
        if done:
            self.message_user(request, f"{done} delivery(ies) queued again.", messages.SUCCESS)
