"""Syncs a partner asks for: decided and recorded now, run by a worker.

`sync_request` is what the partner API calls for Codat's `request-sync` and
`request-sync-for-date-range`: the run is created pending (status code
1000) under the engine's own checks (`syncs.runs.sync_run_request`), and its
execution is enqueued on django-q2 once the transaction commits, so the
caller answers at once with the run's id.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django_q.tasks import async_task

from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.tasks import SYNC_TASK
from commerce_sync.syncs.runs import sync_run_request


def sync_request(
    *,
    merchant: Merchant,
    first: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    actor: str,
) -> SyncRun:
    """A pending run of `merchant` and its task, enqueued on commit.

    To the latest sync hour passed at `now` (default: the current time;
    Codat's `syncTo`), or the business days [first, until) when both are
    given (Codat's `dateRange`). Raises what `sync_run_request` raises:
    ConfigurationError, DuplicateSync (5080), NothingDue (2040)."""
    run = sync_run_request(merchant=merchant, first=first, until=until, now=now, actor=actor)
    merchant_id, run_id = str(merchant.pk), str(run.pk)
    transaction.on_commit(
        lambda: async_task(
            SYNC_TASK,
            merchant_id,
            run_id=run_id,
            actor=actor,
            group="sync",
            task_name=f"sync {merchant_id} {run_id}",
        )
    )
    return run
