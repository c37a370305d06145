"""The outbox and the write loop: one push item per document, each written
to the target exactly once.

The outbox: items are created in the same transaction that marks the run's
records posted, so from then on the items carry the intent to write: a run
that dies before writing leaves pending items, and every later run (or a
retry of failed items) finishes what an earlier one left unwritten. Keys are
deterministic and unique per merchant, so a document mapped again finds its
item instead of making a second one.

The write loop:
exactly-once rests on the item's deterministic key: an item sent before
(it may have reached the target before a crash or a lost response) is looked
up by key before it is written again. Transient faults are retried within
the run under `PUSH_RETRY`; a `Retry-After` longer than the policy holds a
run for, or faults outlasting its attempts, fail the item and leave it to
the next run (which carries unfinished items over). Permanent refusals fail
the item with the target's message; a revoked grant or an expired
subscription fails it and stops the run.

Targets that write in batches (`writes_in_batches`) get several documents per call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from commerce_sync.core.models import Merchant, PushItem, SyncRun
from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    SubscriptionExpired,
    TransientError,
)
from commerce_sync.syncs.intake import IncomingRecord, source_records_mark_posted
from commerce_sync.syncs.trace import RunTrace
from commerce_sync.syncs.transitions import push_item_transition
from connectors.protocols import AccountingTarget
from connectors.retry import RetryPolicy

# Per item per run: 4 tries; backoff min(30, 0.2 * 2**n) s times a jitter
# in (0.5, 1.0); a Retry-After waited at least as asked, up to 25 % longer;
# one over 30 s is not waited (the next run retries the item).
PUSH_RETRY = RetryPolicy(
    attempts=4,
    backoff=0.2,
    cap=30.0,
    jitter=(0.5, 1.0),
    retry_after_jitter=(1.0, 1.25),
    max_retry_after=30.0,
)


@dataclass
class _Tally:
    written: int = 0
    found: int = 0  # already in the target (written before a crash lost the record)
    failed: int = 0
    calls: int = 0  # calls made to the target


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


def push_items_write(
    *,
    items: list[PushItem],
    target: AccountingTarget,
    trace: RunTrace,
    retry: RetryPolicy | None = None,
) -> int:
    """Write `items` in order; returns how many failed. `retry` defaults to
    `PUSH_RETRY` (tests pass one whose `sleep` records instead of sleeping).
    Adds written / found_in_target / failed to `trace.counters["push_items"]`
    and the calls made to `trace.counters["api_calls"][target.platform_key]`.
    Raises CredentialsRevoked or SubscriptionExpired when the target
    refuses access altogether: the item being written failed (in a batch,
    those the error's `settled` names as already written are pushed, the
    rest failed); the counters are added all the same."""
    retry = retry or PUSH_RETRY
    tally = _Tally()
    try:
        if target.writes_in_batches and len(items) > 1:
            _write_batched(items, target, trace, retry, tally)
        else:
            _write_one_by_one(items, target, trace, retry, tally)
    finally:  # a run stopped by the target still says what it wrote
        counts = trace.counters.setdefault("push_items", {})
        counts.update(written=tally.written, found_in_target=tally.found, failed=tally.failed)
        api_calls = trace.counters.setdefault("api_calls", {})
        api_calls[target.platform_key] = api_calls.get(target.platform_key, 0) + tally.calls
    return tally.failed


def _retry_after(error: TransientError) -> float | None:
    return getattr(error, "retry_after", None)


def _too_long(error: TransientError) -> str:
    return f"{error.message}; the target asked to wait {error.retry_after:.0f} s, so the next run retries it"


def _start_pushing(item: PushItem) -> None:
    if item.status == PushItem.Status.PUSHING:  # left mid-write by a crash
        item.attempts += 1
        item.save(update_fields=["attempts", "updated_at"])
    else:
        push_item_transition(item=item, to=PushItem.Status.PUSHING, attempts=item.attempts + 1)


def _fail(item: PushItem, message: str, trace: RunTrace, code: str) -> None:
    push_item_transition(item=item, to=PushItem.Status.FAILED, last_error=message)
    trace.say("error", code, f"{item.kind} {item.key}: {message}")


def _one_try(item: PushItem, target: AccountingTarget, tally: _Tally) -> Callable[[], str]:
    """One try at writing `item`, returning its id in the target. An item
    never sent before cannot be in the target: asking would only cost a
    call. Once sent (attempts > 0, or a failed try), the key is looked up
    first. Build it before `_start_pushing` counts the attempt."""
    look = item.attempts > 0

    def attempt() -> str:
        nonlocal look
        if look:
            tally.calls += 1
            target_id = target.find_document(key=item.key)
            if target_id is not None:
                tally.found += 1  # written before a crash lost the record of it
                # What the crash may have cut short after the document itself
                # (a credit note's allocation); the target skips what is done.
                complete = getattr(target, "complete_document", None)
                if complete is not None:
                    complete(key=item.key, document=item.payload, target_id=target_id)
                return target_id
        look = True  # from here on, a failed try may have reached the target
        tally.calls += 1
        target_id = target.write_document(key=item.key, document=item.payload)
        tally.written += 1
        return target_id

    return attempt


def _write_one_by_one(
    items: list[PushItem],
    target: AccountingTarget,
    trace: RunTrace,
    retry: RetryPolicy,
    tally: _Tally,
) -> None:
    for item in items:
        attempt = _one_try(item, target, tally)
        _start_pushing(item)
        try:
            target_id = retry.call(attempt)
        except TransientError as error:
            if retry.too_long(_retry_after(error)):
                _fail(item, _too_long(error), trace, type(error).__name__)
            else:
                _fail(item, error.message, trace, type(error).__name__)
                trace.messages[-1]["message"] += f" (gave up after {retry.attempts} attempts)"
            tally.failed += 1
            continue
        except (CredentialsRevoked, SubscriptionExpired) as error:
            push_item_transition(item=item, to=PushItem.Status.FAILED, last_error=error.message)
            tally.failed += 1
            raise
        except ApplicationError as error:
            _fail(item, error.message, trace, type(error).__name__)
            tally.failed += 1
            continue
        push_item_transition(
            item=item, to=PushItem.Status.PUSHED, target_id=target_id, last_error=""
        )


def _write_batched(
    items: list[PushItem],
    target: AccountingTarget,
    trace: RunTrace,
    retry: RetryPolicy,
    tally: _Tally,
) -> None:
    """Several documents per call. The target's `write_documents` looks up
    the keys it already holds before writing, so a retried batch writes
    nothing twice; each key comes back with its id or the error that refused
    that document alone. A failed call and documents to try again share the
    policy's attempts; between rounds of the latter the backoff has no jitter."""
    steady = replace(retry, jitter=(1.0, 1.0))
    for item in items:
        _start_pushing(item)
    remaining = list(items)
    last: dict[str, str] = {}
    rounds = 0
    while remaining:
        rounds += 1
        try:
            tally.calls += 1
            results = target.write_documents([(i.key, i.payload) for i in remaining])
        except TransientError as error:
            pause = retry.pause(failures=rounds, retry_after=_retry_after(error))
            if pause is None:
                message = (
                    _too_long(error)
                    if retry.too_long(_retry_after(error))
                    else f"{error.message} (gave up after {retry.attempts} attempts)"
                )
                for item in remaining:
                    _fail(item, message, trace, type(error).__name__)
                tally.failed += len(remaining)
                return
            retry.sleep(pause)
            continue
        except (CredentialsRevoked, SubscriptionExpired) as error:
            # What the batch wrote before the refusal is in the target: pushed.
            for item in remaining:
                target_id = error.settled.get(item.key)
                if target_id is not None:
                    push_item_transition(
                        item=item, to=PushItem.Status.PUSHED, target_id=target_id, last_error=""
                    )
                    tally.written += 1
                else:
                    push_item_transition(
                        item=item, to=PushItem.Status.FAILED, last_error=error.message
                    )
                    tally.failed += 1
            raise
        again = []
        for item in remaining:
            outcome = results.get(item.key)
            if isinstance(outcome, str):
                push_item_transition(
                    item=item, to=PushItem.Status.PUSHED, target_id=outcome, last_error=""
                )
                tally.written += 1
            elif isinstance(outcome, ApplicationError) and not outcome.transient:
                _fail(item, outcome.message, trace, type(outcome).__name__)
                tally.failed += 1
            else:  # transient for this document, or not answered: try it again
                last[item.key] = (
                    outcome.message
                    if isinstance(outcome, ApplicationError)
                    else "no answer for this document"
                )
                again.append(item)
        remaining = again
        pause = steady.pause(failures=rounds) if remaining else None
        if pause is None:
            break
        retry.sleep(pause)
    for item in remaining:
        _fail(
            item,
            f"{last.get(item.key, 'not written')} (gave up after {retry.attempts} attempts)",
            trace,
            "TransientError",
        )
        tally.failed += 1
