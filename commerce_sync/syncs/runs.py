"""One sync of one merchant: lock, period, read, store, map, push, record.

`sync_run_execute` is what the task, the CLI and the portal call. Read
`_work` top to bottom for the data flow of ARCHITECTURE.md; each step is
one module of this package:

    locks.merchant_lock            one sync per merchant
    periods.merchant_period_due    what is due (or an explicit range)
    connector.read_period          commerce records           (connectors/)
    intake.*                       hash, classify, store the records
    mapping.engine.map_period      records -> documents       (mapping/)
    push.push_items_create         one push item per document (the outbox)
    push.push_items_write          write each item exactly once
    transitions.*                  status moves, audited

Exactly-once rests on three things: the per-merchant lock, deterministic
push-item keys (unique per merchant in the database), and asking the target
for a key before writing it again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, SyncRun
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.connections import (
    connection_source,
    connection_target,
    deauthorizes,
)
from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    DuplicateSync,
    NothingDue,
)
from commerce_sync.syncs.intake import (
    payment_types_stored,
    record_posted_version,
    records_classify,
    records_take_in,
    source_records_store,
    waiting_orders_since,
)
from commerce_sync.syncs.locks import merchant_lock
from commerce_sync.syncs.periods import merchant_period_between, merchant_period_due
from commerce_sync.syncs.push import push_items_create, push_items_write
from commerce_sync.syncs.scheduling import QUEUED_EXPIRY, merchant_disable_if_failing
from commerce_sync.syncs.trace import RunTrace
from commerce_sync.syncs.transitions import sync_run_transition
from connectors.protocols import AccountingTarget
from connectors.retry import RetryPolicy
from mapping.canonical import Transaction
from mapping.config import parse_configuration
from mapping.documents import document_account_refs
from mapping.engine import Edit, map_period, payment_index
from mapping.errors import Issue, MappingError
from mapping.parsing import parse_reference
from mapping.periods import Period, zone

log = logging.getLogger(__name__)
Status = SyncRun.Status
# The message code that marks a run made by `sync_run_request` (queued for a worker).
REQUESTED = "Requested"
Code = SyncRun.StatusCode
# Mapping issues that are the day's data at fault, not the configuration.
DATA_ISSUES = frozenset(
    {
        "UnbalancedOrder",
        "TaxComponentMismatch",
        "CurrencyMismatch",
        "InvalidCommerceData",
        "DuplicateRecord",
        "UnresolvedReference",
    }
)


def sync_run_execute(
    *,
    merchant: Merchant,
    first: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    actor: str = SYSTEM,
    retry: RetryPolicy | None = None,
    run: SyncRun | None = None,
) -> SyncRun | None:
    """Sync `merchant` to the latest due date (cut at business day `until`
    when given), or the explicit business days [first, until) as a historic
    run. Returns the finished run, or None when nothing is due. `retry`
    overrides the push loop's policy (`push.PUSH_RETRY`).

    `run`: a pending run made by `sync_run_request` (the partner API), whose
    kind and period were decided then; it is executed as it stands. A run
    that is no longer pending (a second delivery of its task) is returned
    untouched; a merchant disabled since the request fails it (4000).

    Raises ConfigurationError (merchant disabled or not configured, empty
    range) and
    DuplicateSync (another sync holds the lock or a requested one is queued;
    a range overlapping a run that posted). Failures during the run end it
    failed, with its code."""
    if run is not None:
        return _execute_requested(run, merchant, actor, retry)
    _refuse_disabled(merchant)
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        _refuse_queued(merchant)
        kind, period = _decide(merchant, first, until, now, actor)
        if period is None:
            return None
        start, end = period
        run = SyncRun.objects.create(
            merchant=merchant, kind=kind, period_start=start, period_end=end
        )
        sync_run_transition(run=run, to=Status.RUNNING, status_code=Code.IN_PROGRESS, actor=actor)
        _execute(run, merchant, retry)
        if kind != SyncRun.Kind.HISTORIC:
            merchant_disable_if_failing(merchant=merchant, run=run)
        return run


def _refuse_disabled(merchant: Merchant) -> None:
    if not merchant.enabled:
        raise ConfigurationError(
            f"Sync is disabled for {merchant.name}: {merchant.disabled_reason or 'no reason recorded'}"
        )
    if not hasattr(merchant, "sync_configuration"):  # the reverse one-to-one is absent
        raise ConfigurationError(
            f"{merchant.name} has no sync configuration yet: save one (the partner API's "
            "configuration endpoint or the setup flow) before syncing"
        )


def _refuse_queued(merchant: Merchant) -> None:
    """Holding the lock: runs cut short are failed, and a requested run still
    waiting for its worker counts as a sync in progress (DuplicateSync),
    until it is `QUEUED_EXPIRY` old."""
    queued = sync_runs_abandon_interrupted(merchant=merchant)
    if queued is not None:
        raise DuplicateSync(
            f"Sync {queued.pk} is already queued for {merchant.name}; wait for it to finish"
        )


def _decide(
    merchant: Merchant,
    first: date | None,
    until: date | None,
    now: datetime | None,
    actor: str,
) -> tuple[str, tuple[datetime, datetime] | None]:
    """The kind of run and its period (None: nothing due). Holding the lock;
    raises ConfigurationError (empty range) and DuplicateSync (overlap)."""
    if first is not None and until is not None:
        start, end = merchant_period_between(merchant=merchant, first=first, until=until, now=now)
        _refuse_overlap(merchant, start, end)
        return SyncRun.Kind.HISTORIC, (start, end)
    kind = SyncRun.Kind.LATEST if actor != SYSTEM else SyncRun.Kind.SCHEDULED
    return kind, merchant_period_due(merchant=merchant, now=now, until=until)


def sync_run_request(
    *,
    merchant: Merchant,
    first: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    actor: str,
) -> SyncRun:
    """Decide a sync now and leave it pending for a worker: the same checks
    and period as `sync_run_execute` (to the latest sync hour passed at `now`,
    or the business days [first, until) as a historic run), under the same
    lock, so a caller gets the run's id at once. Execute it with
    `sync_run_execute(merchant=..., run=...)`.

    Raises ConfigurationError (disabled, not configured, empty range),
    DuplicateSync (a sync running or queued; a range overlapping a run that
    posted) and NothingDue (already synced to the latest sync hour)."""
    _refuse_disabled(merchant)
    if not merchant.configured or not hasattr(merchant, "sync_configuration"):
        raise ConfigurationError(f"{merchant.name} is not configured yet: set its configuration")
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        _refuse_queued(merchant)
        kind, period = _decide(merchant, first, until, now, actor)
        if period is None:
            raise NothingDue(
                f"Nothing is due: {merchant.name} is synced to the latest sync hour passed"
            )
        start, end = period
        with transaction.atomic():
            run = SyncRun.objects.create(
                merchant=merchant,
                kind=kind,
                period_start=start,
                period_end=end,
                messages=[{"level": "info", "code": REQUESTED, "message": f"Requested by {actor}"}],
            )
            audit_log_write(
                actor=actor,
                action="sync_run.request",
                obj=run,
                changes={"kind": kind, "period_start": start, "period_end": end},
            )
        return run


def _execute_requested(
    run: SyncRun, merchant: Merchant, actor: str, retry: RetryPolicy | None
) -> SyncRun:
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        run.refresh_from_db()
        if run.status != Status.PENDING:  # delivered twice, or abandoned meanwhile
            return run
        if not merchant.enabled:
            sync_run_transition(
                run=run,
                to=Status.FAILED,
                status_code=Code.CONFIGURATION_ERROR,
                actor=actor,
                messages=[
                    {
                        "level": "error",
                        "code": "ConfigurationError",
                        "message": f"Sync is disabled for {merchant.name}: "
                        f"{merchant.disabled_reason or 'no reason recorded'}",
                    }
                ],
            )
            return run
        sync_runs_abandon_interrupted(merchant=merchant, keep=run)
        sync_run_transition(run=run, to=Status.RUNNING, status_code=Code.IN_PROGRESS, actor=actor)
        _execute(run, merchant, retry)
        if run.kind != SyncRun.Kind.HISTORIC:
            merchant_disable_if_failing(merchant=merchant, run=run)
        return run


def sync_runs_abandon_interrupted(
    *, merchant: Merchant, keep: SyncRun | None = None
) -> SyncRun | None:
    """Holding the lock, any run still marked running was cut short (a crash):
    fail it (5000, "Interrupted") so its period is covered again. So is a
    requested run left pending for `QUEUED_EXPIRY` (its task was lost).
    Returns a younger pending run (other than `keep`), left alone: a
    requested sync waiting for its worker (a run the engine left pending
    when it was killed is failed). One query to find them."""
    expired = timezone.now() - QUEUED_EXPIRY
    runs = SyncRun.objects.filter(merchant=merchant, status__in=[Status.RUNNING, Status.PENDING])
    if keep is not None:
        runs = runs.exclude(pk=keep.pk)
    queued = None
    for run in runs:
        requested = any(m.get("code") == REQUESTED for m in run.messages)
        if run.status == Status.PENDING and requested and run.created_at >= expired:
            queued = run
            continue
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
    return queued


def connection_linked(*, merchant: Merchant, source_type: str) -> Connection:
    """The merchant's oldest linked connection of `source_type` ("commerce"
    or "accounting"); raises ConfigurationError when there is none, naming
    the platform to connect again when its connection was deauthorised."""
    found = (
        merchant.connections.filter(source_type=source_type, status=Connection.Status.LINKED)
        .order_by("created_at")
        .first()
    )
    if found is None:
        message = f"The merchant has no linked {source_type} connection"
        cut = (
            merchant.connections.filter(
                source_type=source_type, status=Connection.Status.DEAUTHORIZED
            )
            .order_by("-updated_at")
            .first()
        )
        if cut is not None:
            from commerce_sync.core.platforms import NAMES

            name = NAMES.get(cut.platform_key, cut.platform_key)
            message += (
                f": {name} no longer accepts its authorisation; "
                f"the merchant needs to connect {name} again"
            )
        raise ConfigurationError(message)
    return found


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


def _execute(run: SyncRun, merchant: Merchant, retry: RetryPolicy | None) -> None:
    """Do the work and end the run succeeded or failed, whatever happens."""
    trace = RunTrace()
    try:
        code = _work(run, merchant, trace, retry)
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


def _work(run: SyncRun, merchant: Merchant, trace: RunTrace, retry: RetryPolicy | None) -> int:
    """The run's period, from the source to the target; returns the status code."""
    config_row = merchant.sync_configuration
    tz = zone(config_row.time_zone)
    period = Period(run.period_start, run.period_end, config_row.sync_hour, tz)
    try:
        config = parse_configuration(config_row.document)
    except MappingError as error:
        for issue in error.issues:
            trace.say("error", issue.code, issue.message)
        return Code.CONFIGURATION_ERROR
    commerce = connection_linked(merchant=merchant, source_type=Connection.SourceType.COMMERCE)
    accounting = connection_linked(merchant=merchant, source_type=Connection.SourceType.ACCOUNTING)
    source = connection_source(connection=commerce)
    target = connection_target(connection=accounting)

    # Orders that waited for their payments in an earlier period are read
    # again with this one: once settled they post here, flagged late.
    waiting_since = waiting_orders_since(merchant=merchant, start=run.period_start)
    read_start = min(run.period_start, waiting_since) if waiting_since else run.period_start
    with trace.phase("read"), deauthorizes(commerce):
        batch = source.read_period(start=read_start, end=run.period_end)
    trace.counters["records_read"] = {
        "orders": len(batch.orders),
        "transactions": len(batch.transactions),
    }
    trace.counters["api_calls"] = {source.platform_key: batch.api_calls}

    with trace.phase("store"):
        notes: list[Issue] = []
        incoming = records_take_in(merchant=merchant, batch=batch, tz=tz, notes=notes)
        for note in notes:
            trace.say("warning", note.code, note.message)
        records = records_classify(incoming, period)
        source_records_store(merchant=merchant, records=incoming)
    trace.counters["records"] = {
        "new": len(records.fresh),
        "late": len(records.late),
        "edited": len(records.edits),
        "unchanged": records.unchanged,
    }

    with trace.phase("map"):
        known = payment_index(r.parsed for r in incoming if r.kind == "order")
        named = {
            r.parsed.source_id
            for r in incoming
            if isinstance(r.parsed, Transaction) and r.parsed.source_id
        }
        stored = payment_types_stored(merchant=merchant, wanted=named - known.keys(), tz=tz)
        reference = parse_reference(batch.as_commerce(), tz)
        reference.orders = [r.parsed for r in records.fresh if r.kind == "order"]
        reference.transactions = [r.parsed for r in records.fresh if r.kind == "transaction"]
        result = map_period(
            reference,
            config,
            period,
            key_prefix=str(merchant.pk),
            late=[r.parsed for r in records.late],
            edits=[Edit(record_posted_version(r, tz), r.parsed) for r in records.edits],
            payment_types=stored | known,
        )
    for issue in result.warnings:
        trace.say("warning", issue.code, issue.message)
    if result.errors:
        for issue in result.errors:
            trace.say("error", issue.code, issue.message)
        is_data = any(issue.code in DATA_ISSUES for issue in result.errors)
        return Code.DATA_PROCESSING_ERROR if is_data else Code.CONFIGURATION_ERROR
    trace.counters["documents"] = len(result.documents)

    documents = [doc.as_json() for doc in result.documents]
    with trace.phase("validate"), deauthorizes(accounting):
        _validate_against_target(documents, target, trace)

    with trace.phase("push"):
        # Orders waiting for their payments are not posted: a later run posts them.
        waiting = set(result.waiting)
        posted = [
            r
            for r in (*records.fresh, *records.late, *records.edits)
            if not (r.kind == "order" and r.parsed.id in waiting)
        ]
        items = push_items_create(
            run=run, merchant=merchant, documents=documents, records=posted, trace=trace
        )
        try:
            with deauthorizes(accounting):
                failed = push_items_write(items=items, target=target, trace=trace, retry=retry)
        finally:  # also when the target stopped the run after some writes
            run.data_pushed = trace.counters.get("push_items", {}).get("written", 0) > 0
    if failed:
        return Code.DATA_WRITE_ERROR
    return Code.SUCCESS if run.data_pushed else Code.SUCCESS_NO_DATA


def _validate_against_target(
    documents: list[dict[str, Any]], target: AccountingTarget, trace: RunTrace
) -> None:
    """Accounts, tax rates and contacts may have been archived or deleted
    since the setup: refuse before writing anything rather than half-post a day."""
    accounts = {a.id: a for a in target.list_accounts()}
    used: set[str] = set()
    for document in documents:
        used.update(document_account_refs(document))
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
    # What the target will write differently from the merchant's other books
    # (e.g. an invoice its payments cannot close there): said, never silent.
    advise = getattr(target, "advisories", None)
    for message in advise(documents) if advise else []:
        trace.say("warning", "TargetAdvisory", message)
