"""Reads. Views, the API and the engine query through these, not ad hoc."""

from __future__ import annotations

import hmac
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db.models import Max, Prefetch, QuerySet

from commerce_sync.core.keys import PREFIX_LENGTH, api_key_hash
from commerce_sync.core.models import (
    Connection,
    Merchant,
    Partner,
    PartnerApiKey,
    PushItem,
    SourceRecord,
    SyncConfiguration,
    SyncRun,
)
from commerce_sync.core.query import Field, order_by_parse, query_parse, query_q


def partner_get_by_api_key(*, plaintext: str) -> Partner | None:
    """The partner owning this (unrevoked) key, or None."""
    key = (
        PartnerApiKey.objects.select_related("partner")
        .filter(prefix=plaintext[:PREFIX_LENGTH], revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_key, api_key_hash(plaintext)):
        return None
    return key.partner


def merchant_get(*, merchant_id: UUID | str, partner: Partner | None = None) -> Merchant | None:
    """The merchant, or None; with `partner`, only one of that partner's merchants."""
    merchants = Merchant.objects.select_related("partner")
    if partner is not None:
        merchants = merchants.filter(partner=partner)
    try:
        return merchants.get(pk=merchant_id)
    except (Merchant.DoesNotExist, ValidationError):  # ValidationError: not a UUID
        return None


def merchant_list(*, partner: Partner) -> QuerySet[Merchant]:
    return Merchant.objects.filter(partner=partner).order_by("created_at", "id")


def connections_for_merchant(
    *, merchant: Merchant, source_type: str | None = None
) -> QuerySet[Connection]:
    connections = Connection.objects.filter(merchant=merchant).order_by("created_at")
    if source_type is not None:
        connections = connections.filter(source_type=source_type)
    return connections


def connection_accounting_get(*, merchant: Merchant) -> Connection | None:
    """The merchant's accounting connection that is not Unlinked (at most one exists)."""
    return (
        connections_for_merchant(merchant=merchant, source_type=Connection.SourceType.ACCOUNTING)
        .exclude(status=Connection.Status.UNLINKED)
        .first()
    )


def sync_configuration_get(*, merchant: Merchant) -> SyncConfiguration | None:
    return SyncConfiguration.objects.filter(merchant=merchant).first()


def sync_runs_for_merchant(
    *,
    merchant: Merchant,
    status: str | None = None,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
) -> QuerySet[SyncRun]:
    """Newest period first; `period_from`/`period_to` select runs overlapping that range."""
    runs = SyncRun.objects.filter(merchant=merchant).order_by("-period_start", "-created_at")
    if status is not None:
        runs = runs.filter(status=status)
    if period_from is not None:
        runs = runs.filter(period_end__gt=period_from)
    if period_to is not None:
        runs = runs.filter(period_start__lt=period_to)
    return runs


def push_items_for_run(*, sync_run: SyncRun) -> QuerySet[PushItem]:
    return PushItem.objects.filter(sync_run=sync_run).order_by("created_at", "id")


# --- The partner API's lists -----------------------------------------------------------

# What Codat's `query` and `orderBy` may name on a company (a merchant).
COMPANY_FIELDS = {
    "id": Field("uuid", "id"),
    "name": Field("string", "name"),
    "description": Field("string", "description"),
    "createdDate": Field("datetime", "created_at"),
    "created": Field("datetime", "created_at"),
}

# ... and on a connection.
CONNECTION_FIELDS = {
    "id": Field("uuid", "id"),
    "integrationKey": Field("string", "platform_key"),
    "platformKey": Field("string", "platform_key"),
    "sourceType": Field("string", "source_type"),
    "status": Field("string", "status"),
    "created": Field("datetime", "created_at"),
    "createdDate": Field("datetime", "created_at"),
}


def companies_for_partner(
    *, partner: Partner, query: str = "", order_by: str = ""
) -> QuerySet[Merchant]:
    """The partner's merchants matching Codat's `query`, ordered by `orderBy`
    (default: oldest first), each with `last_sync` (the latest finished run's
    end, or None) and its connections prefetched: three queries whatever the
    page. Raises `QueryError` for a malformed query or order."""
    node = query_parse(query, COMPANY_FIELDS)
    order = order_by_parse(order_by, COMPANY_FIELDS)
    merchants = (
        Merchant.objects.filter(partner=partner)
        .filter(query_q(node, COMPANY_FIELDS))
        .annotate(last_sync=Max("sync_runs__finished_at"))
        .prefetch_related(
            Prefetch("connections", queryset=Connection.objects.order_by("created_at", "id"))
        )
    )
    if order is None:
        return merchants.order_by("created_at", "id")
    lookup, descending = order
    return merchants.order_by(f"-{lookup}" if descending else lookup, "id")


def company_get(*, partner: Partner, merchant_id: UUID | str) -> Merchant | None:
    """One of the partner's merchants as `companies_for_partner` gives them, or None."""
    try:
        return companies_for_partner(partner=partner).filter(pk=merchant_id).first()
    except (ValidationError, ValueError):  # not a UUID
        return None


def connections_for_company(
    *, merchant: Merchant, query: str = "", order_by: str = ""
) -> QuerySet[Connection]:
    """The merchant's connections matching `query`, ordered by `orderBy`
    (default: oldest first). `QueryError` when malformed."""
    node = query_parse(query, CONNECTION_FIELDS)
    order = order_by_parse(order_by, CONNECTION_FIELDS)
    connections = Connection.objects.filter(merchant=merchant).filter(
        query_q(node, CONNECTION_FIELDS)
    )
    if order is None:
        return connections.order_by("created_at", "id")
    lookup, descending = order
    return connections.order_by(f"-{lookup}" if descending else lookup, "id")


def connection_get(*, merchant: Merchant, connection_id: UUID | str) -> Connection | None:
    """The merchant's connection with this id, or None (also for a non-UUID)."""
    try:
        return Connection.objects.filter(merchant=merchant, pk=connection_id).first()
    except (ValidationError, ValueError):
        return None


def sync_run_get(*, merchant: Merchant, sync_id: UUID | str) -> SyncRun | None:
    """One run of `merchant` (already scoped to its partner), or None (also
    for an id that is not a UUID)."""
    try:
        return SyncRun.objects.filter(merchant=merchant).get(pk=sync_id)
    except (SyncRun.DoesNotExist, ValidationError):
        return None


def sync_run_latest(*, merchant: Merchant) -> SyncRun | None:
    """The run requested or started last, whatever its status."""
    return SyncRun.objects.filter(merchant=merchant).order_by("-created_at", "-pk").first()


def sync_run_last_successful(*, merchant: Merchant) -> SyncRun | None:
    """The last run that ended succeeded (2000 or 2040), by end time."""
    return (
        SyncRun.objects.filter(merchant=merchant, status=SyncRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-created_at")
        .first()
    )


def sync_runs_history(*, merchant: Merchant) -> QuerySet[SyncRun]:
    """Every run of `merchant`, newest request first, without the bulky
    counters and timings (one query however long the history)."""
    return (
        SyncRun.objects.filter(merchant=merchant)
        .defer("counters", "timings")
        .order_by("-created_at", "-pk")
    )


def payment_types_seen(*, merchant: Merchant, since: datetime) -> set[str]:
    """The payment types (`payments[].type`) of the merchant's commerce
    orders created since `since`, as read by its syncs; one query."""
    table = SourceRecord._meta.db_table
    if db_connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT p.value->>'type' FROM {table} r, "  # noqa: S608 - our table name
            "jsonb_array_elements(CASE WHEN jsonb_typeof(r.payload->'payments') = 'array' "
            "THEN r.payload->'payments' ELSE '[]'::jsonb END) p "
            "WHERE r.merchant_id = %s AND r.kind = %s AND r.created_date >= %s"
        )
        params: list[object] = [merchant.pk, SourceRecord.Kind.ORDER, since]
    else:  # SQLite, the embedded default
        sql = (
            f"SELECT DISTINCT json_extract(p.value, '$.type') FROM {table} r, "  # noqa: S608
            "json_each(r.payload, '$.payments') p "
            "WHERE r.merchant_id = %s AND r.kind = %s AND r.created_date >= %s"
        )
        params = [merchant.pk.hex, SourceRecord.Kind.ORDER, since]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {str(row[0]) for row in cursor.fetchall() if row[0]}
