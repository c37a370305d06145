"""Syncs through the partner API: Codat's "Sync" operations.

    POST /companies/{companyId}/sync/commerce/latest            request-sync
    POST /meta/companies/{companyId}/sync/commerce/historic     request-sync-for-date-range
    GET  /meta/companies/{companyId}/sync/commerce/status       get-sync-status
    GET  /companies/{companyId}/sync/commerce/syncs/lastSuccessful/status  get-last-successful-sync
    GET  /companies/{companyId}/sync/commerce/syncs/latest/status          get-latest-sync
    GET  /companies/{companyId}/sync/commerce/syncs/{syncId}/status        get-sync-by-id
    GET  /companies/{companyId}/sync/commerce/syncs/list/status            list-syncs

(paths, bodies and field names from Codat's Sync for Commerce OpenAPI
description). A requested sync is created pending and answered at once
(`SyncSummary`, status code 1000); a django-q2 worker runs it. Refusals
the engine decides (a sync running or queued, a range overlapping one that
posted: 5080; nothing due: 2040) are 400 `ErrorMessage`s with the code in
`detailedErrorCode`, 400 being the refusal status the description declares
for these operations. Each read is one query whatever the history (the
company's scope is in it; the partner's key is remembered by the process,
the rate limit counted in Redis or by one upsert): list-syncs is paged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.common import int_parameter, strict_body
from commerce_sync.api.errors import error_response
from commerce_sync.api.throttling import PartnerRateThrottle, PartnerSyncRateThrottle
from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.selectors import (
    merchant_get,
    sync_run_get,
    sync_run_last_successful,
    sync_run_latest,
    sync_runs_page,
)
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.core.services.syncs import sync_request
from commerce_sync.errors import DuplicateSync, NothingDue, StatusCode
from mapping.periods import business_day, local_instant, zone

TAGS = ["Sync"]
Status = SyncRun.Status

# Codat's text status of a finished failed sync, by its code.
_FAILED_TEXT = {
    StatusCode.CONFIGURATION_ERROR: "ValidateError",
    StatusCode.CONNECTION_DELETED: "CompanyDeleted",
    StatusCode.CONNECTION_DEAUTHORIZED: "Deauthorized",
    StatusCode.SUBSCRIPTION_EXPIRED: "SubscriptionExpired",
    StatusCode.DUPLICATION_PROTECTION: "DuplicationProtection",
    StatusCode.DATA_PROCESSING_ERROR: "MapCoreError",
    StatusCode.DATA_WRITE_ERROR: "PushError",
}


def sync_status_text(run: SyncRun) -> str:
    """Codat's `syncStatus` for a run: Pending, Started, Complete, or the
    failure's name (`PushError`, `ValidateError`, ...; `Error` otherwise)."""
    if run.status == Status.PENDING:
        return "Pending"
    if run.status == Status.RUNNING:
        return "Started"
    if run.status == Status.SUCCEEDED:
        return "Complete"
    return _FAILED_TEXT.get(run.status_code, "Error")  # type: ignore[call-overload]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _errors(run: SyncRun) -> tuple[str | None, str | None]:
    errors = [m.get("message", "") for m in run.messages or [] if m.get("level") == "error"]
    if not errors:
        return None, None
    return errors[0], "; ".join(errors)


def company_sync_status(run: SyncRun) -> dict[str, Any]:
    """Codat's `CompanySyncStatus` of `run`. `syncUtc` is when it started
    (when it was requested, while pending)."""
    error, exception = _errors(run)
    return {
        "companyId": str(run.merchant_id),
        "syncId": str(run.pk),
        "syncStatusCode": int(run.status_code),
        "syncStatus": sync_status_text(run),
        "errorMessage": error,
        "syncExceptionMessage": exception,
        "syncUtc": _iso(run.started_at or run.created_at),
        "dataPushed": run.data_pushed,
    }


def _merchant(request: Request, company_id: str) -> Merchant:
    merchant = merchant_get(merchant_id=company_id, partner=request.user.partner)
    if merchant is None:  # another partner's company is indistinguishable from none
        raise Http404
    return merchant


# -- OpenAPI shapes (Codat's component names) ---------------------------------------

_DATETIME_HELP = "ISO 8601 date or date-time; without an offset it is the company's local time."


