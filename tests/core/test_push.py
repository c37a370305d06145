"""The write loop alone: its retry policy, its pauses, and its queries."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from commerce_sync.core.models import AuditLog, PushItem
from commerce_sync.errors import PlatformUnavailable, RateLimited
from commerce_sync.syncs.push import PUSH_RETRY, push_items_write
from commerce_sync.syncs.trace import RunTrace
from tests.doubles.faulty_target import MemoryTarget
from tests.factories import PushItemFactory, SyncRunFactory


class Recorder:
    """A sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


class BatchedMemoryTarget(MemoryTarget):
    """A MemoryTarget that also takes several documents per call, looking up
    the keys it holds first (as the protocol asks of `write_documents`)."""

    writes_in_batches = True

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.script: list[str] = []  # "outage", "drop-one": what the next calls do

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        self.batches += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "outage":
            raise PlatformUnavailable("503 from the ledger")
        results: dict[str, Any] = {}
        for index, (key, document) in enumerate(items):
            if step == "drop-one" and index == 0:
                continue  # no answer for this one
            results[key] = self.find_document(key=key) or self.write_document(
                key=key, document=document
            )
        return results


class Throttling(MemoryTarget):
    """Answers every write with 429 and the given Retry-After."""

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = retry_after

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        raise RateLimited("429 Too Many Requests", retry_after=self.retry_after)


def make_items(n: int) -> list[PushItem]:
    run = SyncRunFactory(status="running")
    return [PushItemFactory(sync_run=run) for _ in range(n)]


# -- the policy: today's pauses ------------------------------------------------


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.5), (0.999999, 1.0)])
def test_the_backoff_doubles_from_a_fifth_of_a_second_with_jitter_down_to_half(draw, factor):
    policy = replace(PUSH_RETRY, random=lambda: draw)
    pauses = [policy.pause(failures=n) for n in (1, 2, 3)]
    assert pauses == pytest.approx([0.2 * factor, 0.4 * factor, 0.8 * factor], rel=1e-5)
    assert policy.pause(failures=4) is None  # four attempts in all


def test_a_retry_after_is_waited_at_least_and_at_most_a_quarter_longer():
    low = replace(PUSH_RETRY, random=lambda: 0.0)
    high = replace(PUSH_RETRY, random=lambda: 0.999999)
    assert low.pause(failures=1, retry_after=2.5) == 2.5
    assert high.pause(failures=1, retry_after=2.5) == pytest.approx(3.125, rel=1e-5)
    assert low.pause(failures=1, retry_after=31) is None
    assert PUSH_RETRY.too_long(31) and not PUSH_RETRY.too_long(30)


@pytest.mark.django_db
def test_a_retry_after_over_thirty_seconds_fails_the_item_for_the_next_run():
    [item] = make_items(1)
    sleep = Recorder()
    trace = RunTrace()

    failed = push_items_write(
        items=[item], target=Throttling(45), trace=trace, retry=PUSH_RETRY.with_sleep(sleep)
    )

    assert failed == 1 and sleep.slept == []
    item.refresh_from_db()
    assert item.status == PushItem.Status.FAILED
    assert item.last_error == (
        "429 Too Many Requests; the target asked to wait 45 s, so the next run retries it"
    )


@pytest.mark.django_db
def test_the_batched_path_backs_off_without_jitter_between_rounds():
    items = make_items(3)
    target = BatchedMemoryTarget()
    target.script = ["drop-one", "drop-one"]
    sleep = Recorder()

    failed = push_items_write(
        items=items, target=target, trace=RunTrace(), retry=PUSH_RETRY.with_sleep(sleep)
    )

    assert failed == 0 and target.batches == 3
    assert sleep.slept == [0.2, 0.4]  # min(30, 0.2 * 2**n), exactly


@pytest.mark.django_db
def test_the_batched_path_gives_up_after_four_failed_calls():
    items = make_items(2)
    target = BatchedMemoryTarget()
    target.script = ["outage"] * 4
    sleep = Recorder()
    policy = PUSH_RETRY.with_sleep(sleep)

    failed = push_items_write(items=items, target=target, trace=RunTrace(), retry=policy)

    assert failed == 2 and target.batches == 4 and len(sleep.slept) == 3
    assert {i.last_error for i in PushItem.objects.all()} == {
        "503 from the ledger (gave up after 4 attempts)"
    }


# -- queries ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("n", [2, 7])
@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
def test_a_push_batch_costs_four_queries_per_item(n, batched, django_assert_num_queries):
    """Per item, whatever the target: the move to pushing and the move to
    pushed, each an UPDATE of core_pushitem and an INSERT into core_auditlog
    (inside the test's transaction; in autocommit each move also logs a
    BEGIN and a COMMIT). Nothing is read: the items are in memory, and an
    item never sent before is written without a look-up."""
    items = make_items(n)
    target = BatchedMemoryTarget() if batched else MemoryTarget()
    trace = RunTrace()

    with django_assert_num_queries(4 * n):
        failed = push_items_write(items=items, target=target, trace=trace)

    assert failed == 0
    assert trace.counters["push_items"] == {"written": n, "found_in_target": 0, "failed": 0}
    assert trace.counters["api_calls"] == {"memory": 1 if batched else n}
    assert AuditLog.objects.filter(action="push_item.transition").count() == 2 * n


class Completing(MemoryTarget):
    """Records what the push loop asks it to complete (a credit note's
    allocation, in Xero and QuickBooks)."""

    def __init__(self) -> None:
        super().__init__()
        self.completed: list[tuple[str, str]] = []

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        self.completed.append((key, target_id))


@pytest.mark.django_db
def test_a_document_found_after_a_crash_is_completed_not_written_again():
    """An item sent before (attempts > 0) is looked up first; when the
    target holds it, what the crash may have cut short after it is completed
    and nothing is written twice."""
    (item,) = make_items(1)
    item.attempts = 1
    item.save(update_fields=["attempts"])
    target = Completing()
    held = target.write_document(key=item.key, document=item.payload)
    trace = RunTrace()
    assert push_items_write(items=[item], target=target, trace=trace) == 0
    assert target.completed == [(item.key, held)]
    assert len(target.documents) == 1
    assert trace.counters["push_items"]["found_in_target"] == 1
