"""The sync flow: its start URL (Codat's `get-sync-flow-url`) and the
partner's customisation of it (`get-config-text-sync-flow`,
`update-config-text-sync-flow`, `get-visible-accounts`,
`update-visible-accounts-sync-flow`).

The start URL is `<site>/setup/start/<code>`: the code is single-use and
valid SETUP_LINK_TTL seconds (30 by default, as Codat's passcode); the setup
flow spends it (`setup_link_consume`). Beyond Codat's parameters it takes an
optional `redirectUrl` (where the flow ends) and `locale` (en-us, fr-fr).
Visible accounts are read at Codat's `/clients/{clientId}/...`: the client is
the partner, named by its slug (or its numeric id); any other value is a 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import Conflict, responses, site_url, strict_body
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.platforms import ACCOUNTING, platform_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.core.services.setup_links import SyncFlowConflict, sync_flow_start
from commerce_sync.core.services.sync_flow import (
    LOCALES,
    TEXTS,
    sync_flow_texts,
    sync_flow_texts_update,
    visible_accounts_get,
    visible_accounts_set,
)

SyncFlowUrlSerializer = inline_serializer("SyncFlowUrl", {"url": serializers.CharField()})


# Codat's `LocalizationInfo`: {text key: Localization {text, required}}.
_LOCALIZATION = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "nullable": True},
        "required": {"type": "boolean"},
    },
}
LocalizationInfoSerializer = {
    "type": "object",
    "properties": {key: _LOCALIZATION for key in TEXTS},
    "additionalProperties": False,
}
VisibleAccountsSerializer = inline_serializer(
    "VisibleAccounts",
    {"visibleAccounts": serializers.ListField(child=serializers.CharField(), allow_null=True)},
)
LOCALE = OpenApiParameter(
    "locale", OpenApiTypes.STR, required=True, enum=list(LOCALES), description="en-us or fr-fr"
)


def _errors(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class SyncFlowStartView(PartnerApiView):
    """GET /config/sync/commerce/{commerceKey}/{accountingKey}/start."""

    # Codat's GET creates the company when new: a HEAD must not.
    http_method_names = ["get", "options"]

    @extend_schema(
        operation_id="get-sync-flow-url",
        tags=["Connections"],
        summary="Start new sync flow",
        parameters=[
            inline_serializer(
                "SyncFlowStartParameters",
                {
                    "merchantIdentifier": serializers.RegexField(
                        r"\S",
                        max_length=200,
                        help_text="The company's id, or your own id for the merchant (a new "
                        "company is created for an id never seen). Your own id is an opaque "
                        "string, as Codat treats it: compared exactly, case and all "
                        "(shop-1 and SHOP-1 are two merchants).",
                    ),
                    "redirectUrl": serializers.URLField(
                        required=False, help_text="Where the flow ends (http or https)."
                    ),
                    "locale": serializers.ChoiceField(choices=list(LOCALES), required=False),
                },
            )
        ],
        responses=responses(SyncFlowUrlSerializer, 400, 404, 409),
        description="Creates the company and its two connections if needed and returns a URL "
        "holding a single-use code valid SETUP_LINK_TTL seconds (30 by default).",
    )
    def get(self, request: Request, commerce_key: str, accounting_key: str) -> Response:
        identifier = request.query_params.get("merchantIdentifier", "").strip()
        if not identifier:
            raise ValidationError(
                {"merchantIdentifier": "Send the company id or your own id for the merchant."}
            )
        if len(identifier) > 200 or "\x00" in identifier:
            raise ValidationError({"merchantIdentifier": "At most 200 characters, no NUL."})
        partner = request.user.partner
        try:
            _, issued = sync_flow_start(
                partner=partner,
                commerce_key=commerce_key,
                accounting_key=accounting_key,
                merchant_identifier=identifier,
                redirect_url=request.query_params.get("redirectUrl", ""),
                locale=request.query_params.get("locale", ""),
                actor=partner_actor(partner.slug),
            )
        except LookupError:
            raise Http404 from None
        except SyncFlowConflict as error:
            raise Conflict(str(error)) from None
        except DjangoValidationError as error:
            raise _errors(error) from None
        return Response({"url": f"{site_url(request)}/setup/start/{issued.code}"})


class SyncFlowTextView(PartnerApiView):
    """GET and PATCH /sync/commerce/config/ui/text?locale=..."""

    def _locale(self, request: Request) -> str:
        locale = request.query_params.get("locale", "")
        if locale not in LOCALES:
            raise ValidationError({"locale": f"Send locale={' or '.join(LOCALES)}."})
        return locale

    @extend_schema(
        operation_id="get-config-text-sync-flow",
        tags=["Sync flow settings"],
        summary="Get preferences for text fields",
        parameters=[LOCALE],
        responses=responses(OpenApiResponse(response=LocalizationInfoSerializer), 400),
    )
    def get(self, request: Request) -> Response:
        return Response(sync_flow_texts(partner=request.user.partner, locale=self._locale(request)))

    @extend_schema(
        operation_id="update-config-text-sync-flow",
        tags=["Sync flow settings"],
        summary="Update preferences for text fields",
        parameters=[LOCALE],
        request={"application/json": LocalizationInfoSerializer},
        responses=responses(OpenApiResponse(response=LocalizationInfoSerializer), 400),
        description='Per key, {"text": "..."} sets it, "" hides it, null restores the default.',
    )
    def patch(self, request: Request) -> Response:
        locale = self._locale(request)
        if not isinstance(request.data, dict):
            raise ValidationError({"body": 'Send an object of text key: {"text": ...}.'})
        partner = request.user.partner
        try:
            texts = sync_flow_texts_update(
                partner=partner,
                locale=locale,
                changes=dict(request.data),
                actor=partner_actor(partner.slug),
            )
        except DjangoValidationError as error:
            raise _errors(error) from None
        return Response(texts)


def _accounting_platform(platform_key: str) -> str:
    platform = platform_get(platform_key, source_type=ACCOUNTING)
    if platform is None:
        raise Http404
    return platform.key


class VisibleAccountsView(PartnerApiView):
    """GET /clients/{clientId}/config/ui/accounts/platform/{platformKey}."""

    @extend_schema(
        operation_id="get-visible-accounts",
        tags=["Sync flow settings"],
        summary="List visible accounts",
        responses=responses(VisibleAccountsSerializer, 404),
        description="clientId is your partner slug.",
    )
    def get(self, request: Request, client_id: str, platform_key: str) -> Response:
        partner = request.user.partner
        if client_id not in (partner.slug, str(partner.pk)):
            raise Http404
        key = _accounting_platform(platform_key)
        return Response(
            {"visibleAccounts": visible_accounts_get(partner=partner, platform_key=key)}
        )


class VisibleAccountsUpdateView(PartnerApiView):
    """POST /sync/commerce/config/ui/accounts/platform/{platformKey}."""

    @extend_schema(
        operation_id="update-visible-accounts-sync-flow",
        tags=["Sync flow settings"],
        summary="Update visible accounts",
        request=VisibleAccountsSerializer,
        responses=responses(VisibleAccountsSerializer, 400, 404),
        description="{} or null resets to every account; a list shows those plus the required.",
    )
    def post(self, request: Request, platform_key: str) -> Response:
        key = _accounting_platform(platform_key)
        body = strict_body(request, ["visibleAccounts"])
        partner = request.user.partner
        try:
            visible = visible_accounts_set(
                partner=partner,
                platform_key=key,
                visible=body.get("visibleAccounts"),
                actor=partner_actor(partner.slug),
            )
        except DjangoValidationError as error:
            raise _errors(error) from None
        return Response({"visibleAccounts": visible})
