"""One sync of one merchant: read, store, map, push, record.

The steps follow ARCHITECTURE.md's data flow. Exactly-once rests on three
things: a per-merchant lock, deterministic push-item keys (unique per
merchant in the database), and asking the target for a key before writing it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, PushItem, SourceRecord, SyncRun
from commerce_sync.core.services.alerts import alert_raise
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.scheduling import latest_due, merchant_disable_if_failing
from commerce_sync.core.services.transitions import push_item_transition, sync_run_transition
from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    CredentialsRevoked,
    DataProcessingError,
    DuplicateSync,
    SubscriptionExpired,
    TransientError,
)
from connectors import registry
from connectors.protocols import AccountingTarget, CommerceBatch
from mapping.canonical import Order, Transaction, parse_record, parse_reference
from mapping.config import parse_configuration
from mapping.engine import Edit, map_period, payment_index
from mapping.errors import MappingError
from mapping.periods import Period, local_instant, zone

log = logging.getLogger(__name__)
Status = SyncRun.Status
Code = SyncRun.StatusCode
PUSH_ATTEMPTS = 4  # per item per run, for transient faults
BACKOFF_CAP_SECONDS = 30.0


@dataclass
class RunTrace:
    """Counters and timings gathered while a run works."""

    counters: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - began, 4)

    def say(self, level: str, code: str, message: str) -> None:
        self.messages.append({"level": level, "code": code, "message": message})


# -- periods --


def merchant_period_due(
    *, merchant: Merchant, now: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """From the end of the last successful period (or the start date, if it
    was moved later) to the latest due date; None when nothing is due yet."""
    config = merchant.sync_configuration
    tz = zone(config.time_zone)
    last = (
        SyncRun.objects.filter(merchant=merchant, status=Status.SUCCEEDED)
        .exclude(kind=SyncRun.Kind.HISTORIC)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    start = local_instant(config.start_date, config.sync_hour, tz)
    if last is not None:
        start = max(start, last)
    end = latest_due(config, now or timezone.now())
    return (start, end) if end > start else None


def merchant_period_between(
    *, merchant: Merchant, first: date, until: date
) -> tuple[datetime, datetime]:
    """An explicit range of business days: `first` to `until` (exclusive)."""
    config = merchant.sync_configuration
    tz = zone(config.time_zone)
    if until <= first:
        raise ConfigurationError(f"The range ends ({until}) on or before it starts ({first})")
    return local_instant(first, config.sync_hour, tz), local_instant(until, config.sync_hour, tz)


# -- the lock --


@contextmanager
def merchant_lock(merchant: Merchant) -> Iterator[bool]:
    """One sync per merchant across processes and machines: a PostgreSQL
    session advisory lock. With SQLite (the embedded default: a web process
    and qcluster workers, all on this machine) an exclusive `flock` on a file
    beside the database; like the session's lock, it dies with its process."""
    if db_connection.vendor != "postgresql":
        import fcntl
        from pathlib import Path

        name = str(db_connection.settings_dict["NAME"])
        if name == ":memory:" or "mode=memory" in name:  # in-memory: one process
            yield True
            return
        locks = Path(name).with_name(Path(name).name + ".locks")
        locks.mkdir(exist_ok=True)
        with open(locks / f"sync-{merchant.pk}.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                acquired = True
            except BlockingIOError:
                acquired = False
            yield acquired  # closing the file releases the lock
        return
    lock_id = int.from_bytes(
        hashlib.sha256(b"sync:" + merchant.pk.bytes).digest()[:8], "big", signed=True
    )
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])


# -- the run --


@contextmanager
def deauthorizes(connection: Connection) -> Iterator[None]:
    """A grant revoked on the platform's side marks its connection
    Deauthorized (the merchant must reconnect); the error goes on up."""
    try:
        yield
    except CredentialsRevoked as error:
        connection_mark_deauthorized(connection=connection, reason=error.message)
        raise


