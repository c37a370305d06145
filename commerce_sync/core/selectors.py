"""Reads. Views, the API and the engine query through these, not ad hoc."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
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
    """The partner owning this (unrevoked) key, or None (one query)."""
    key = (
        PartnerApiKey.objects.select_related("partner")
        .filter(prefix=plaintext[:PREFIX_LENGTH], revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_key, api_key_hash(plaintext)):
        return None
    return key.partner


# The API keys seen lately in this process: sha256 of the key -> (monotonic
# expiry, partner). Only accepted keys are kept (an unknown key always costs
# its query), at most _KEY_CACHE_SIZE of them.
_key_cache: dict[str, tuple[float, Partner]] = {}
_KEY_CACHE_SIZE = 1024


def partner_get_by_api_key_cached(
    *, plaintext: str, before_lookup: Callable[[], None] | None = None
) -> Partner | None:
    """`partner_get_by_api_key`, remembered in this process for
    `settings.PARTNER_API_KEY_CACHE_SECONDS` (0: never remembered), so a
    partner's requests cost no query for their key. A key revoked or
    deleted in this process is forgotten at once (`api_key_cache_clear`,
    called on every save and delete of a key or partner); in the other
    processes it is refused at most that many seconds later. The partner
    returned is shared by the requests of this process: read it, never
    change it. `before_lookup` runs only when the key is not remembered,
    before it is looked up (the failed-key throttle raises from there)."""
    ttl = settings.PARTNER_API_KEY_CACHE_SECONDS
    if ttl <= 0:
        if before_lookup is not None:
            before_lookup()
        return partner_get_by_api_key(plaintext=plaintext)
    digest = api_key_hash(plaintext)
    now = time.monotonic()
    hit = _key_cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    if before_lookup is not None:
        before_lookup()
    partner = partner_get_by_api_key(plaintext=plaintext)
    if partner is None:
        _key_cache.pop(digest, None)
        return None
    if len(_key_cache) >= _KEY_CACHE_SIZE:
        _key_cache.clear()  # simpler than LRU; refilled at one query per key
    _key_cache[digest] = (now + ttl, partner)
    return partner


def api_key_cache_clear(**_signal_arguments: object) -> None:
    """Forget every key remembered by `partner_get_by_api_key_cached` in this
    process (a signal receiver too: see CoreConfig.ready)."""
    _key_cache.clear()


def merchant_get(*, merchant_id: UUID | str, partner: Partner | None = None) -> Merchant | None:
    """The merchant, or None; with `partner`, only one of that partner's merchants."""
    merchants = Merchant.objects.select_related("partner")
    if partner is not None:
        merchants = merchants.filter(partner=partner)
    try:
        return merchants.get(pk=merchant_id)
    except (Merchant.DoesNotExist, ValidationError):  # ValidationError: not a UUID
        return None


def merchant_with_configuration_get(
    *, partner: Partner, merchant_id: UUID | str
) -> Merchant | None:
    """One of the partner's merchants with its sync configuration loaded in
    the same query (`getattr(merchant, "sync_configuration", None)`), or None."""
    try:
        return (
            Merchant.objects.select_related("sync_configuration")
            .filter(partner=partner)
            .get(pk=merchant_id)
        )
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


# The partner API's sync reads: each is one query, scoped to the partner in
# the query itself (a company of another partner, or an id that is not a
# UUID, reads as nothing), touching only the rows answered (the indexes
# core_syncrun_latest and core_syncrun_last_successful).

# What a sync's status shows (CompanySyncStatus): the rest (counters,
# timings, period) is never loaded for it.
SYNC_STATUS_FIELDS = (
    "id",
    "merchant_id",
    "status",
    "status_code",
    "messages",
    "data_pushed",
    "created_at",
    "started_at",
)


# These reads run on every status poll: written as SQL (the ORM's building
# and compiling of the same query costs about three times its execution).
_RUNS_SQL = (
    "SELECT {columns} FROM {runs} r JOIN {merchants} m ON m.id = r.merchant_id "
    "WHERE r.merchant_id = %s AND m.partner_id = %s {where} ORDER BY {order} {limit}"
)


def _company_runs(
    *,
    partner: Partner,
    merchant_id: UUID | str,
    where: str = "",
    params: Sequence[Any] = (),
    order: str = "r.created_at DESC, r.id DESC",
    limit: str = "LIMIT 1",
    limit_params: Sequence[Any] = (),
) -> list[SyncRun] | None:
    """The runs of the partner's merchant `merchant_id` (None when it is not
    a UUID), `where` narrowing them, in `order`, `limit`ed: one query."""
    try:
        merchant_uuid = UUID(str(merchant_id))
    except ValueError:
        return None
    sql = _RUNS_SQL.format(
        columns=", ".join(f"r.{name}" for name in SYNC_STATUS_FIELDS),
        runs=SyncRun._meta.db_table,
        merchants=Merchant._meta.db_table,
        where=where,
        order=order,
        limit=limit,
    )
    uuid_field = SyncRun._meta.pk
    return list(
        SyncRun.objects.raw(
            sql,
            [
                uuid_field.get_db_prep_value(merchant_uuid, db_connection),
                partner.pk,
                *params,
                *limit_params,
            ],
        )
    )


def sync_run_get(
    *, partner: Partner, merchant_id: UUID | str, sync_id: UUID | str
) -> SyncRun | None:
    """One run of the partner's merchant, or None (also for ids that are not UUIDs)."""
    try:
        sync_uuid = UUID(str(sync_id))
    except ValueError:
        return None
    runs = _company_runs(
        partner=partner,
        merchant_id=merchant_id,
        where="AND r.id = %s",
        params=[SyncRun._meta.pk.get_db_prep_value(sync_uuid, db_connection)],
    )
    return runs[0] if runs else None


def sync_run_latest(*, partner: Partner, merchant_id: UUID | str) -> SyncRun | None:
    """The run of the partner's merchant requested or started last, whatever
    its status; None when it has none or is not the partner's."""
    runs = _company_runs(partner=partner, merchant_id=merchant_id)
    return runs[0] if runs else None


def sync_run_last_successful(*, partner: Partner, merchant_id: UUID | str) -> SyncRun | None:
    """The last run that ended succeeded (2000 or 2040), by end time."""
    runs = _company_runs(
        partner=partner,
        merchant_id=merchant_id,
        where="AND r.status = %s",
        params=[SyncRun.Status.SUCCEEDED.value],
        order="r.finished_at DESC, r.created_at DESC",
    )
    return runs[0] if runs else None


def sync_runs_page(
    *, partner: Partner, merchant_id: UUID | str, offset: int, limit: int
) -> list[SyncRun] | None:
    """Runs `offset` to `offset + limit` of the partner's merchant, newest
    request first (one query, however long the history). None when the
    merchant is not the partner's: a second query, only when the page is
    empty, tells an unknown company from one without runs."""
    page = _company_runs(
        partner=partner,
        merchant_id=merchant_id,
        limit="LIMIT %s OFFSET %s",
        limit_params=[limit, offset],
    )
    if page is None:
        return None
    if not page and not Merchant.objects.filter(pk=merchant_id, partner=partner).exists():
        return None
    return page


def sync_runs_history(*, merchant: Merchant) -> QuerySet[SyncRun]:
    """Every run of `merchant` (already scoped by the caller, e.g. the
    merchant's own setup-flow session), newest request first, without the
    bulky counters and timings; slice it for a page."""
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
