"""The state machines of sync runs and push items.

One function per model moves its status: it refuses a move the machine does
not allow (`IllegalTransition`, nothing saved), and saves the move with
`update_fields` together with its audit row in one transaction (joining the
caller's transaction when there is one, as Zulip's actions do).

    SyncRun:  pending -> running | failed;  running -> succeeded | failed;
              failed -> running (retrying its failed items);  succeeded: final
    PushItem: pending -> pushing | failed;  pushing -> pushed | failed;
              failed -> pushing;  pushed: final
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from commerce_sync.core.models import PushItem, SyncRun
from commerce_sync.core.services.alerts import alerts_after_run
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.errors import IllegalTransition
from commerce_sync.webhooks.events import webhook_sync_run_finished

_RUN_MOVES: dict[str, frozenset[str]] = {
    SyncRun.Status.PENDING: frozenset({SyncRun.Status.RUNNING, SyncRun.Status.FAILED}),
    SyncRun.Status.RUNNING: frozenset({SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED}),
    SyncRun.Status.FAILED: frozenset({SyncRun.Status.RUNNING}),  # retrying failed items
    SyncRun.Status.SUCCEEDED: frozenset(),
}
_PUSH_MOVES: dict[str, frozenset[str]] = {
    PushItem.Status.PENDING: frozenset({PushItem.Status.PUSHING, PushItem.Status.FAILED}),
    PushItem.Status.PUSHING: frozenset({PushItem.Status.PUSHED, PushItem.Status.FAILED}),
    PushItem.Status.FAILED: frozenset({PushItem.Status.PUSHING}),
    PushItem.Status.PUSHED: frozenset(),
}


def _save_audited(
    obj: models.Model,
    values: dict[str, Any],
    update_fields: list[str],
    *,
    actor: str,
    action: str,
    changes: dict[str, Any],
) -> None:
    """Set `values` on `obj`, save `update_fields` and write the audit row,
    all or nothing; on failure `obj` gets its former values back too."""
    before = {name: getattr(obj, name) for name in update_fields}
    try:
        with transaction.atomic(savepoint=False):
            for name, value in values.items():
                setattr(obj, name, value)
            obj.save(update_fields=update_fields)
            audit_log_write(actor=actor, action=action, obj=obj, changes=changes)
    except BaseException:
        for name, value in before.items():
            setattr(obj, name, value)
        raise


def sync_run_transition(
    *, run: SyncRun, to: str, status_code: int | None = None, actor: str = SYSTEM, **fields: Any
) -> None:
    """Move `run` to status `to`, optionally setting its `status_code` and
    other `fields` (messages, counters, timings, data_pushed ...) in the same
    save. Stamps `started_at` on the first move to running and `finished_at`
    on every move to succeeded or failed. Raises IllegalTransition when the
    move is not allowed (nothing is saved)."""
    if to not in _RUN_MOVES[run.status]:
        raise IllegalTransition(f"Sync run {run.pk} cannot move from {run.status} to {to}")
    before = run.status
    values: dict[str, Any] = {"status": to, **fields}
    if status_code is not None:
        values["status_code"] = status_code
    now = timezone.now()
    if to == SyncRun.Status.RUNNING and run.started_at is None:
        values["started_at"] = now
    if to in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        values["finished_at"] = now
    _save_audited(
        run,
        values,
        list(values),
        actor=actor,
        action="sync_run.transition",
        changes={
            "from": before,
            "to": to,
            "status_code": values.get("status_code", run.status_code),
        },
    )
    webhook_sync_run_finished(run=run)  # sync.completed / sync.failed when it ended
    alerts_after_run(run=run)  # incidents opened, alerted once, resolved (never raises)


def push_item_transition(*, item: PushItem, to: str, actor: str = SYSTEM, **fields: Any) -> None:
    """Move `item` to status `to`, setting other `fields` (target_id,
    last_error, attempts) in the same save; the audit row carries the error
    when `last_error` is set. Raises IllegalTransition when the move is not
    allowed (nothing is saved)."""
    if to not in _PUSH_MOVES[item.status]:
        raise IllegalTransition(f"Push item {item.key} cannot move from {item.status} to {to}")
    before = item.status
    _save_audited(
        item,
        {"status": to, **fields},
        ["status", "updated_at", *fields],
        actor=actor,
        action="push_item.transition",
        changes={
            "from": before,
            "to": to,
            **({"error": fields["last_error"]} if fields.get("last_error") else {}),
        },
    )
