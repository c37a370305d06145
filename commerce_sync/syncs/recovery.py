"""Retrying a failed run's unwritten items alone (portal button, API, CLI).

No reading or mapping: the push items already carry the documents. The run
moves back to running, the items are written as in a sync, and the run ends
succeeded or failed again with its counters and messages carried on.
"""

from __future__ import annotations

from django.utils import timezone

from commerce_sync.core.models import Connection, PushItem, SyncRun
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.connections import connection_target, deauthorizes
from commerce_sync.errors import ApplicationError, DuplicateSync
from commerce_sync.syncs.locks import merchant_lock
from commerce_sync.syncs.push import push_items_write
from commerce_sync.syncs.runs import connection_linked, sync_runs_abandon_interrupted
from commerce_sync.syncs.trace import RunTrace
from commerce_sync.syncs.transitions import sync_run_transition
from connectors.retry import RetryPolicy

Status = SyncRun.Status
Code = SyncRun.StatusCode


def push_items_retry_failed(
    *, run: SyncRun, actor: str = SYSTEM, retry: RetryPolicy | None = None
) -> SyncRun:
    """Retry a failed run's unwritten items: the failed ones, those a
    refusal (4040, 4260) or a crash left behind, and those of earlier runs
    it carried over and failed on too (every unpushed item of the merchant
    created up to the run's end). Returns `run`, updated; unchanged when
    there is nothing to write. `retry` overrides `push.PUSH_RETRY`.

    A revoked grant met on the way marks the connection Deauthorized (as a
    run does) and ends the run 4040. Raises DuplicateSync when a sync of the
    merchant is running, and ConfigurationError when no accounting
    connection is linked."""
    merchant = run.merchant
    with merchant_lock(merchant) as acquired:
        if not acquired:
            raise DuplicateSync(f"A sync is already running for {merchant.name}")
        sync_runs_abandon_interrupted(merchant=merchant)  # a run cut short by a crash is failed now
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
        accounting = connection_linked(
            merchant=merchant, source_type=Connection.SourceType.ACCOUNTING
        )
        target = connection_target(connection=accounting)
        sync_run_transition(run=run, to=Status.RUNNING, status_code=Code.IN_PROGRESS, actor=actor)
        trace = RunTrace(counters=dict(run.counters), messages=list(run.messages))
        refused: ApplicationError | None = None
        with trace.phase("retry"):
            try:
                # A revoked grant deauthorises the connection here as in a run.
                with deauthorizes(accounting):
                    failed = push_items_write(items=items, target=target, trace=trace, retry=retry)
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
