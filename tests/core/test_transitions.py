"""The state machines: illegal moves refused, every move saved with its audit row."""

from __future__ import annotations

import pytest

from commerce_sync.core.models import AuditLog, PushItem, SyncRun
from commerce_sync.errors import ApplicationError, IllegalTransition
from commerce_sync.syncs import transitions
from commerce_sync.syncs.transitions import push_item_transition, sync_run_transition
from tests.factories import PushItemFactory, SyncRunFactory

Status = SyncRun.Status


def trail() -> list[tuple[str, str, dict]]:
    return list(AuditLog.objects.order_by("id").values_list("action", "object_id", "changes"))


def stored(obj):
    return type(obj).objects.values().get(pk=obj.pk)


def test_illegal_transition_is_in_the_error_taxonomy():
    assert issubclass(IllegalTransition, ApplicationError)
    assert IllegalTransition("x").status_code == 5000


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Status.SUCCEEDED, Status.RUNNING),
        (Status.SUCCEEDED, Status.FAILED),
        (Status.PENDING, Status.SUCCEEDED),
        (Status.FAILED, Status.SUCCEEDED),
        (Status.RUNNING, Status.PENDING),
    ],
)
def test_an_illegal_run_move_is_refused_and_changes_nothing(start, to):
    run = SyncRunFactory(status=start, status_code=2000)
    row, audit = stored(run), trail()

    with pytest.raises(IllegalTransition, match=f"cannot move from {start} to {to}"):
        sync_run_transition(run=run, to=to, status_code=5000, messages=[{"level": "error"}])

    assert run.status == start and run.status_code == 2000 and run.messages == []
    assert stored(run) == row
    assert trail() == audit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "to"),
    [
        (PushItem.Status.PUSHED, PushItem.Status.PENDING),
        (PushItem.Status.PUSHED, PushItem.Status.PUSHING),
        (PushItem.Status.PUSHED, PushItem.Status.FAILED),
        (PushItem.Status.PENDING, PushItem.Status.PUSHED),
        (PushItem.Status.FAILED, PushItem.Status.PUSHED),
    ],
)
def test_an_illegal_push_item_move_is_refused_and_changes_nothing(start, to):
    item = PushItemFactory(status=start, target_id="T-1")
    row, audit = stored(item), trail()

    with pytest.raises(IllegalTransition, match=f"cannot move from {start} to {to}"):
        push_item_transition(item=item, to=to, target_id="T-2", last_error="no")

    assert (item.status, item.target_id, item.last_error) == (start, "T-1", "")
    assert stored(item) == row
    assert trail() == audit


@pytest.mark.django_db
def test_a_legal_move_saves_and_audits():
    run = SyncRunFactory()
    sync_run_transition(run=run, to=Status.RUNNING, status_code=1000, actor="operator:ann")
    item = PushItemFactory(sync_run=run)
    push_item_transition(item=item, to=PushItem.Status.PUSHING, attempts=1)
    push_item_transition(item=item, to=PushItem.Status.FAILED, last_error="refused")

    assert stored(run)["status"] == Status.RUNNING and stored(run)["started_at"] is not None
    assert (stored(item)["status"], stored(item)["last_error"]) == ("failed", "refused")
    assert [(a, c) for a, _, c in trail()] == [
        ("sync_run.transition", {"from": "pending", "to": "running", "status_code": 1000}),
        ("push_item.transition", {"from": "pending", "to": "pushing"}),
        ("push_item.transition", {"from": "pushing", "to": "failed", "error": "refused"}),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_move_and_its_audit_row_commit_or_roll_back_together(monkeypatch):
    """Outside any transaction (as in a worker): when the audit write fails
    after its row went in, neither it nor the status change is kept, and the
    object in memory gets its former values back."""
    run = SyncRunFactory(status=Status.RUNNING)
    item = PushItemFactory(sync_run=run, status=PushItem.Status.PUSHING)
    real = transitions.audit_log_write

    def write_then_fail(**kwargs):
        real(**kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(transitions, "audit_log_write", write_then_fail)
    run_row, item_row = stored(run), stored(item)
    with pytest.raises(RuntimeError):
        sync_run_transition(run=run, to=Status.SUCCEEDED, status_code=2000, data_pushed=True)
    with pytest.raises(RuntimeError):
        push_item_transition(item=item, to=PushItem.Status.PUSHED, target_id="T-9")

    assert stored(run) == run_row and stored(item) == item_row
    assert (run.status, run.status_code, run.finished_at, run.data_pushed) == (
        Status.RUNNING,
        1000,
        None,
        False,
    )
    assert (item.status, item.target_id) == (PushItem.Status.PUSHING, "")
    assert not AuditLog.objects.exists()

    monkeypatch.setattr(transitions, "audit_log_write", real)
    sync_run_transition(run=run, to=Status.SUCCEEDED, status_code=2000, data_pushed=True)
    push_item_transition(item=item, to=PushItem.Status.PUSHED, target_id="T-9")

    assert stored(run)["status"] == Status.SUCCEEDED and stored(run)["data_pushed"]
    assert stored(item)["target_id"] == "T-9"
    assert AuditLog.objects.count() == 2
