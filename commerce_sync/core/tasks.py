"""django-q2 tasks: thin, idempotent callers of the services.

Delivery is at least once; a task that runs twice finds the period already
synced (nothing due) or the push items already pushed, and writes nothing.
"""

from __future__ import annotations

from datetime import date

from django_q.tasks import async_task

from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.services import alerts
from commerce_sync.errors import ApplicationError, DuplicateSync
from commerce_sync.syncs.runs import sync_run_execute
from commerce_sync.syncs.scheduling import long_runs_flag, merchants_due
from commerce_sync.webhooks.services import webhook_deliveries_dispatch

SYNC_TASK = "commerce_sync.core.tasks.sync_merchant"


def sync_merchant(
    merchant_id: str,
    first: str | None = None,
    until: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
) -> str:
    """Sync one merchant: what is due, the range [first, until), or the
    pending run `run_id` made by a partner's request (`sync_request`). A
    requested run that finds the lock taken raises, so django-q2 tries it
    again later (Q_CLUSTER retry)."""
    merchant = Merchant.objects.select_related("sync_configuration").get(pk=merchant_id)
    run = SyncRun.objects.get(pk=run_id, merchant=merchant) if run_id else None
    try:
        run = sync_run_execute(
            merchant=merchant,
            first=date.fromisoformat(first) if first else None,
            until=date.fromisoformat(until) if until else None,
            run=run,
            **({"actor": actor} if actor else {}),
        )
    except DuplicateSync as error:
        if run_id:
            raise
        return f"skipped: {error.message}"
    except ApplicationError as error:  # disabled, no connection ...: nothing to retry
        return f"refused ({error.status_code}): {error.message}"
    return "nothing due" if run is None else f"{run.pk} {run.status_code}"


def dispatch_due_syncs() -> int:
    """The scheduler's tick: flag long runs, enqueue one sync per due merchant,
    enqueue the webhook deliveries due."""
    long_runs_flag()
    due = merchants_due()
    for merchant in due:
        async_task(SYNC_TASK, str(merchant.pk), group="sync", task_name=f"sync {merchant.pk}")
    webhook_deliveries_dispatch()  # webhook retries now due (never raises)
    return len(due)


def alerts_digests_send() -> int:
    """The daily digest of every partner (sent at most once a day each)."""
    return alerts.alerts_digests_send()