def connection_mark_deauthorized(
    *, connection: Connection, reason: str, actor: str = SYSTEM
) -> None:
    with transaction.atomic():
        before = connection.status
        connection.status = Connection.Status.DEAUTHORIZED
        connection.last_error = reason
        connection.save(update_fields=["status", "last_error", "updated_at"])
        audit_log_write(
            actor=actor,
            action="connection.deauthorized",
            obj=connection,
            changes={"from": before, "to": connection.status, "reason": reason},
        )
        alert_raise(
            merchant=connection.merchant,
            code="connection_deauthorized",
            message=f"The {connection.platform_key} connection was deauthorised: {reason}. The merchant must reconnect it.",
        )


def _connection(merchant: Merchant, source_type: str) -> Connection:
    found = (
        merchant.connections.filter(source_type=source_type, status=Connection.Status.LINKED)
        .order_by("created_at")
        .first()
    )
    if found is None:
        raise ConfigurationError(f"The merchant has no linked {source_type} connection")
    return found


def sync_run_execute(
    *,
    merchant: Merchant,
    first: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    actor: str = SYSTEM,
) -> SyncRun | None:
    """Sync `merchant` to the latest due date, or the explicit business days
    [first, until). Returns the run, or None when nothing is due."""
    if not merchant.enabled:
        raise ConfigurationError(
            f"Sync is disabled for {merchant.name}: {merchant.disabled_reason or 'no reason recorded'}"
        )
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        _abandon_interrupted_runs(merchant)
        if first is not None and until is not None:
            kind = SyncRun.Kind.HISTORIC
            start, end = merchant_period_between(merchant=merchant, first=first, until=until)
            _refuse_overlap(merchant, start, end)
        else:
            kind = SyncRun.Kind.LATEST if actor != SYSTEM else SyncRun.Kind.SCHEDULED
            due = merchant_period_due(merchant=merchant, now=now)
            if due is None:
                return None
            start, end = due
            if until is not None:
                end = min(
                    end,
                    local_instant(
                        until,
                        merchant.sync_configuration.sync_hour,
                        zone(merchant.sync_configuration.time_zone),
                    ),
                )
                if end <= start:
                    return None
        run = SyncRun.objects.create(
            merchant=merchant, kind=kind, period_start=start, period_end=end
        )
        sync_run_transition(run=run, to=Status.RUNNING, status_code=Code.IN_PROGRESS, actor=actor)
        _execute(run, merchant)
        if kind != SyncRun.Kind.HISTORIC:
            merchant_disable_if_failing(merchant=merchant, run=run)
        return run


def _abandon_interrupted_runs(merchant: Merchant) -> None:
    """Holding the lock, any run still marked running was cut short (a crash):
    close it so its period is covered again."""
    for run in SyncRun.objects.filter(
        merchant=merchant, status__in=[Status.RUNNING, Status.PENDING]
    ):
        sync_run_transition(
            run=run,
            to=Status.FAILED,
            status_code=Code.SERVER_ERROR,
            messages=[
                *run.messages,
                {
                    "level": "error",
                    "code": "Interrupted",
                    "message": "The sync was interrupted; the next run covers its period",
                },
            ],
        )


def _refuse_overlap(merchant: Merchant, start: datetime, end: datetime) -> None:
    overlapping = SyncRun.objects.filter(
        merchant=merchant,
        period_start__lt=end,
        period_end__gt=start,
        status=Status.SUCCEEDED,
        data_pushed=True,
    ).first()
    if overlapping is not None:
        raise DuplicateSync(
            f"The range overlaps sync {overlapping.pk} ({overlapping.period_start:%Y-%m-%d} to "
            f"{overlapping.period_end:%Y-%m-%d}), which already posted; nothing was written"
        )


