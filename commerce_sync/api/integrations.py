"""Integrations and their branding (Codat's `list-integrations`,
`get-integration-branding`).

An integration is one of our platforms (`commerce_sync.core.platforms`): `key`
is the connector registry's key (what `create-connection` takes as
`platformKey`), `name` its display name, `sourceType` Commerce or
Accounting, `integrationId`/`sourceId` stable UUIDs, `enabled` true (every
installed platform is offered). Logos are our own static files
(`/static/integrations/<key>.svg`, and `<key>-square.svg`), absolute URLs on
this site.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.templatetags.static import static
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import malformed_query, paged, paged_serializer, responses, site_url
from commerce_sync.api.connections import LIST_PARAMETERS
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.platforms import Platform, platform_get, platforms_all
from commerce_sync.core.query import (
    Field,
    QueryError,
    order_by_parse,
    order_rows,
    query_matches,
    query_parse,
)

TAG = "Integrations"

INTEGRATION_FIELDS = {
    "key": Field("string", "key"),
    "name": Field("string", "name"),
    "sourceType": Field("string", "sourceType"),
    "enabled": Field("bool", "enabled"),
}


class IntegrationSerializer(serializers.Serializer):
    """Codat's `Integration` (schema only)."""

    key = serializers.CharField()
    logoUrl = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    sourceId = serializers.UUIDField()
    sourceType = serializers.ChoiceField(choices=["Commerce", "Accounting"])
    integrationId = serializers.UUIDField()
    isOfflineConnector = serializers.BooleanField()
    isBeta = serializers.BooleanField()
    dataProvidedBy = serializers.CharField()


IntegrationsSerializer = paged_serializer("IntegrationsSerializer", IntegrationSerializer)

_IMAGE = inline_serializer(
    "BrandingImage",
    {
        "image": inline_serializer(
            "ImageReference", {"src": serializers.CharField(), "alt": serializers.CharField()}
        )
    },
)


class BrandingSerializer(serializers.Serializer):
    """Codat's `Branding` (schema only)."""

    logo = inline_serializer("BrandingLogo", {"full": _IMAGE, "square": _IMAGE})
    button = inline_serializer("BrandingButton", {"default": _IMAGE, "hover": _IMAGE})
    sourceId = serializers.UUIDField()


def _logo(base: str, platform: Platform, *, square: bool = False) -> str:
    name = f"{platform.key}-square.svg" if square else f"{platform.key}.svg"
    return base + static(f"integrations/{name}")


def integration_json(platform: Platform, *, base: str) -> dict[str, Any]:
    return {
        "key": platform.key,
        "logoUrl": _logo(base, platform),
        "name": platform.name,
        "enabled": True,
        "sourceId": str(platform.source_id),
        "sourceType": platform.source_type,
        "integrationId": str(platform.integration_id),
        "isOfflineConnector": False,
        "isBeta": False,
        "dataProvidedBy": "Commerce Sync",
    }


class IntegrationsView(PartnerApiView):
    """GET /config/integrations."""

    @extend_schema(
        operation_id="list-integrations",
        tags=[TAG],
        summary="List integrations",
        parameters=LIST_PARAMETERS,
        responses=responses(IntegrationsSerializer, 400),
        description="Our platforms, paged; `query` fields: key, name, sourceType, enabled "
        "(e.g. `sourceType=Accounting`).",
    )
    def get(self, request: Request) -> Response:
        base = site_url(request)
        rows = [integration_json(platform, base=base) for platform in platforms_all()]
        try:
            node = query_parse(request.query_params.get("query", ""), INTEGRATION_FIELDS)
            order = order_by_parse(request.query_params.get("orderBy", ""), INTEGRATION_FIELDS)
        except QueryError as error:
            raise malformed_query(error) from None
        rows = [row for row in rows if query_matches(node, INTEGRATION_FIELDS, row)]
        if order is not None:
            rows = order_rows(rows, order, tiebreak="key")
        return Response(
            paged(request, path="/config/integrations", items=rows, serialize=lambda row: row)
        )


class IntegrationBrandingView(PartnerApiView):
    """GET /config/integrations/{platformKey}/branding."""

    @extend_schema(
        operation_id="get-integration-branding",
        tags=[TAG],
        summary="Get branding for an integration",
        responses=responses(BrandingSerializer, 404),
    )
    def get(self, request: Request, platform_key: str) -> Response:
        platform = platform_get(platform_key)
        if platform is None:
            raise Http404
        base = site_url(request)
        full, square = _logo(base, platform), _logo(base, platform, square=True)

        def image(src: str, what: str) -> dict[str, Any]:
            return {"image": {"src": src, "alt": f"{platform.name} {what}"}}

        return Response(
            {
                "logo": {"full": image(full, "logo"), "square": image(square, "square logo")},
                "button": {"default": image(full, "button"), "hover": image(full, "button")},
                "sourceId": str(platform.source_id),
            }
        )
