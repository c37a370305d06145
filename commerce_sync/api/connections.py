"""Connections of a company (Codat's `Connections` tag): list, create, unlink
(`update-connection` with status Unlinked) and authorise
(`update-connection-authorization`).

A Codat `Connection` is our `Connection`: `id` its UUID, `integrationKey`
our platform key (a key of the connector registry, not Codat's four letters),
`integrationId`/`sourceId` stable UUIDs derived from that key, `sourceType`
Commerce or Accounting, `platformName` the platform's display name, `status`
PendingAuth/Linked/Unlinked/Deauthorized as stored, `created` its creation,
`linkUrl` the setup flow (the merchant enters it through the sync-flow start
URL), `dataConnectionErrors` the last error of a Deauthorized connection.
Credentials are never returned.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import (
    codat_datetime,
    paged_serializer,
    queried_page,
    responses,
    site_url,
    strict_body,
)
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.models import Connection, Merchant
from commerce_sync.core.platforms import Platform, platform_get, platforms_all
from commerce_sync.core.selectors import connection_get, connections_for_company, merchant_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.core.services.connections import (
    connection_authorization_update,
    connection_create,
    connection_unlink,
)

TAG = "Connections"
STATUSES = [choice.value for choice in Connection.Status]


class DataConnectionErrorSerializer(serializers.Serializer):
    statusCode = serializers.CharField(required=False)
    statusText = serializers.CharField(required=False)
    errorMessage = serializers.CharField()
    erroredOnUtc = serializers.CharField()
    status = serializers.CharField(allow_null=True)


class ConnectionSerializer(serializers.Serializer):
    """Codat's `Connection` (schema only; `connection_json` builds it)."""

    id = serializers.UUIDField()
    integrationId = serializers.UUIDField()
    integrationKey = serializers.CharField()
    sourceId = serializers.UUIDField()
    sourceType = serializers.ChoiceField(choices=["Commerce", "Accounting"])
    platformName = serializers.CharField()
    linkUrl = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    lastSync = serializers.CharField(required=False)
    created = serializers.CharField()
    dataConnectionErrors = DataConnectionErrorSerializer(many=True)


ConnectionsSerializer = paged_serializer("ConnectionsSerializer", ConnectionSerializer)


def connection_json(connection: Connection, *, base: str) -> dict[str, Any]:
    """A connection in Codat's `Connection` shape (see the module docstring);
    `base` is the site URL for `linkUrl`."""
    platform = platform_get(connection.platform_key)
    name = platform.name if platform is not None else connection.platform_key
    source = (
        "Accounting" if connection.source_type == Connection.SourceType.ACCOUNTING else "Commerce"
    )
    key_platform = platform or _unknown_platform(connection.platform_key, source)
    errors = []
    if connection.status == Connection.Status.DEAUTHORIZED and connection.last_error:
        errors.append(
            {
                "errorMessage": connection.last_error,
                "erroredOnUtc": codat_datetime(connection.updated_at),
                "status": "Active",
            }
        )
    return {
        "id": str(connection.pk),
        "integrationId": str(key_platform.integration_id),
        "integrationKey": connection.platform_key,
        "sourceId": str(key_platform.source_id),
        "sourceType": source,
        "platformName": name,
        "linkUrl": f"{base}/setup/",
        "status": connection.status,
        "created": codat_datetime(connection.created_at),
        "dataConnectionErrors": errors,
    }


def _unknown_platform(key: str, source: str) -> Platform:
    return Platform(key, key, source)


def _merchant(request: Request, company_id: str) -> Merchant:
    merchant = merchant_get(merchant_id=company_id, partner=request.user.partner)
    if merchant is None:  # another partner's company is indistinguishable from none
        raise Http404
    return merchant


def _connection(request: Request, company_id: str, connection_id: str) -> Connection:
    connection = connection_get(
        merchant=_merchant(request, company_id), connection_id=connection_id
    )
    if connection is None:
        raise Http404
    return connection


class ListParametersSerializer(serializers.Serializer):
    """Codat's list parameters (`components.parameters` page, pageSize, query, orderBy)."""

    page = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, default=1, help_text="Page number, from 1."
    )
    pageSize = serializers.IntegerField(
        min_value=1, max_value=5000, default=100, help_text="Results per page, 1 to 5000."
    )
    query = serializers.CharField(
        required=False,
        help_text="Codat query: field=value, !=, ~ (contains), > < >= <= on dates, && and || "
        "(&& first), { } or ( ) to group; quote values holding those.",
    )
    orderBy = serializers.CharField(required=False, help_text="A field, '-' first for descending.")


LIST_PARAMETERS = [ListParametersSerializer]