def _execute(run: SyncRun, merchant: Merchant) -> None:
    trace = RunTrace()
    try:
        code = _work(run, merchant, trace)
    except ApplicationError as error:
        log.warning(
            "sync failed",
            extra={"merchant": str(merchant.pk), "sync": str(run.pk), "code": error.status_code},
        )
        trace.say("error", type(error).__name__, error.message)
        code = error.status_code
    except Exception as error:  # anything unanticipated: keep the detail for support
        log.exception("sync crashed", extra={"merchant": str(merchant.pk), "sync": str(run.pk)})
        trace.say(
            "error",
            "ServerError",
            f"Internal error ({type(error).__name__}); support has the details",
        )
        code = Code.SERVER_ERROR
    succeeded = code in (Code.SUCCESS, Code.SUCCESS_NO_DATA)
    sync_run_transition(
        run=run,
        to=Status.SUCCEEDED if succeeded else Status.FAILED,
        status_code=code,
        messages=trace.messages,
        counters=trace.counters,
        timings=trace.timings,
        data_pushed=run.data_pushed,
    )


def record_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Incoming:
    kind: str
    payload: dict[str, Any]
    parsed: Order | Transaction
    digest: str
    existing: SourceRecord | None


def _work(run: SyncRun, merchant: Merchant, trace: RunTrace) -> int:
    config_row = merchant.sync_configuration
    tz = zone(config_row.time_zone)
    period = Period(run.period_start, run.period_end, config_row.sync_hour, tz)
    try:
        config = parse_configuration(config_row.document)
    except MappingError as error:
        for issue in error.issues:
            trace.say("error", issue.code, issue.message)
        return Code.CONFIGURATION_ERROR
    commerce = _connection(merchant, Connection.SourceType.COMMERCE)
    accounting = _connection(merchant, Connection.SourceType.ACCOUNTING)
    source = registry.commerce_source(commerce)
    target = registry.accounting_target(accounting)

    with trace.phase("read"), deauthorizes(commerce):
        batch = source.read_period(start=run.period_start, end=run.period_end)
    trace.counters["records_read"] = {
        "orders": len(batch.orders),
        "transactions": len(batch.transactions),
    }
    trace.counters["api_calls"] = {source.platform_key: batch.api_calls}

    with trace.phase("store"):
        incoming = _incoming(merchant, batch, tz)
        fresh, late, edits, unchanged = _classify(incoming, period)
        _store(merchant, incoming)
    trace.counters["records"] = {
        "new": len(fresh),
        "late": len(late),
        "edited": len(edits),
        "unchanged": unchanged,
    }

    with trace.phase("map"):
        reference = parse_reference(batch.as_commerce(), tz)
        reference.orders = [r.parsed for r in fresh if r.kind == "order"]
        reference.transactions = [r.parsed for r in fresh if r.kind == "transaction"]
        result = map_period(
            reference,
            config,
            period,
            key_prefix=str(merchant.pk),
            late=[r.parsed for r in late],
            edits=[Edit(_posted_version(r, tz), r.parsed) for r in edits],
            payment_types=payment_index(r.parsed for r in incoming if r.kind == "order"),
        )
    for issue in result.warnings:
        trace.say("warning", issue.code, issue.message)
    if result.errors:
        for issue in result.errors:
            trace.say("error", issue.code, issue.message)
        data_codes = {
            "UnbalancedOrder",
            "TaxComponentMismatch",
            "CurrencyMismatch",
            "InvalidCommerceData",
            "DuplicateRecord",
        }
        is_data = any(issue.code in data_codes for issue in result.errors)
        return Code.DATA_PROCESSING_ERROR if is_data else Code.CONFIGURATION_ERROR
    trace.counters["documents"] = len(result.documents)

    documents = [doc.as_json() for doc in result.documents]
    with trace.phase("validate"), deauthorizes(accounting):
        _validate_against_target(documents, target, trace)

    with trace.phase("push"):
        items = _push_items(run, merchant, documents, [*fresh, *late, *edits], trace)
        with deauthorizes(accounting):
            failed = push_items_write(items=items, target=target, trace=trace)
    run.data_pushed = trace.counters.get("push_items", {}).get("written", 0) > 0
    if failed:
        return Code.DATA_WRITE_ERROR
    return Code.SUCCESS if run.data_pushed else Code.SUCCESS_NO_DATA


