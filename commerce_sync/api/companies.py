"""Companies (Codat's `list-companies` and `create-company`, plus our
GET/PUT/DELETE /companies/{companyId}).

A Codat company is our `Merchant`:

| Codat `Company` | ours |
|---|---|
| `id` | `Merchant.id` (UUID) |
| `name`, `description`, `tags` | the same fields |
| `redirect` | the setup flow, `<site>/setup/` (merchants enter it through the sync-flow start URL) |
| `created` | `created_at` |
| `lastSync` | the end of the merchant's latest finished sync run (absent before the first) |
| `createdByUserName` | absent (companies are created with an API key, not by a user) |
| `dataConnections` | its connections (see `commerce_sync.api.connections`) |

Beyond Codat, a company also carries what a merchant needs to sync:
`merchantIdentifier` (the partner's own id, `Merchant.external_id`, unique
per partner; an opaque string as Codat treats it, so compared exactly, case
included), `country` (an assigned ISO 3166-1 alpha-2 code), `currency` (an
active ISO 4217 code; both checked against pycountry's tables),
`timeZone` (IANA) and `enabled`; and the merchant's own alert settings,
`alertEmail`, `alertsOptOut` and `language` (of the alert emails), set with
PUT or by the merchant on the page their alert emails link to. On create
they are optional:
`merchantIdentifier` defaults to none, the other three to the partner's
defaults (`PartnerSyncFlowSettings.merchant_defaults`, else the
MERCHANT_DEFAULT_* settings).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import (
    Conflict,
    codat_datetime,
    paged_serializer,
    queried_page,
    responses,
    site_url,
    strict_body,
)
from commerce_sync.api.connections import LIST_PARAMETERS, ConnectionSerializer, connection_json
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.models import Merchant
from commerce_sync.core.selectors import companies_for_partner, company_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.core.services.merchants import (
    MerchantHasHistory,
    merchant_create,
    merchant_defaults,
    merchant_delete,
    merchant_update,
)
from commerce_sync.core.validators import validate_country_code, validate_currency_code

TAG = "Advanced controls"


class CompanySerializer(serializers.Serializer):
    """Codat's `Company` and our additions (schema only; `company_json` builds it)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    redirect = serializers.CharField()
    lastSync = serializers.CharField(required=False)
    created = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())
    dataConnections = ConnectionSerializer(many=True)
    merchantIdentifier = serializers.CharField()
    country = serializers.CharField()
    currency = serializers.CharField()
    timeZone = serializers.CharField()
    enabled = serializers.BooleanField()
    alertEmail = serializers.CharField(help_text="Where the merchant's alert emails go ('': none).")
    alertsOptOut = serializers.BooleanField(help_text="The merchant asked for no alert emails.")
    language = serializers.CharField(help_text="The language of the merchant's alert emails.")


CompaniesSerializer = paged_serializer("CompaniesSerializer", CompanySerializer)


class _CompanyFieldsSerializer(serializers.Serializer):
    """The company fields a partner may send on create and on update."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    tags = serializers.DictField(child=serializers.CharField(max_length=100), required=False)
    country = serializers.RegexField(
        r"^[A-Z]{2}$",
        required=False,
        validators=[validate_country_code],
        help_text="An assigned ISO 3166-1 alpha-2 code, e.g. GB.",
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        validators=[validate_currency_code],
        help_text="An active ISO 4217 code, e.g. GBP.",
    )
    timeZone = serializers.CharField(required=False, help_text="IANA, e.g. Europe/London")


class CreateCompanySerializer(_CompanyFieldsSerializer):
    """Codat's `CreateCompany` (name, description, tags) and our optional extras."""

    merchantIdentifier = serializers.CharField(
        required=False,
        max_length=200,
        allow_blank=True,
        help_text="Your own id for the merchant, unique among your companies: an opaque string "
        "compared exactly, case and all (shop-1 and SHOP-1 are two merchants).",
    )


class UpdateCompanySerializer(_CompanyFieldsSerializer):
    """PUT: `name` required; the other fields change only when sent (the
    partner's id of a company, `merchantIdentifier`, never changes)."""

    alertEmail = serializers.EmailField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="The merchant's address for alert emails; '' for none.",
    )
    alertsOptOut = serializers.BooleanField(
        required=False, help_text="True: the merchant gets no alert emails (support still does)."
    )
    language = serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        required=False,
        help_text="The language of the merchant's alert emails and settings page.",
    )


_FIELDS = {
    "name": "name",
    "description": "description",
    "tags": "tags",
    "merchantIdentifier": "external_id",
    "country": "country",
    "currency": "currency",
    "timeZone": "time_zone",
    "alertEmail": "alert_email",
    "alertsOptOut": "alerts_opt_out",
    "language": "language",
}
_API_NAMES = {model: api for api, model in _FIELDS.items()}


