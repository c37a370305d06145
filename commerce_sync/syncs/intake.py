"""Intake of source records: hash, classify, store.

Every record a connector reads is kept as read (`SourceRecord`), with a hash
of its payload. Comparing with what a previous run posted tells the run
which records are new, which arrived after their day was posted (late), and
which changed since they were posted (edits, posted as a difference).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Min, Q

from commerce_sync.core.models import Merchant, SourceRecord, SyncRun
from commerce_sync.errors import DataProcessingError
from connectors.protocols import CommerceBatch
from mapping.canonical import Order, Transaction
from mapping.engine import payment_index
from mapping.errors import Issue, MappingError
from mapping.parsing import one_copy_each, parse_record
from mapping.periods import Period
from mapping.posting import PaymentIndex

# How far back a run re-reads the source for orders that waited for their
# payments to settle (a card authorisation lapses well within a month).
WAITING_LOOKBACK = timedelta(days=31)


def _named(payload: Any) -> str:
    """The record's id for a message: short, printable."""
    record_id = payload.get("id") if isinstance(payload, dict) else None
    text = repr(record_id) if not isinstance(record_id, str) else record_id
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 80 else text[:80] + "..."


def record_hash(payload: dict[str, Any]) -> str:
    """SHA-256 hex digest of the payload's canonical JSON (sorted keys, no
    spaces, Decimals and dates as Django's encoder writes them)."""
    text = json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class IncomingRecord:
    """One record read this run: `kind` ("order" or "transaction"), the raw
    `payload`, its parsed form, the payload's hash, and the stored row from
    an earlier read (None until it is stored)."""

    kind: str
    payload: dict[str, Any]
    parsed: Order | Transaction
    digest: str
    existing: SourceRecord | None


@dataclass
class Classified:
    """The run's records sorted by what the run must post for them."""

    fresh: list[IncomingRecord] = field(default_factory=list)  # created within the period
    late: list[IncomingRecord] = field(default_factory=list)  # day posted before they came
    edits: list[IncomingRecord] = field(default_factory=list)  # changed since posted
    unchanged: int = 0  # posted before with the same content: nothing to do