def _incoming(merchant: Merchant, batch: CommerceBatch, tz) -> list[_Incoming]:
    records: list[_Incoming] = []
    problems: list[str] = []
    for kind, payloads in (("order", batch.orders), ("transaction", batch.transactions)):
        ids = [str(p.get("id")) for p in payloads]
        existing = {
            r.source_id: r
            for r in SourceRecord.objects.filter(merchant=merchant, kind=kind, source_id__in=ids)
        }
        for payload in payloads:
            try:
                parsed = parse_record(kind, payload, tz)
            except MappingError as error:
                problems.extend(issue.message for issue in error.issues)
                continue
            records.append(
                _Incoming(kind, payload, parsed, record_hash(payload), existing.get(parsed.id))
            )
    if problems:
        raise DataProcessingError(
            "; ".join(problems[:20])
            + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    return records


def _classify(records: list[_Incoming], period: Period) -> tuple[list, list, list, int]:
    fresh, late, edits = [], [], []
    unchanged = 0
    for record in records:
        existing = record.existing
        if existing is not None and existing.posted_run_id is not None:
            # Compare with what was posted, not with the last read: a run that
            # failed before posting must not hide an edit from the next one.
            if record_hash(existing.posted_payload) == record.digest:
                unchanged += 1  # posted before, same content: nothing to do
            else:
                edits.append(record)
        elif period.contains(record.parsed.created):
            fresh.append(record)
        else:
            late.append(record)  # its day was synced before it reached us
    return fresh, late, edits, unchanged


def _store(merchant: Merchant, records: list[_Incoming]) -> None:
    """Keep every record as read (the raw store that later syncs compare to)."""
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


def _posted_version(record: _Incoming, tz) -> Order | Transaction:
    return parse_record(record.kind, record.existing.posted_payload, tz)


def _mark_posted(run: SyncRun, records: list[_Incoming]) -> None:
    rows = []
    for record in records:
        row = record.existing
        if row is None or row.pk is None:
            continue
        row.posted_run = run
        row.posted_payload = record.payload
        rows.append(row)
    SourceRecord.objects.bulk_update(rows, ["posted_run", "posted_payload"], batch_size=500)


def _validate_against_target(
    documents: list[dict[str, Any]], target: AccountingTarget, trace: RunTrace
) -> None:
    """Accounts, tax rates and contacts may have been archived or deleted
    since the setup: refuse before writing anything rather than half-post a day."""
    accounts = {a.id: a for a in target.list_accounts()}
    used: set[str] = set()
    for document in documents:
        used.update(_account_ids(document))
    problems = []
    for account_id in sorted(used):
        found = accounts.get(account_id)
        if found is None:
            problems.append(f"Account {account_id} does not exist in {target.platform_key}")
        elif found.status != "Active":
            problems.append(f"Account {account_id} is archived in {target.platform_key}")
    trace.counters["api_calls"][target.platform_key] = 1
    if not problems:  # what else the target can tell ([] where it cannot)
        problems.extend(target.check_references(documents))
    if problems:
        raise ConfigurationError("; ".join(problems))


def _account_ids(document: dict[str, Any]) -> Iterator[str]:
    for key in ("accountRef", "fromAccountRef", "toAccountRef"):
        if document.get(key):
            yield document[key]["id"]
    for line in document.get("journalLines", []) + document.get("lineItems", []):
        yield line["accountRef"]["id"]


def _push_items(
    run: SyncRun,
    merchant: Merchant,
    documents: list[dict[str, Any]],
    records: list[_Incoming],
    trace: RunTrace,
) -> list[PushItem]:
    """One push item per document, created in the same transaction that marks
    the records posted (an outbox: from here on the items carry the intent,
    and every later run finishes what an earlier one left unwritten)."""
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
        _mark_posted(run, records)
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


def _retry_pause(error: TransientError, attempt: int) -> float | None:
    """How long to wait before trying again, or None when the target asked
    for longer than a run should hold the merchant's lock: the item is left
    for the next run (which carries unfinished items over)."""
    jitter = random.random() / 2  # noqa: S311 - jitter, not security
    wait = getattr(error, "retry_after", None)
    if wait and wait > BACKOFF_CAP_SECONDS:
        return None
    if wait:  # a minimum: never sooner than asked
        return wait * (1 + jitter / 2)
    return min(BACKOFF_CAP_SECONDS, 0.2 * 2**attempt) * (0.5 + jitter)


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


def push_items_write(*, items: list[PushItem], target: AccountingTarget, trace: RunTrace) -> int:
    """Write each item exactly once; returns how many failed. Transient
    faults are retried with exponential backoff and jitter inside the run;
    permanent ones fail the item with the target's message. A target that
    can write several documents per call gets them in batches."""
    counts = trace.counters.setdefault("push_items", {})
    if target.writes_in_batches and len(items) > 1:
        written, found, failed, calls = _write_batched(items, target, trace)
    else:
        written, found, failed, calls = _write_one_by_one(items, target, trace)
    counts.update(written=written, found_in_target=found, failed=failed)
    api_calls = trace.counters.setdefault("api_calls", {})
    api_calls[target.platform_key] = api_calls.get(target.platform_key, 0) + calls
    return failed


def _write_one_by_one(
    items: list[PushItem], target: AccountingTarget, trace: RunTrace
) -> tuple[int, int, int, int]:
    written = found = failed = calls = 0
    for item in items:
        # An item never sent before cannot be in the target: asking would only
        # cost a call. Once sent (attempts > 0), every write is preceded by a look.
        sent_before = item.attempts > 0
        _start_pushing(item)
        for attempt in range(PUSH_ATTEMPTS):
            try:
                target_id = None
                if sent_before or attempt > 0:
                    calls += 1
                    target_id = target.find_document(key=item.key)
                if target_id is not None:
                    found += 1  # written before a crash lost the record of it
                else:
                    calls += 1
                    target_id = target.write_document(key=item.key, document=item.payload)
                    written += 1
                push_item_transition(
                    item=item, to=PushItem.Status.PUSHED, target_id=target_id, last_error=""
                )
                break
            except TransientError as error:
                pause = _retry_pause(error, attempt)
                if pause is None:
                    _fail(item, _too_long(error), trace, type(error).__name__)
                    failed += 1
                    break
                if attempt + 1 == PUSH_ATTEMPTS:
                    _fail(item, error.message, trace, type(error).__name__)
                    trace.messages[-1]["message"] += f" (gave up after {PUSH_ATTEMPTS} attempts)"
                    failed += 1
                    break
                time.sleep(pause)
            except (CredentialsRevoked, SubscriptionExpired) as error:
                push_item_transition(item=item, to=PushItem.Status.FAILED, last_error=error.message)
                raise
            except ApplicationError as error:
                _fail(item, error.message, trace, type(error).__name__)
                failed += 1
                break
    return written, found, failed, calls


def _write_batched(
    items: list[PushItem], target: AccountingTarget, trace: RunTrace
) -> tuple[int, int, int, int]:
    """Several documents per call. The target's `write_documents` looks up
    the keys it already holds before writing, so a retried batch writes
    nothing twice; each key comes back with its id or the error that refused
    that document alone."""
    written = failed = calls = 0
    for item in items:
        _start_pushing(item)
    remaining = list(items)
    last: dict[str, str] = {}
    for attempt in range(PUSH_ATTEMPTS):
        try:
            calls += 1
            results = target.write_documents([(i.key, i.payload) for i in remaining])
        except TransientError as error:
            pause = _retry_pause(error, attempt)
            if pause is None or attempt + 1 == PUSH_ATTEMPTS:
                message = (
                    _too_long(error)
                    if pause is None
                    else f"{error.message} (gave up after {PUSH_ATTEMPTS} attempts)"
                )
                for item in remaining:
                    _fail(item, message, trace, type(error).__name__)
                return written, 0, failed + len(remaining), calls
            time.sleep(pause)
            continue
        except (CredentialsRevoked, SubscriptionExpired) as error:
            for item in remaining:
                push_item_transition(item=item, to=PushItem.Status.FAILED, last_error=error.message)
            raise
        retry = []
        for item in remaining:
            outcome = results.get(item.key)
            if isinstance(outcome, str):
                push_item_transition(
                    item=item, to=PushItem.Status.PUSHED, target_id=outcome, last_error=""
                )
                written += 1
            elif isinstance(outcome, ApplicationError) and not outcome.transient:
                _fail(item, outcome.message, trace, type(outcome).__name__)
                failed += 1
            else:  # transient for this document, or not answered: try it again
                last[item.key] = (
                    outcome.message
                    if isinstance(outcome, ApplicationError)
                    else "no answer for this document"
                )
                retry.append(item)
        remaining = retry
        if not remaining:
            break
        if attempt + 1 < PUSH_ATTEMPTS:
            time.sleep(min(BACKOFF_CAP_SECONDS, 0.2 * 2**attempt))
    for item in remaining:
        _fail(
            item,
            f"{last.get(item.key, 'not written')} (gave up after {PUSH_ATTEMPTS} attempts)",
            trace,
            "TransientError",
        )
        failed += 1
    return written, 0, failed, calls


def push_items_retry_failed(*, run: SyncRun, actor: str = SYSTEM) -> SyncRun:
    """Retry a failed run's unwritten items alone (portal button, API, CLI):
    the failed ones, those a refusal (4040, 4260) or a crash left behind, and
    those of earlier runs it carried over and failed on too."""
    merchant = run.merchant
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        _abandon_interrupted_runs(merchant)  # a run cut short by a crash is failed now
        run.refresh_from_db()
        items = list(
            PushItem.objects.filter(
                merchant=merchant, created_at__lte=run.finished_at or timezone.now()
            )
            .exclude(status=PushItem.Status.PUSHED)
            .order_by("created_at", "id")
        )
        if not items:
            return run
        target = registry.accounting_target(_connection(merchant, Connection.SourceType.ACCOUNTING))
        sync_run_transition(run=run, to=Status.RUNNING, status_code=Code.IN_PROGRESS, actor=actor)
        trace = RunTrace(counters=dict(run.counters), messages=list(run.messages))
        refused: ApplicationError | None = None
        with trace.phase("retry"):
            try:
                failed = push_items_write(items=items, target=target, trace=trace)
            except ApplicationError as error:  # the target refused them all: end failed, say why
                trace.say("error", type(error).__name__, error.message)
                refused = error
                failed = (
                    PushItem.objects.filter(pk__in=[i.pk for i in items])
                    .exclude(status=PushItem.Status.PUSHED)
                    .count()
                )
        audit_log_write(
            actor=actor,
            action="sync_run.retry_failed",
            obj=run,
            changes={"items": len(items), "failed": failed},
        )
        pushed_any = run.data_pushed or trace.counters["push_items"].get("written", 0) > 0
        sync_run_transition(
            run=run,
            to=Status.FAILED if failed else Status.SUCCEEDED,
            status_code=refused.status_code
            if refused
            else Code.DATA_WRITE_ERROR
            if failed
            else (Code.SUCCESS if pushed_any else Code.SUCCESS_NO_DATA),
            counters=trace.counters,
            timings=trace.timings,
            messages=trace.messages,
            data_pushed=pushed_any,
        )
        return run