class CompanySyncStatusSerializer(serializers.Serializer):
    companyId = serializers.CharField(allow_null=True)
    syncId = serializers.CharField(allow_null=True)
    syncStatusCode = serializers.IntegerField()
    syncStatus = serializers.CharField(allow_null=True)
    errorMessage = serializers.CharField(allow_null=True)
    syncExceptionMessage = serializers.CharField(allow_null=True)
    syncUtc = serializers.CharField(allow_null=True)
    dataPushed = serializers.BooleanField()

    class Meta:
        ref_name = "CompanySyncStatus"


class SyncStatusSerializer(CompanySyncStatusSerializer):
    commerceSyncId = serializers.CharField(allow_null=True)
    dataConnections = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="Always null here."
    )

    class Meta:
        ref_name = "SyncStatus"


class SyncSummarySerializer(serializers.Serializer):
    syncDateRangeUtc = inline_serializer(
        "SyncDateRangeUtc",
        {"start": serializers.CharField(), "finish": serializers.CharField()},
    )
    companyId = serializers.CharField()
    commerceSyncId = serializers.CharField()
    syncStatusCode = serializers.IntegerField()
    syncStatus = serializers.CharField(allow_null=True)
    errorMessage = serializers.CharField(allow_null=True)
    syncExceptionMessage = serializers.CharField(allow_null=True)
    syncUtc = serializers.CharField(allow_null=True)
    dataConnections = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="Always null here."
    )
    dataPushed = serializers.BooleanField()

    class Meta:
        ref_name = "SyncSummary"


class SyncToLatestArgsSerializer(serializers.Serializer):
    syncTo = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text=_DATETIME_HELP
    )

    class Meta:
        ref_name = "SyncToLatestArgs"


class DateRangeSerializer(serializers.Serializer):
    start = serializers.CharField(help_text=_DATETIME_HELP)
    finish = serializers.CharField(
        help_text=_DATETIME_HELP + " A date-time ends the range (excluded); a plain date is "
        "the last business day synced (included)."
    )

    class Meta:
        ref_name = "SyncDateRange"


class SyncRangeSerializer(serializers.Serializer):
    dateRange = DateRangeSerializer()

    class Meta:
        ref_name = "SyncRange"


# Dates a sync may name: far enough from datetime's limits that converting
# between time zones never overflows, wide enough for any merchant's books.
EARLIEST = date(1970, 1, 1)
LATEST = date(2200, 1, 1)
# The longest range one historic request may cover; longer backfills are
# several requests (each is one run, read and written in one go).
MAX_HISTORIC_DAYS = 366


