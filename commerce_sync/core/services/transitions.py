"""The state machines of sync runs and push items: one function each moves
state, refuses illegal moves, and records every move in the audit trail."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from commerce_sync.core.models import PushItem, SyncRun
from commerce_sync.core.services.audit import SYSTEM, audit_log_write

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


class IllegalTransition(Exception):
    pass


def sync_run_transition(
    *, run: SyncRun, to: str, status_code: int | None = None, actor: str = SYSTEM, **fields: Any
) -> None:
    if to not in _RUN_MOVES[run.status]:
        raise IllegalTransition(f"Sync run {run.pk} cannot move from {run.status} to {to}")
    before = run.status
    run.status = to
    updated = ["status", *fields]
    if status_code is not None:
        run.status_code = status_code
        updated.append("status_code")
    now = timezone.now()
    if to == SyncRun.Status.RUNNING and run.started_at is None:
        run.started_at = now
        updated.append("started_at")
    if to in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        run.finished_at = now
        updated.append("finished_at")
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=updated)
    audit_log_write(
        actor=actor,
        action="sync_run.transition",
        obj=run,
        changes={"from": before, "to": to, "status_code": run.status_code},
    )


def push_item_transition(*, item: PushItem, to: str, actor: str = SYSTEM, **fields: Any) -> None:
    if to not in _PUSH_MOVES[item.status]:
        raise IllegalTransition(f"Push item {item.key} cannot move from {item.status} to {to}")
    before = item.status
    item.status = to
    for name, value in fields.items():
        setattr(item, name, value)
    item.save(update_fields=["status", "updated_at", *fields])
    audit_log_write(
        actor=actor,
        action="push_item.transition",
        obj=item,
        changes={
            "from": before,
            "to": to,
            **({"error": fields["last_error"]} if fields.get("last_error") else {}),
        },
    )
