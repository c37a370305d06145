"""Partner webhooks through the API: register endpoints, rotate their
signing secret, read the delivery log and redeliver. Beyond Codat (which
documents no webhooks for sync outcomes).

The signing secret (Standard Webhooks' `whsec_...`) is in the answers to
create and rotate only. Everything is scoped to the calling partner: another
partner's endpoint or delivery is a 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.webhooks.models import WebhookDelivery, WebhookEndpoint
from commerce_sync.webhooks.selectors import (
    webhook_deliveries_list,
    webhook_delivery_get,
    webhook_endpoint_get,
    webhook_endpoints_list,
)
from commerce_sync.webhooks.services import (
    EVENT_TYPES,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)

TAGS = ["Webhooks"]
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 5000


# Serializers ----------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.Serializer):
    """An endpoint as the partner sees it: every read but create and rotate, so no secret."""

    id = serializers.UUIDField(read_only=True)
    url = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    eventTypes = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        source="event_types",
        read_only=True,
        help_text="The event types sent; empty means all.",
    )
    enabled = serializers.BooleanField(read_only=True)
    disabledReason = serializers.CharField(source="disabled_reason", read_only=True)
    createdDate = serializers.DateTimeField(source="created_at", read_only=True)


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """An endpoint with its signing secret: the answer to create and rotate only."""

    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_...), shown this once: store it to verify signatures.",
    )


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=2000, help_text="Where events are POSTed: an absolute http(s) URL."
    )
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    eventTypes = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        default=list,
        max_length=len(EVENT_TYPES) * 2,
        help_text="The event types to send; empty or absent means all.",
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    eventTypes = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        max_length=len(EVENT_TYPES) * 2,
    )
    enabled = serializers.BooleanField(
        required=False, help_text="false stops deliveries; true resumes them (after a 410)."
    )


class WebhookEndpointPageSerializer(serializers.Serializer):
    results = WebhookEndpointSerializer(many=True)
    pageNumber = serializers.IntegerField()
    pageSize = serializers.IntegerField()
    totalResults = serializers.IntegerField()


class WebhookDeliverySerializer(serializers.Serializer):
    """One attempt to deliver one event (the delivery log)."""

    id = serializers.UUIDField()
    eventId = serializers.CharField(source="event_id", help_text="The webhook-id header sent.")
    eventType = serializers.CharField(source="event.type")
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    httpStatus = serializers.IntegerField(source="http_status", allow_null=True)
    responseExcerpt = serializers.CharField(source="response_excerpt")
    error = serializers.CharField()
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    attemptedAt = serializers.DateTimeField(source="attempted_at", allow_null=True)
    createdDate = serializers.DateTimeField(source="created_at")


class WebhookDeliveryPageSerializer(serializers.Serializer):
    results = WebhookDeliverySerializer(many=True)
    pageNumber = serializers.IntegerField()
    pageSize = serializers.IntegerField()
    totalResults = serializers.IntegerField()


# Helpers --------------------------------------------------------------------------------

PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1.", default=1),
    OpenApiParameter(
        "pageSize", int, description=f"Items per page, 1 to {MAX_PAGE_SIZE}.", default=100
    ),
]
# Errors are Codat's ErrorMessage body (commerce_sync/api/errors.py).
NOT_FOUND = OpenApiResponse(description="No such webhook (or delivery) for this API key.")
BAD_REQUEST = OpenApiResponse(description="Invalid input; `validation.errors` names each field.")
UNAUTHORIZED = OpenApiResponse(description="Missing, unknown or revoked API key.")
ERRORS = {400: BAD_REQUEST, 401: UNAUTHORIZED}


def _body(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """The validated body; unknown fields are refused, not dropped."""
    if not isinstance(request.data, dict):
        raise ValidationError({"body": "Send a JSON object."})
    unknown = sorted(set(request.data) - set(serializer_class().fields))
    if unknown:
        raise ValidationError({name: "Unknown field; remove it." for name in unknown})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _page(request: Request, queryset: QuerySet, serializer_class: type) -> dict[str, Any]:
    """Codat's paging: `page` from 1 and `pageSize` (default 100, at most 5000)."""
    values = {}
    for name, default, top in (("page", 1, None), ("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = request.query_params.get(name, str(default))
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1 or (top is not None and number > top):
            limit = f"between 1 and {top}" if top else "1 or more"
            raise ValidationError({name: f"Send a whole number {limit}."})
        values[name] = number
    page, size = values["page"], values["pageSize"]
    total = queryset.count()
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size]) if offset < total else []
    return {
        "results": serializer_class(rows, many=True).data,
        "pageNumber": page,
        "pageSize": size,
        "totalResults": total,
    }