def _instant(text: str, merchant: Merchant, field: str) -> datetime:
    """An ISO 8601 date or date-time as an aware instant (naive: the
    company's local time, as Codat reads it); ValidationError naming `field`."""
    tz = zone(merchant.sync_configuration.time_zone)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            {field: f"{text!r} is not an ISO 8601 date or date-time (e.g. 2024-03-01T00:00:00Z)"}
        ) from None
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValidationError(
            {
                field: f"{text!r} is out of range: send a date from {EARLIEST:%Y} to {LATEST.year - 1}"
            }
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _range_day(
    text: str, merchant: Merchant, field: str, sync_hour: int, tz: Any, *, finish: bool = False
) -> date:
    """The business day a `dateRange` bound names, as the start of a range or
    (`finish`) its exclusive end. Codat's bounds are date-times (an instant:
    cut to the business day it falls in, `business_day`). A plain date
    ("2026-11-25") is a day a person named, whatever the company's sync hour:
    as `start` that day, as `finish` the day after, so the named last day is
    included."""
    instant = _instant(text, merchant, field)  # validates both forms
    if len(text.strip()) == len("YYYY-MM-DD"):
        day = date.fromisoformat(text.strip())
        return day + timedelta(days=1) if finish else day
    return business_day(instant, sync_hour, tz)


def _summary(run: SyncRun) -> dict[str, Any]:
    """Codat's `SyncSummary` of a requested run. `dataConnections` is null
    (the description allows it): Codat's clients require every field of a
    `Connection` there (integrationId, sourceId, linkUrl ...), which the
    connections endpoints own."""
    status = company_sync_status(run)
    return {
        "syncDateRangeUtc": {"start": _iso(run.period_start), "finish": _iso(run.period_end)},
        "companyId": status["companyId"],
        "commerceSyncId": status["syncId"],
        "syncStatusCode": status["syncStatusCode"],
        "syncStatus": status["syncStatus"],
        "errorMessage": status["errorMessage"],
        "syncExceptionMessage": status["syncExceptionMessage"],
        "syncUtc": status["syncUtc"],
        "dataConnections": None,
        "dataPushed": status["dataPushed"],
    }


def _refused(request: Request, error: DuplicateSync | NothingDue) -> Response:
    return error_response(
        http_status=400,
        error=error.message,
        request=request,
        detailed_error_code=int(error.status_code),
    )


def _configured(merchant: Merchant) -> None:
    if not merchant.configured or not hasattr(merchant, "sync_configuration"):
        raise ValidationError(
            {"companyId": "The company is not configured yet: set its configuration first."}
        )


_COMPANY = OpenApiParameter("companyId", str, OpenApiParameter.PATH, description="Company id.")
_SYNC = OpenApiParameter("syncId", str, OpenApiParameter.PATH, description="Sync id.")


class RequestSyncView(PartnerApiView):
    """request-sync: from the end of the last successful sync (or the
    configured start date) to the latest sync hour passed at `syncTo`
    (default: now; a later `syncTo` is cut to now)."""

    throttle_classes = [PartnerRateThrottle, PartnerSyncRateThrottle]

    @extend_schema(
        operation_id="request-sync",
        tags=TAGS,
        parameters=[_COMPANY],
        request=SyncToLatestArgsSerializer,
        responses={200: SyncSummarySerializer},
    )
    def post(self, request: Request, companyId: str) -> Response:
        merchant = _merchant(request, companyId)
        _configured(merchant)
        args = SyncToLatestArgsSerializer(data=strict_body(request, ["syncTo"]))
        args.is_valid(raise_exception=True)
        now = timezone.now()
        sync_to = args.validated_data.get("syncTo")
        if sync_to:
            now = min(now, _instant(sync_to, merchant, "syncTo"))
        try:
            run = sync_request(
                merchant=merchant, now=now, actor=partner_actor(merchant.partner.slug)
            )
        except (DuplicateSync, NothingDue) as error:
            return _refused(request, error)
        return Response(_summary(run))


class RequestSyncForDateRangeView(PartnerApiView):
    """request-sync-for-date-range: the business days from `dateRange.start`
    up to `dateRange.finish` (date-times are cut to the company's sync hour,
    finish exclusive; a plain-date finish names the last day, included; not
    after the latest sync hour passed). A range overlapping a
    sync that posted is refused with 5080."""

    throttle_classes = [PartnerRateThrottle, PartnerSyncRateThrottle]

    @extend_schema(
        operation_id="request-sync-for-date-range",
        tags=TAGS,
        parameters=[_COMPANY],
        request=SyncRangeSerializer,
        responses={200: SyncSummarySerializer},
    )
    def post(self, request: Request, companyId: str) -> Response:
        merchant = _merchant(request, companyId)
        _configured(merchant)
        args = SyncRangeSerializer(data=strict_body(request, ["dateRange"]))
        args.is_valid(raise_exception=True)
        config = merchant.sync_configuration
        tz = zone(config.time_zone)
        raw = args.validated_data["dateRange"]
        first = _range_day(raw["start"], merchant, "dateRange.start", config.sync_hour, tz)
        until = _range_day(
            raw["finish"], merchant, "dateRange.finish", config.sync_hour, tz, finish=True
        )
        if until <= first:
            raise ValidationError(
                {
                    "dateRange.finish": "finish must be after start (a plain-date finish "
                    "may equal start: that one day)"
                }
            )
        if local_instant(until, config.sync_hour, tz) > timezone.now():
            raise ValidationError(
                {"dateRange.finish": "finish must not be after the latest sync hour passed"}
            )
        if (until - first).days > MAX_HISTORIC_DAYS:
            raise ValidationError(
                {
                    "dateRange": f"A historic sync covers at most {MAX_HISTORIC_DAYS} days; "
                    "split a longer backfill into several requests"
                }
            )
        try:
            run = sync_request(
                merchant=merchant,
                first=first,
                until=until,
                actor=partner_actor(merchant.partner.slug),
            )
        except (DuplicateSync, NothingDue) as error:
            return _refused(request, error)
        return Response(_summary(run))


class SyncStatusView(PartnerApiView):
    """get-sync-status: the latest sync's status with the company's connections."""

    @extend_schema(
        operation_id="get-sync-status",
        tags=TAGS,
        parameters=[_COMPANY],
        responses={200: SyncStatusSerializer},
    )
    def get(self, request: Request, companyId: str) -> Response:
        run = sync_run_latest(partner=request.user.partner, merchant_id=companyId)
        if run is None:  # no such company for this key, or no sync yet
            raise Http404
        body = company_sync_status(run)
        body["commerceSyncId"] = body["syncId"]
        body["dataConnections"] = None  # as in `_summary`
        return Response(body)


class LastSuccessfulSyncView(PartnerApiView):
    @extend_schema(
        operation_id="get-last-successful-sync",
        tags=TAGS,
        parameters=[_COMPANY],
        responses={200: CompanySyncStatusSerializer},
    )
    def get(self, request: Request, companyId: str) -> Response:
        """get-last-successful-sync: the last sync that ended 2000 or 2040 (404: none)."""
        run = sync_run_last_successful(partner=request.user.partner, merchant_id=companyId)
        if run is None:
            raise Http404
        return Response(company_sync_status(run))


class LatestSyncView(PartnerApiView):
    @extend_schema(
        operation_id="get-latest-sync",
        tags=TAGS,
        parameters=[_COMPANY],
        responses={200: CompanySyncStatusSerializer},
    )
    def get(self, request: Request, companyId: str) -> Response:
        """get-latest-sync: the sync requested or started last (404: none yet)."""
        run = sync_run_latest(partner=request.user.partner, merchant_id=companyId)
        if run is None:
            raise Http404
        return Response(company_sync_status(run))


class SyncByIdView(PartnerApiView):
    @extend_schema(
        operation_id="get-sync-by-id",
        tags=TAGS,
        parameters=[_COMPANY, _SYNC],
        responses={200: CompanySyncStatusSerializer},
    )
    def get(self, request: Request, companyId: str, syncId: str) -> Response:
        """get-sync-by-id: one sync of the company (404 for any other id)."""
        run = sync_run_get(partner=request.user.partner, merchant_id=companyId, sync_id=syncId)
        if run is None:
            raise Http404
        return Response(company_sync_status(run))


LIST_SYNCS_PAGE_SIZE = 100
LIST_SYNCS_MAX_PAGE_SIZE = 1000


class ListSyncsView(PartnerApiView):
    """list-syncs: the company's syncs, newest request first, as Codat's
    plain array, one page of it. Codat's description gives the operation no
    parameters and returns every sync; a history grows by a sync a day, so
    here the answer is bounded: the newest `pageSize` (default 100, at most
    1000) syncs, and `page` (from 1) reads further back. When more syncs
    exist the answer carries `Link: <...?page=N+1&pageSize=S>; rel="next"`
    (RFC 8288), so a client that never sends the parameters gets the newest
    100, as before for any company with fewer."""

    @extend_schema(
        operation_id="list-syncs",
        tags=TAGS,
        parameters=[
            _COMPANY,
            OpenApiParameter(
                "page",
                int,
                OpenApiParameter.QUERY,
                description="Beyond Codat: the page, from 1 (the newest syncs).",
            ),
            OpenApiParameter(
                "pageSize",
                int,
                OpenApiParameter.QUERY,
                description=f"Beyond Codat: syncs per page, 1 to {LIST_SYNCS_MAX_PAGE_SIZE} "
                f"(default {LIST_SYNCS_PAGE_SIZE}).",
            ),
            OpenApiParameter(
                "Link",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description='<path?page=N&pageSize=S>; rel="next" when older syncs exist.',
            ),
        ],
        responses={200: CompanySyncStatusSerializer(many=True)},
    )
    def get(self, request: Request, companyId: str) -> Response:
        page = int_parameter(request, "page", 1, 1, 2**31 - 1)
        size = int_parameter(request, "pageSize", LIST_SYNCS_PAGE_SIZE, 1, LIST_SYNCS_MAX_PAGE_SIZE)
        # One row more than asked tells whether a next page exists (no count).
        runs = sync_runs_page(
            partner=request.user.partner,
            merchant_id=companyId,
            offset=(page - 1) * size,
            limit=size + 1,
        )
        if runs is None:
            raise Http404
        response = Response([company_sync_status(run) for run in runs[:size]])
        if len(runs) > size:
            path = f"/companies/{companyId}/sync/commerce/syncs/list/status"
            response["Link"] = (
                f'<{path}?{urlencode({"page": page + 1, "pageSize": size})}>; rel="next"'
            )
        return response
