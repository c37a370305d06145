"""A company's configuration through the partner API (Codat's
`Configuration`, "Advanced controls"):

    GET  /config/companies/{companyId}/sync/commerce    get-configuration
    POST /config/companies/{companyId}/sync/commerce    set-configuration

`configuration` is Codat's `commerceConfiguration` (sales, payments, fees,
mapSettings; the choices as `selected...Id`), `schedule` Codat's
`syncSchedule`. The read adds the options of the accounting software read
live (cached a minute per connection); when the software cannot be read the
configuration comes without options and `warnings` says why. The write is
validated with the rules a sync applies and refused (400) with every
problem as a validation item whose `itemId` is the field's dotted path.
Codat's description declares no request body for set-configuration; send
the `Configuration` JSON (what get-configuration returned, edited).
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import strict_body
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.models import Frequency, Merchant, SyncConfiguration
from commerce_sync.core.selectors import merchant_get, merchant_with_configuration_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.core.services.configuration import (
    AccountingOptions,
    ConfigurationRefused,
    Problem,
    accounting_connection,
    accounting_options_get,
    configuration_with_options,
    sync_configuration_set,
)
from commerce_sync.errors import ApplicationError, CredentialsRevoked

log = logging.getLogger(__name__)
TAGS = ["Advanced controls"]
READ_ONLY = ("configured", "accountingSoftwareCompanyName", "warnings")


class ScheduleSerializer(serializers.Serializer):
    selectedFrequency = serializers.ChoiceField(choices=Frequency.values, required=False)
    frequencyOptions = serializers.ListField(child=serializers.CharField(), read_only=True)
    startDate = serializers.CharField(required=False, help_text="ISO 8601 date or date-time.")
    syncHour = serializers.IntegerField(min_value=0, max_value=23, required=False)
    timeZone = serializers.CharField(required=False, help_text="IANA zone, e.g. Europe/London.")

    class Meta:
        ref_name = "SyncSchedule"


class WarningSerializer(serializers.Serializer):
    itemId = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    validatorName = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "ConfigurationWarning"


CONFIGURATION_FIELDS = (
    "companyId",
    "accountingSoftwareCompanyName",
    "enable",
    "configured",
    "schedule",
    "configuration",
    "warnings",
)


class ConfigurationSerializer(serializers.Serializer):
    companyId = serializers.CharField(required=False)
    accountingSoftwareCompanyName = serializers.CharField(read_only=True)
    enable = serializers.BooleanField(required=False)
    configured = serializers.BooleanField(read_only=True)
    schedule = ScheduleSerializer(required=False)
    configuration = serializers.JSONField(
        help_text="Codat's commerceConfiguration: countryCode, mapSettings, sales, payments, "
        "fees (choices as selectedAccountId, selectedTaxRateId, selectedCustomerId, "
        "selectedSupplierId; options are read-only)."
    )
    warnings = WarningSerializer(
        many=True,
        read_only=True,
        help_text="Beyond Codat: why options are missing or what was not verified.",
    )

    class Meta:
        ref_name = "Configuration"


def _merchant(request: Request, company_id: str) -> Merchant:
    merchant = merchant_get(merchant_id=company_id, partner=request.user.partner)
    if merchant is None:  # another partner's company is indistinguishable from none
        raise Http404
    return merchant


def _warning(problem: Problem) -> dict[str, Any]:
    return {"itemId": problem.item_id, "message": problem.message, "validatorName": problem.code}


def _live_options(merchant: Merchant) -> tuple[AccountingOptions | None, list[Problem]]:
    """The accounting software's options, or None and a warning: a failing
    target never fails the read."""
    connection = accounting_connection(merchant=merchant)
    if connection is None:
        return None, [
            Problem("configuration", "No accounting software is linked: no options", "NoOptions")
        ]
    advice = "The options are missing; try again shortly."
    try:
        return accounting_options_get(connection=connection), []
    except CredentialsRevoked as error:
        # Trying again will not help: the grant itself is refused.
        message = error.message
        advice = (
            "The options are missing until the connection is authorised again "
            "(the merchant's setup flow, or update-connection-authorization)."
        )
    except ApplicationError as error:
        message = error.message
    except Exception:  # a connector bug must not break reading the configuration
        log.exception("accounting options failed", extra={"merchant": str(merchant.pk)})
        message = "internal error"
    return None, [
        Problem(
            "configuration",
            f"The accounting software ({connection.platform_key}) could not be read: "
            f"{message.rstrip('. ')}. {advice}",
            "OptionsUnavailable",
        )
    ]


def configuration_body(
    merchant: Merchant,
    config: SyncConfiguration | None,
    options: AccountingOptions | None,
    warnings: list[Problem],
) -> dict[str, Any]:
    """Codat's `Configuration` of `merchant` (unconfigured: the empty slots
    and the default schedule), plus `warnings`."""
    schedule: dict[str, Any] = {
        "selectedFrequency": config.frequency if config else Frequency.DAILY,
        "frequencyOptions": list(Frequency.values),
        "syncHour": config.sync_hour if config else 0,
        "timeZone": config.time_zone if config else merchant.time_zone,
    }
    if config is not None:
        schedule["startDate"] = f"{config.start_date.isoformat()}T00:00:00"
    return {
        "companyId": str(merchant.pk),
        "accountingSoftwareCompanyName": merchant.name,
        "enable": merchant.enabled,
        "configured": merchant.configured,
        "schedule": schedule,
        "configuration": configuration_with_options(config.document if config else {}, options),
        "warnings": [_warning(w) for w in warnings],
    }


_COMPANY = OpenApiParameter("companyId", str, OpenApiParameter.PATH, description="Company id.")


class ConfigurationView(PartnerApiView):
    @extend_schema(
        operation_id="get-configuration",
        tags=TAGS,
        parameters=[_COMPANY],
        responses={200: ConfigurationSerializer},
    )
    def get(self, request: Request, companyId: str) -> Response:
        """get-configuration: the stored configuration with live options."""
        merchant = merchant_with_configuration_get(
            partner=request.user.partner, merchant_id=companyId
        )
        if merchant is None:  # another partner's company is indistinguishable from none
            raise Http404
        config = getattr(merchant, "sync_configuration", None)  # loaded with the merchant
        options, warnings = _live_options(merchant)
        return Response(configuration_body(merchant, config, options, warnings))

    @extend_schema(
        operation_id="set-configuration",
        tags=TAGS,
        parameters=[_COMPANY],
        request=ConfigurationSerializer,
        responses={200: ConfigurationSerializer},
    )
    def post(self, request: Request, companyId: str) -> Response:
        """set-configuration: validate, save a new version, answer as get-configuration."""
        merchant = _merchant(request, companyId)
        # What get-configuration answers may be sent back as it is; the
        # read-only fields (configured, accountingSoftwareCompanyName,
        # warnings) are not changed by it. Anything else is refused by name.
        body = strict_body(request, CONFIGURATION_FIELDS)
        if "configuration" not in body:
            raise ValidationError(
                {
                    "configuration": "Send Codat's Configuration JSON with its configuration "
                    "object (get-configuration returns one to edit)."
                }
            )
        problems: list[Problem] = []
        if body.get("companyId") not in (None, str(merchant.pk)):
            problems.append(
                Problem("companyId", "companyId must be the company in the path", "invalid")
            )
        if body.get("enable") not in (None, merchant.enabled):
            problems.append(
                Problem(
                    "enable",
                    "enable cannot be changed here: send the current value or leave it out",
                    "readOnly",
                )
            )
        try:
            outcome = sync_configuration_set(
                merchant=merchant,
                document=body["configuration"],
                schedule=body.get("schedule"),
                problems=problems,
                actor=partner_actor(merchant.partner.slug),
            )
        except ConfigurationRefused as refused:
            detail: dict[str, list[ErrorDetail]] = {}
            for problem in refused.problems:
                detail.setdefault(problem.item_id, []).append(
                    ErrorDetail(problem.message, code=problem.code)
                )
            raise ValidationError(detail) from None
        merchant.refresh_from_db()
        options, warnings = _live_options(merchant)
        return Response(
            configuration_body(merchant, outcome.config, options, [*outcome.warnings, *warnings])
        )
