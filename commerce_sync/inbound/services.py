"""Storing what a partner pushes: validated, versioned by `modifiedDate`.

Per record: unknown id -> created; a newer `modifiedDate` -> the payload is
replaced (an edit, which the next sync adjusts); the same `modifiedDate` and
content -> unchanged; an older one -> stale, ignored and reported. The same
`modifiedDate` with different content is refused: versions are told apart
by that date, so two different bodies under one date would be ambiguous.

Invalid records are reported and the valid ones stored: every record stands
alone (its own id and version), so the partner can fix and resend just the
failures, or the whole batch, without changing what was accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from commerce_sync.core.models import Merchant
from commerce_sync.core.services.audit import audit_log_write
from commerce_sync.inbound.models import PushedRecord
from commerce_sync.inbound.validation import Expectations, record_problems, shown

MAX_RECORDS = 5000
# The push endpoint's data types, as in Codat's paths, and the kind each stores.
DATA_TYPES = {
    "commerce-orders": PushedRecord.Kind.ORDER,
    "commerce-transactions": PushedRecord.Kind.TRANSACTION,
    "commerce-locations": PushedRecord.Kind.LOCATION,
    "commerce-products": PushedRecord.Kind.PRODUCT,
    "commerce-productCategories": PushedRecord.Kind.PRODUCT_CATEGORY,
    "commerce-taxComponents": PushedRecord.Kind.TAX_COMPONENT,
    "commerce-paymentMethods": PushedRecord.Kind.PAYMENT_METHOD,
}


@dataclass
class PushResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # refused records
    ignored: list[dict[str, Any]] = field(default_factory=list)  # stale records

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "rejected": len(self.errors),
            "errors": self.errors,
            "staleRecords": self.ignored,
        }


def _instant(value: str | None, tz: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def _shown_id(record: Any) -> str | None:
    """A refused record's id as the answer may repeat it: text (numbers as
    text), escaped and cut short when it is itself the problem; None when
    the record has none."""
    record_id = record.get("id") if isinstance(record, dict) else None
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        return None
    return shown(str(record_id), limit=200)


def _as_stored(record: dict[str, Any]) -> dict[str, Any]:
    """The payload as the JSON column gives it back (Decimals become strings)."""
    return json.loads(json.dumps(record, cls=DjangoJSONEncoder))


def pushed_records_store(
    *, merchant: Merchant, kind: str, records: list[Any], actor: str
) -> PushResult:
    if kind not in PushedRecord.Kind.values:
        raise ValueError(f"unknown pushed record kind {kind!r}")
    try:
        return _store(merchant, kind, records, actor)
    except IntegrityError:
        # Another request created one of these ids between our read and our
        # insert: run again, now seeing its rows.
        return _store(merchant, kind, records, actor)


@transaction.atomic
def _store(merchant: Merchant, kind: str, records: list[Any], actor: str) -> PushResult:
    result = PushResult()
    tz = ZoneInfo(merchant.time_zone)
    expect = Expectations(
        currency=merchant.currency,
        now=timezone.now(),
        clock_skew=timedelta(seconds=settings.PUSH_CLOCK_SKEW_SECONDS),
        time_zone=tz,
    )
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(records):
        problems = record_problems(kind, record, expect)
        if problems:
            result.errors.append(
                {"index": index, "id": _shown_id(record), "message": "; ".join(problems)}
            )
        else:
            valid.append((index, record))

    ids = {str(record["id"]) for _, record in valid}
    # Locked so that two pushes of the same records cannot both decide "newer".
    rows = {
        row.source_id: row
        for row in PushedRecord.objects.select_for_update().filter(
            merchant=merchant, kind=kind, source_id__in=ids
        )
    }
    new: dict[str, PushedRecord] = {}
    changed: dict[str, PushedRecord] = {}
    now = timezone.now()
    for index, record in valid:
        record_id = str(record["id"])
        modified = _instant(record["modifiedDate"], tz)
        payload = _as_stored(record)
        row = rows.get(record_id)
        if row is None:
            row = PushedRecord(
                merchant=merchant,
                kind=kind,
                source_id=record_id,
                created_date=_instant(record.get("createdDate"), tz),
                modified_date=modified,
                payload=payload,
                received_at=now,
                updated_at=now,
            )
            rows[record_id] = new[record_id] = row
            result.created += 1
        elif modified > row.modified_date:
            row.payload = payload
            row.modified_date = modified
            row.created_date = _instant(record.get("createdDate"), tz)
            row.updated_at = now  # bulk_update skips auto_now
            if record_id not in new:
                changed[record_id] = row
                result.updated += 1
        elif modified < row.modified_date:
            result.stale += 1
            result.ignored.append(
                {
                    "index": index,
                    "id": record_id,
                    "message": f"Ignored: a newer version (modifiedDate "
                    f"{row.modified_date.isoformat()}) was already received",
                }
            )
        elif row.payload == payload:
            result.unchanged += 1
        else:
            result.errors.append(
                {
                    "index": index,
                    "id": record_id,
                    "message": "A different record with this id and modifiedDate was already "
                    "received; send an edit with a later modifiedDate",
                }
            )
    PushedRecord.objects.bulk_create(new.values(), batch_size=1000)
    PushedRecord.objects.bulk_update(
        changed.values(),
        ["payload", "modified_date", "created_date", "updated_at"],
        batch_size=1000,
    )
    result.errors.sort(key=lambda error: error["index"])
    audit_log_write(
        actor=actor,
        action="pushed_records.store",
        obj=merchant,
        changes={
            "kind": kind,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "stale": result.stale,
            "rejected": len(result.errors),
        },
    )
    return result