def company_json(merchant: Merchant, *, base: str) -> dict[str, Any]:
    """A merchant in Codat's `Company` shape (see the module docstring)."""
    body: dict[str, Any] = {
        "id": str(merchant.pk),
        "name": merchant.name,
        "description": merchant.description,
        "redirect": f"{base}/setup/",
        "created": codat_datetime(merchant.created_at),
        "tags": merchant.tags or {},
        "dataConnections": [
            connection_json(connection, base=base) for connection in merchant.connections.all()
        ],
        "merchantIdentifier": merchant.external_id,
        "country": merchant.country,
        "currency": merchant.currency,
        "timeZone": merchant.time_zone,
        "enabled": merchant.enabled,
        "alertEmail": merchant.alert_email,
        "alertsOptOut": merchant.alerts_opt_out,
        "language": merchant.language,
    }
    last_sync = getattr(merchant, "last_sync", None)
    if last_sync is not None:
        body["lastSync"] = codat_datetime(last_sync)
    return body


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    body = strict_body(request, serializer_class().fields)
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return {_FIELDS[name]: value for name, value in serializer.validated_data.items()}


def _model_errors(error: DjangoValidationError) -> ValidationError:
    """A model's validation error with our API field names."""
    if hasattr(error, "error_dict"):
        return ValidationError(
            {
                _API_NAMES.get(field, field): messages
                for field, messages in error.message_dict.items()
            }
        )
    return ValidationError({"body": error.messages})


def _company(request: Request, company_id: str) -> Merchant:
    merchant = company_get(partner=request.user.partner, merchant_id=company_id)
    if merchant is None:  # another partner's company is indistinguishable from none
        raise Http404
    return merchant


class CompaniesView(PartnerApiView):
    """GET and POST /companies."""

    @extend_schema(
        operation_id="list-companies",
        tags=[TAG],
        summary="List companies",
        parameters=LIST_PARAMETERS,
        responses=responses(CompaniesSerializer, 400),
        description="The partner's companies, paged. `query` fields: id, name, description, "
        "createdDate; `orderBy` the same (e.g. `-createdDate`).",
    )
    def get(self, request: Request) -> Response:
        base = site_url(request)
        return queried_page(
            request,
            path="/companies",
            select=lambda query, order_by: companies_for_partner(
                partner=request.user.partner, query=query, order_by=order_by
            ),
            serialize=lambda merchant: company_json(merchant, base=base),
        )

    @extend_schema(
        operation_id="create-company",
        tags=[TAG],
        summary="Create company",
        request=CreateCompanySerializer,
        responses=responses(CompanySerializer, 400),
        description="A new company (merchant). country, currency and timeZone default to the "
        "partner's defaults; merchantIdentifier is the partner's own id, unique per partner.",
    )
    def post(self, request: Request) -> Response:
        partner = request.user.partner
        values = _validated(request, CreateCompanySerializer)
        values = {**merchant_defaults(partner=partner), **values}
        try:
            merchant = merchant_create(partner=partner, actor=partner_actor(partner.slug), **values)
        except DjangoValidationError as error:
            raise _model_errors(error) from None
        return Response(company_json(_company(request, str(merchant.pk)), base=site_url(request)))


class CompanyView(PartnerApiView):
    """GET, PUT and DELETE /companies/{companyId} (beyond Codat)."""

    @extend_schema(
        operation_id="get-company",
        tags=[TAG],
        summary="Get company",
        responses=responses(CompanySerializer, 404),
    )
    def get(self, request: Request, company_id: str) -> Response:
        return Response(company_json(_company(request, company_id), base=site_url(request)))

    @extend_schema(
        operation_id="update-company",
        tags=[TAG],
        summary="Update company",
        request=UpdateCompanySerializer,
        responses=responses(CompanySerializer, 400, 404),
        description="`name` is required; the other fields change only when sent.",
    )
    def put(self, request: Request, company_id: str) -> Response:
        merchant = _company(request, company_id)
        values = _validated(request, UpdateCompanySerializer)
        try:
            merchant_update(
                merchant=merchant, actor=partner_actor(request.user.partner.slug), **values
            )
        except DjangoValidationError as error:
            raise _model_errors(error) from None
        return Response(company_json(_company(request, company_id), base=site_url(request)))

    @extend_schema(
        operation_id="delete-company",
        tags=[TAG],
        summary="Delete company",
        responses=responses(None, 404, 409, status_code=204),
        description="Deletes a company that never synced (with its connections and "
        "configuration). A company with sync history is refused with 409: its history is kept.",
    )
    def delete(self, request: Request, company_id: str) -> Response:
        merchant = _company(request, company_id)
        try:
            merchant_delete(merchant=merchant, actor=partner_actor(request.user.partner.slug))
        except MerchantHasHistory as error:
            raise Conflict(str(error)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