def records_take_in(
    *,
    merchant: Merchant,
    batch: CommerceBatch,
    tz: tzinfo,
    notes: list[Issue] | None = None,
) -> list[IncomingRecord]:
    """Parse every order and transaction of `batch` and find its stored row
    (one query per kind). A record sent twice is kept once (the newest copy;
    see `mapping.parsing.one_copy_each`), with a warning appended to `notes`.
    Raises DataProcessingError naming up to 20 records that do not parse or
    whose copies cannot be told apart, whatever their fault (5120)."""
    records: list[IncomingRecord] = []
    problems: list[str] = []
    for kind, payloads in (("order", batch.orders), ("transaction", batch.transactions)):
        ids = [str(p.get("id")) for p in payloads]
        existing = {
            r.source_id: r
            for r in SourceRecord.objects.filter(merchant=merchant, kind=kind, source_id__in=ids)
        }
        parsed_kind: list[tuple[dict[str, Any], Order | Transaction]] = []
        for payload in payloads:
            try:
                parsed_kind.append((payload, parse_record(kind, payload, tz)))
            except MappingError as error:
                problems.extend(issue.message for issue in error.issues)
            except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as error:
                # The parser's checks missed something about this record: it is
                # still the record's problem (5120 naming it), not a crash.
                problems.append(
                    f"{kind.capitalize()} {_named(payload)} cannot be read "
                    f"({type(error).__name__}); correct it at the source and sync again"
                )
                continue
        kept, warnings, refused = one_copy_each(f"{kind}s", parsed_kind, lambda pair: pair[1])
        problems.extend(issue.message for issue in refused)
        if notes is not None:
            notes.extend(warnings)
        for payload, parsed in kept:
            records.append(
                IncomingRecord(kind, payload, parsed, record_hash(payload), existing.get(parsed.id))
            )
    if problems:
        raise DataProcessingError(
            "; ".join(problems[:20])
            + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    return records


def records_classify(records: list[IncomingRecord], period: Period) -> Classified:
    """Sort records into fresh, late and edited ones (pure: no queries)."""
    out = Classified()
    for record in records:
        existing = record.existing
        if existing is not None and existing.posted_run_id is not None:
            # Compare with what was posted, not with the last read: a run that
            # failed before posting must not hide an edit from the next one.
            if record_hash(existing.posted_payload) == record.digest:
                out.unchanged += 1
            else:
                out.edits.append(record)
        elif period.contains(record.parsed.created):
            out.fresh.append(record)
        else:
            out.late.append(record)  # its day was synced before it reached us
    return out


def source_records_store(*, merchant: Merchant, records: list[IncomingRecord]) -> None:
    """Keep every record as read (the raw store later runs compare with):
    new ones in bulk (500 a query), changed ones updated one by one. Fills
    `existing` on the new records."""
    new_rows = []
    for record in records:
        existing = record.existing
        if existing is None:
            new_rows.append(
                SourceRecord(
                    merchant=merchant,
                    kind=record.kind,
                    source_id=record.parsed.id,
                    created_date=record.parsed.created,
                    modified_date=record.parsed.modified,
                    content_hash=record.digest,
                    payload=record.payload,
                )
            )
        elif existing.content_hash != record.digest:
            existing.payload = record.payload
            existing.content_hash = record.digest
            existing.modified_date = record.parsed.modified
            existing.save(update_fields=["payload", "content_hash", "modified_date", "updated_at"])
    created = SourceRecord.objects.bulk_create(new_rows, batch_size=500)
    by_key = {(row.kind, row.source_id): row for row in created}
    for record in records:
        if record.existing is None:
            record.existing = by_key.get((record.kind, record.parsed.id))


def record_posted_version(record: IncomingRecord, tz: tzinfo) -> Order | Transaction:
    """The record as it was when posted (an edit posts the difference from it)."""
    return parse_record(record.kind, record.existing.posted_payload, tz)


def source_records_mark_posted(*, run: SyncRun, records: list[IncomingRecord]) -> None:
    """Record that `run` posted these records, as read now (500 a query).
    Called inside the outbox's transaction (`push.push_items_create`)."""
    rows = []
    for record in records:
        row = record.existing
        if row is None or row.pk is None:
            continue
        row.posted_run = run
        row.posted_payload = record.payload
        rows.append(row)
    SourceRecord.objects.bulk_update(rows, ["posted_run", "posted_payload"], batch_size=500)


def waiting_orders_since(*, merchant: Merchant, start: datetime) -> datetime | None:
    """When the oldest order still waiting began: stored, never posted, and
    created before `start` (an earlier period posted without it because a
    payment was not settled), at most WAITING_LOOKBACK before `start`. A run
    reads the source from there so the order is posted, flagged late, once
    its payments settle. None when no order waits."""
    found = SourceRecord.objects.filter(
        merchant=merchant,
        kind=SourceRecord.Kind.ORDER,
        posted_run__isnull=True,
        created_date__lt=start,
        created_date__gte=start - WAITING_LOOKBACK,
    ).aggregate(oldest=Min("created_date"))["oldest"]
    return found


def payment_types_stored(*, merchant: Merchant, wanted: set[str], tz: tzinfo) -> PaymentIndex:
    """payment id (or order id) -> (payment type, order location) for the ids
    in `wanted`, from the orders stored for `merchant` by earlier runs: a fee,
    fee refund or payout may name a payment of an earlier period. Ids not
    found are absent (the engine then refuses the record naming the id).
    One query for order ids, one per 200 payment ids."""
    if not wanted:
        return {}
    orders = SourceRecord.objects.filter(merchant=merchant, kind=SourceRecord.Kind.ORDER)
    payloads = list(orders.filter(source_id__in=wanted).values_list("payload", flat=True))
    remaining = sorted(wanted - {str(p.get("id")) for p in payloads if isinstance(p, dict)})
    if remaining and connection.vendor != "postgresql":
        # SQLite (the embedded default) has no JSON containment: read the
        # merchant's stored orders once and look at their payments here.
        left = set(remaining)
        payloads.extend(
            payload
            for payload in orders.values_list("payload", flat=True).iterator()
            if isinstance(payload, dict)
            and any(
                isinstance(p, dict) and str(p.get("id")) in left
                for p in payload.get("payments") or ()
            )
        )
        remaining = []
    for offset in range(0, len(remaining), 200):
        query = Q()
        for payment_id in remaining[offset : offset + 200]:
            query |= Q(payload__payments__contains=[{"id": payment_id}])
        payloads.extend(orders.filter(query).values_list("payload", flat=True))
    parsed: list[Order] = []
    for payload in payloads:
        try:
            record = parse_record("order", payload, tz)  # type: ignore[arg-type]
        except MappingError:
            continue  # a stored record that no longer parses names nothing
        if isinstance(record, Order):
            parsed.append(record)
    index = payment_index(parsed)
    return {key: value for key, value in index.items() if key in wanted}