def _endpoint(request: Request, webhook_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_get(partner=request.user.partner, endpoint_id=webhook_id)
    if endpoint is None:
        raise Http404
    return endpoint


def _invalid(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


# Views ---------------------------------------------------------------------------------


class WebhookListView(PartnerApiView):
    @extend_schema(
        operation_id="listWebhooks",
        summary="List webhook endpoints",
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: WebhookEndpointPageSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        queryset = webhook_endpoints_list(partner=request.user.partner)
        return Response(_page(request, queryset, WebhookEndpointSerializer))

    @extend_schema(
        operation_id="createWebhook",
        summary="Register a webhook endpoint",
        description=(
            "Events (sync.completed, sync.failed, sync.disabled, connection.created, "
            "connection.deauthorized, configuration.updated, alert.raised, alert.resolved) are POSTed as JSON "
            '{"type", "timestamp", "data"}, signed per Standard Webhooks (headers '
            "webhook-id, webhook-timestamp, webhook-signature). The answer holds the signing "
            "secret, shown this once. Failed deliveries are retried with backoff for about "
            "27 hours; a 410 Gone answer disables the endpoint."
        ),
        tags=TAGS,
        request=WebhookEndpointCreateSerializer,
        responses={200: WebhookEndpointWithSecretSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = _body(request, WebhookEndpointCreateSerializer)
        try:
            endpoint, secret = webhook_endpoint_create(
                partner=request.user.partner,
                url=data["url"],
                description=data.get("description", ""),
                event_types=data.get("eventTypes") or [],
                actor=partner_actor(request.user.partner.slug),
            )
        except DjangoValidationError as error:
            raise _invalid(error) from None
        body = dict(WebhookEndpointSerializer(endpoint).data, secret=secret)
        return Response(body, status=status.HTTP_200_OK)


class WebhookDetailView(PartnerApiView):
    @extend_schema(
        operation_id="getWebhook",
        summary="Get a webhook endpoint",
        tags=TAGS,
        responses={200: WebhookEndpointSerializer, 404: NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        return Response(WebhookEndpointSerializer(_endpoint(request, webhook_id)).data)

    @extend_schema(
        operation_id="updateWebhook",
        summary="Change a webhook endpoint (URL, description, event types, enabled)",
        tags=TAGS,
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, 404: NOT_FOUND, **ERRORS},
    )
    def patch(self, request: Request, webhook_id: str) -> Response:
        endpoint = _endpoint(request, webhook_id)
        data = _body(request, WebhookEndpointUpdateSerializer)
        try:
            endpoint = webhook_endpoint_update(
                endpoint=endpoint,
                actor=partner_actor(request.user.partner.slug),
                url=data.get("url"),
                description=data.get("description"),
                event_types=data.get("eventTypes"),
                enabled=data.get("enabled"),
            )
        except DjangoValidationError as error:
            raise _invalid(error) from None
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="deleteWebhook",
        summary="Delete a webhook endpoint and its delivery log",
        tags=TAGS,
        responses={204: OpenApiResponse(description="Deleted."), 404: NOT_FOUND, **ERRORS},
    )
    def delete(self, request: Request, webhook_id: str) -> Response:
        webhook_endpoint_delete(
            endpoint=_endpoint(request, webhook_id),
            actor=partner_actor(request.user.partner.slug),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(PartnerApiView):
    @extend_schema(
        operation_id="rotateWebhookSecret",
        summary="Rotate a webhook endpoint's signing secret",
        description=(
            "Returns the new secret, shown this once. For 24 hours every delivery carries "
            "two signatures in webhook-signature (new and previous secret), so the receiver "
            "can switch without losing a message."
        ),
        tags=TAGS,
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer, 404: NOT_FOUND, **ERRORS},
    )
    def post(self, request: Request, webhook_id: str) -> Response:
        endpoint = _endpoint(request, webhook_id)
        secret = webhook_endpoint_secret_rotate(
            endpoint=endpoint, actor=partner_actor(request.user.partner.slug)
        )
        return Response(dict(WebhookEndpointSerializer(endpoint).data, secret=secret))


class WebhookDeliveriesView(PartnerApiView):
    @extend_schema(
        operation_id="listWebhookDeliveries",
        summary="The delivery log of a webhook endpoint (every attempt, newest first)",
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: WebhookDeliveryPageSerializer, 404: NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        queryset = webhook_deliveries_list(endpoint=_endpoint(request, webhook_id))
        return Response(_page(request, queryset, WebhookDeliverySerializer))


class WebhookRedeliverView(PartnerApiView):
    @extend_schema(
        operation_id="redeliverWebhookDelivery",
        summary="Send a delivery's event to its endpoint again, now",
        description=(
            "Answers with the attempt queued (a new one, or the pending retry made due now). "
            "A disabled endpoint must be enabled first (400)."
        ),
        tags=TAGS,
        request=None,
        responses={200: WebhookDeliverySerializer, 404: NOT_FOUND, **ERRORS},
    )
    def post(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        endpoint = _endpoint(request, webhook_id)
        delivery = webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        if delivery is None:
            raise Http404
        again = webhook_delivery_redeliver(
            delivery=delivery, actor=partner_actor(request.user.partner.slug)
        )
        again = webhook_delivery_get(endpoint=endpoint, delivery_id=str(again.pk)) or again
        return Response(WebhookDeliverySerializer(again).data)
