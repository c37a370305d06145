"""The outbox: one push item per document, created with the records posted.

The items are created in the same transaction that marks the run's records
posted, so from then on the items carry the intent to write: a run that dies
before writing leaves pending items, and every later run (or a retry of
failed items) finishes what an earlier one left unwritten. Keys are
deterministic and unique per merchant, so a document mapped again finds its
item instead of making a second one.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from commerce_sync.core.models import Merchant, PushItem, SyncRun
from commerce_sync.syncs.intake import IncomingRecord, source_records_mark_posted
from commerce_sync.syncs.trace import RunTrace


def push_items_create(
    *,
    run: SyncRun,
    merchant: Merchant,
    documents: list[dict[str, Any]],
    records: list[IncomingRecord],
    trace: RunTrace,
) -> list[PushItem]:
    """Create the items of `documents` (each a document's JSON with its
    "key" and "type") for `run`, mark `records` posted, and return what to
    write, in order: unfinished items of earlier runs first, then this run's
    documents. A key already pushed is skipped (with a warning when its
    figures differ); one pending or failed is adopted. Counts go to
    `trace.counters["push_items"]` (created, already_pushed, carried_over)."""
    payloads = {doc["key"]: (doc["type"], doc) for doc in documents}
    with transaction.atomic():
        existing = {
            i.key: i
            for i in PushItem.objects.select_for_update().filter(
                merchant=merchant, key__in=list(payloads)
            )
        }
        new_items = [
            PushItem(merchant=merchant, sync_run=run, kind=kind, key=key, payload=payload)
            for key, (kind, payload) in payloads.items()
            if key not in existing
        ]
        PushItem.objects.bulk_create(new_items, batch_size=500)
        adopted = []
        for key, item in existing.items():
            if item.status == PushItem.Status.PUSHED:
                if item.payload != json.loads(json.dumps(payloads[key][1], cls=DjangoJSONEncoder)):
                    trace.say(
                        "warning",
                        "AlreadyWritten",
                        f"Document {key} was already written with other figures; review it in the target",
                    )
                continue
            adopted.append(item)
        source_records_mark_posted(run=run, records=records)
        unfinished = list(
            PushItem.objects.filter(merchant=merchant)
            .exclude(status=PushItem.Status.PUSHED)
            .exclude(key__in=list(payloads))
            .order_by("created_at", "id")
        )
    trace.counters["push_items"] = {
        "created": len(new_items),
        "already_pushed": len(existing) - len(adopted),
        "carried_over": len(adopted) + len(unfinished),
    }
    order = {key: index for index, key in enumerate(payloads)}
    items = [*new_items, *adopted]
    items.sort(key=lambda item: order[item.key])
    return unfinished + items