class ConnectionsView(PartnerApiView):
    """GET and POST /companies/{companyId}/connections."""

    @extend_schema(
        operation_id="list-connections",
        tags=[TAG],
        summary="List connections",
        parameters=LIST_PARAMETERS,
        responses=responses(ConnectionsSerializer, 400, 404),
        description="The company's connections, paged; `query` fields: id, integrationKey "
        "(or platformKey), sourceType, status, created.",
    )
    def get(self, request: Request, company_id: str) -> Response:
        merchant = _merchant(request, company_id)
        base = site_url(request)
        return queried_page(
            request,
            path=f"/companies/{merchant.pk}/connections",
            select=lambda query, order_by: connections_for_company(
                merchant=merchant, query=query, order_by=order_by
            ),
            serialize=lambda c: connection_json(c, base=base),
        )

    @extend_schema(
        operation_id="create-connection",
        tags=[TAG],
        summary="Create connection",
        request=inline_serializer(
            "CreateConnection",
            {"platformKey": serializers.ChoiceField(choices=[p.key for p in platforms_all()])},
        ),
        responses=responses(ConnectionSerializer, 400, 404),
        description="A new connection to `platformKey` (a key from list-integrations): PendingAuth "
        "until authorised, or Linked at once for platforms with nothing to authorise "
        "(sandbox, beancount, partner-push). "
        "A company has at most one accounting connection that is not Unlinked.",
    )
    def post(self, request: Request, company_id: str) -> Response:
        merchant = _merchant(request, company_id)
        body = strict_body(request, ["platformKey"])
        key = body.get("platformKey")
        if not isinstance(key, str) or not key:
            raise ValidationError({"platformKey": "Send the platform key (see list-integrations)."})
        platform = platform_get(key)
        if platform is None:
            raise ValidationError(
                {"platformKey": f"Unknown platform {key!r}; see list-integrations for the keys."}
            )
        try:
            connection = connection_create(
                merchant=merchant,
                platform_key=platform.key,
                source_type=platform.connection_source_type,
                actor=partner_actor(request.user.partner.slug),
            )
        except DjangoValidationError as error:
            raise ValidationError({"platformKey": error.messages}) from None
        return Response(connection_json(connection, base=site_url(request)))


class ConnectionView(PartnerApiView):
    """PATCH /companies/{companyId}/connections/{connectionId}."""

    @extend_schema(
        operation_id="update-connection",
        tags=[TAG],
        summary="Update connection",
        request=inline_serializer(
            "UpdateConnection",
            {"status": serializers.ChoiceField(choices=STATUSES, allow_null=True, required=False)},
        ),
        responses=responses(ConnectionSerializer, 400, 404),
        description="Only `Unlinked` may be set (null or absent changes nothing). Unlinking "
        "deletes the stored credentials. It also revokes the grant on the platform where the "
        "platform publishes a way to (e.g. xero, quickbooks, a Stripe Connect account); "
        "the others (e.g. freeagent) publish none, so the merchant removes the app in the "
        "platform's own settings to end the grant there.",
    )
    def patch(self, request: Request, company_id: str, connection_id: str) -> Response:
        connection = _connection(request, company_id, connection_id)
        body = strict_body(request, ["status"])
        wanted = body.get("status")
        if wanted is not None:
            if wanted != Connection.Status.UNLINKED:
                raise ValidationError(
                    {
                        "status": "Only Unlinked can be set; a connection is linked by authorising it."
                    }
                )
            connection = connection_unlink(
                connection=connection, actor=partner_actor(request.user.partner.slug)
            )
        return Response(connection_json(connection, base=site_url(request)))


class ConnectionAuthorizationView(PartnerApiView):
    """PUT /companies/{companyId}/connections/{connectionId}/authorization."""

    @extend_schema(
        operation_id="update-connection-authorization",
        tags=[TAG],
        summary="Update authorization",
        request={
            "application/json": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        responses=responses(ConnectionSerializer, 400, 404),
        description="The platform's credentials as a flat object of strings; stored encrypted, "
        "never returned. A PendingAuth or Deauthorized connection becomes Linked. Each "
        "platform takes its own keys (anything else is a 400 naming the key): xero, "
        "quickbooks, freeagent, shopify, square, zettle: access_token, refresh_token (optional "
        "expires_at, ISO 8601 with offset); exact: the same with division (the administration's "
        "number) and host (nl, be, co.uk, de, fr, es or com), both kept as settings; sage: the "
        "same tokens with business_id (the business booked into); myob: the same tokens with "
        "company_file (the company file's GUID), each kept as a setting; freeagent may add "
        "transit_category (a nominal code, kept as a setting); http-ledger: api_key; stripe: api_key (a restricted "
        "key, rk_...; a Stripe Connect account links through the setup flow only); "
        "sumup: api_key (sup_sk_...), or "
        "access_token and refresh_token (optional expires_at), with merchant_code (as the SumUp "
        "dashboard shows it; kept as a setting, not a secret); lightspeed-k: access_token and "
        "refresh_token (optional expires_at); clover: access_token, "
        "refresh_token (optional expires_at), merchant_id and region (na, eu, la or sandbox; "
        "both kept as settings, not secrets); partner: api_key, or "
        "client_id and client_secret; sandbox, beancount, partner-push need none: send {}.",
    )
    def put(self, request: Request, company_id: str, connection_id: str) -> Response:
        connection = _connection(request, company_id, connection_id)
        if not isinstance(request.data, dict):
            raise ValidationError({"body": "Send a JSON object of the platform's credentials."})
        try:
            connection = connection_authorization_update(
                connection=connection,
                credentials=dict(request.data),
                actor=partner_actor(request.user.partner.slug),
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from None
        return Response(connection_json(connection, base=site_url(request)))
