"""The outbox and the write loop, judged by what the merchant's books and
the run's report end up holding: which documents the target has (once
each, under their keys, with their figures), each item's status, target id
and error, the run's counts and messages. Written to stop the mutants that
outlived tests/core/test_push.py (see docs/mutation-equivalents.txt for the
ones that cannot be stopped)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from commerce_sync.core.models import PushItem, SourceRecord
from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
)
from commerce_sync.syncs.intake import IncomingRecord
from commerce_sync.syncs.push import PUSH_RETRY, push_items_create, push_items_write
from commerce_sync.syncs.trace import RunTrace
from tests.doubles.faulty_target import MemoryTarget
from tests.factories import PushItemFactory, SourceRecordFactory, SyncRunFactory

# No jitter, no sleeping: pauses are recorded and exact.
Slept = list[float | None]


def policy(slept: Slept) -> Any:
    return replace(PUSH_RETRY, random=lambda: 0.0, sleep=slept.append)


class Scripted(MemoryTarget):
    """A ledger whose writes fail as scripted per key: `refuse[key]` is
    raised on every write of that key; `lose` holds keys whose first write
    is kept but its answer lost (a 503 after the fact); `completed` records
    what the loop asks to finish after a document found after a crash."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, ApplicationError] = {}
        self.lose: set[str] = set()
        self.completed: list[tuple[str, dict[str, Any], str]] = []

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        if key in self.refuse:
            raise self.refuse[key]
        doc_id = super().write_document(key=key, document=document)
        if key in self.lose:
            self.lose.discard(key)
            raise PlatformUnavailable("503 after the write")
        return doc_id

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        self.completed.append((key, document, target_id))


class Batched(MemoryTarget):
    """Takes several documents per call, looking its keys up first (as the
    protocol asks of `write_documents`). `rounds` scripts each call: an
    exception to raise for the whole call, or a dict key -> an error to
    answer for that document, or "drop" for no answer at all."""

    writes_in_batches = True

    def __init__(self, rounds: list[Any]) -> None:
        super().__init__()
        self.rounds = rounds
        self.batches = 0

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        self.batches += 1
        step = self.rounds.pop(0) if self.rounds else {}
        if isinstance(step, Exception):
            raise step
        results: dict[str, Any] = {}
        for key, document in items:
            outcome = step.get(key)
            if outcome == "drop":
                continue
            results[key] = outcome or (
                self.find_document(key=key) or self.write_document(key=key, document=document)
            )
        return results


def make_items(n: int, **fields: Any) -> list[PushItem]:
    run = SyncRunFactory(status="running")
    return [
        PushItemFactory(
            sync_run=run, payload={"type": "journalEntry", "total": f"{i}.00"}, **fields
        )
        for i in range(1, n + 1)
    ]


def state(items: list[PushItem]) -> list[tuple[str, str, str, int]]:
    """(status, target_id, last_error, attempts) of each item, as stored."""
    for item in items:
        item.refresh_from_db()
    return [(i.status, i.target_id, i.last_error, i.attempts) for i in items]


def error(code: str, item: PushItem, message: str) -> dict[str, str]:
    return {"level": "error", "code": code, "message": f"journalEntry {item.key}: {message}"}


# -- one by one ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_or_given_up_document_fails_alone_and_the_rest_are_written_once():
    """Items that failed in an earlier run (their old error on them) are
    retried: a refusal fails that document with the target's message, an
    outage fails it after four tries, and every other document is written,
    once, under its key, with its figures; the old error is cleared."""
    items = make_items(5, status=PushItem.Status.FAILED, attempts=1, last_error="old 503")
    target = Scripted()
    target.refuse = {
        items[1].key: PlatformUnavailable("503 from the ledger"),
        items[2].key: PlatformUnavailable("504 from the ledger"),
        items[3].key: DocumentRejected("Account 200 is archived"),
    }
    trace = RunTrace()
    slept: Slept = []

    failed = push_items_write(items=items, target=target, trace=trace, retry=policy(slept))

    assert failed == 3
    assert target.by_key() == {i.key: i.payload for i in (items[0], items[4])}
    assert len(target.documents) == 2
    assert state(items) == [
        ("pushed", "mem-1", "", 2),
        ("failed", "", "503 from the ledger", 2),
        ("failed", "", "504 from the ledger", 2),
        ("failed", "", "Account 200 is archived", 2),
        ("pushed", "mem-2", "", 2),
    ]
    assert trace.messages == [
        error("PlatformUnavailable", items[1], "503 from the ledger (gave up after 4 attempts)"),
        error("PlatformUnavailable", items[2], "504 from the ledger (gave up after 4 attempts)"),
        error("DocumentRejected", items[3], "Account 200 is archived"),
    ]
    assert trace.counters["push_items"] == {"written": 2, "found_in_target": 0, "failed": 3}
    # Sent before, so every try looks its key up first: a look-up and a
    # write for each of the 3 items tried once, 4 of each for the 2 outages.
    assert trace.counters["api_calls"] == {"memory": 3 * 2 + 2 * 4 * 2}
    assert slept == [0.1, 0.2, 0.4] * 2


@pytest.mark.django_db
def test_a_too_long_retry_after_names_the_wait_and_the_next_item_is_still_written():
    items = make_items(2)
    target = Scripted()
    target.refuse = {items[0].key: RateLimited("429 Too Many Requests", retry_after=45)}
    trace = RunTrace()

    assert push_items_write(items=items, target=target, trace=trace, retry=policy([])) == 1

    assert trace.messages == [
        error(
            "RateLimited",
            items[0],
            "429 Too Many Requests; the target asked to wait 45 s, so the next run retries it",
        )
    ]
    assert target.by_key() == {items[1].key: items[1].payload}


@pytest.mark.django_db
def test_a_revoked_grant_fails_the_item_being_written_and_stops_the_run():
    items = make_items(3)
    target = Scripted()
    target.refuse = {items[1].key: CredentialsRevoked("Xero no longer honours the grant")}

    with pytest.raises(CredentialsRevoked):
        push_items_write(items=items, target=target, trace=RunTrace())

    assert state(items) == [
        ("pushed", "mem-1", "", 1),
        ("failed", "", "Xero no longer honours the grant", 1),
        ("pending", "", "", 0),
    ]


@pytest.mark.django_db
def test_items_a_crash_left_mid_write_are_looked_up_found_completed_and_not_written_again():
    """Items left `pushing` by a killed worker: the documents the target
    holds are found (and what the crash cut short completed), the one it
    lacks is written; each item's attempt is counted, so a later run looks
    it up too."""
    items = make_items(3, status=PushItem.Status.PUSHING, attempts=1)
    target = Scripted()
    held = [target.write_document(key=i.key, document=i.payload) for i in items[:2]]
    trace = RunTrace()

    assert push_items_write(items=items, target=target, trace=trace) == 0

    assert target.keys() == {i.key: 1 for i in items}
    assert target.completed == [(i.key, i.payload, h) for i, h in zip(items[:2], held, strict=True)]
    assert state(items) == [
        ("pushed", "mem-1", "", 2),
        ("pushed", "mem-2", "", 2),
        ("pushed", "mem-3", "", 2),
    ]
    assert trace.counters["push_items"] == {"written": 1, "found_in_target": 2, "failed": 0}
    assert trace.counters["api_calls"] == {"memory": 4}


@pytest.mark.django_db
def test_a_target_without_completion_still_finds_a_document_written_before_a_crash():
    (item,) = make_items(1, status=PushItem.Status.FAILED, attempts=1)
    target = MemoryTarget()  # no complete_document
    held = target.write_document(key=item.key, document=item.payload)

    assert push_items_write(items=[item], target=target, trace=RunTrace()) == 0

    assert len(target.documents) == 1
    assert state([item]) == [("pushed", held, "", 2)]


@pytest.mark.django_db
def test_a_write_whose_answer_was_lost_is_looked_up_on_the_retry_not_written_twice():
    """Never sent before, so the first try writes without a look-up; the
    write lands but its answer is lost, so the retry asks first and finds it."""
    (item,) = make_items(1)
    target = Scripted()
    target.lose = {item.key}
    trace = RunTrace()

    assert push_items_write(items=[item], target=target, trace=trace, retry=policy([])) == 0

    assert target.keys() == {item.key: 1}
    assert state([item]) == [("pushed", "mem-1", "", 1)]
    assert trace.counters["push_items"] == {"written": 0, "found_in_target": 1, "failed": 0}


@pytest.mark.django_db
def test_calls_add_up_over_the_runs_writes_to_the_same_target():
    """A run that writes twice to one target (its items, then a retry of
    the failed ones) reports the calls of both."""
    items = make_items(3)
    trace = RunTrace()
    target = MemoryTarget()
    push_items_write(items=items[:2], target=target, trace=trace)
    push_items_write(items=items[2:], target=target, trace=trace)
    assert trace.counters["api_calls"] == {"memory": 3}


# -- in batches ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_fails_refused_and_unanswered_documents_apart_and_writes_the_rest():
    """Round 1: two documents refused, one transient, one not answered, two
    written. The two left are sent again each round (backoff without
    jitter) and, never answered well, fail after four rounds with the last
    word the target said of each."""
    items = make_items(6, status=PushItem.Status.FAILED, attempts=1, last_error="old")
    k = [i.key for i in items]
    busy = PlatformUnavailable("Ledger busy for this document")
    rounds = [{k[0]: DocumentRejected("Unknown account 999"), k[1]: busy, k[2]: "drop"}]
    rounds[0][k[5]] = DocumentRejected("Tax rate OUTPUT3 is archived")
    rounds += [{k[1]: busy, k[2]: "drop"}] * 3
    target = Batched(rounds)
    trace = RunTrace()
    slept: Slept = []

    failed = push_items_write(items=items, target=target, trace=trace, retry=policy(slept))

    assert failed == 4 and target.batches == 4 and slept == [0.2, 0.4, 0.8]
    assert target.by_key() == {i.key: i.payload for i in items[3:5]}
    gave_up = " (gave up after 4 attempts)"
    assert state(items) == [
        ("failed", "", "Unknown account 999", 2),
        ("failed", "", "Ledger busy for this document" + gave_up, 2),
        ("failed", "", "no answer for this document" + gave_up, 2),
        ("pushed", "mem-1", "", 2),
        ("pushed", "mem-2", "", 2),
        ("failed", "", "Tax rate OUTPUT3 is archived", 2),
    ]
    assert trace.messages == [
        error("DocumentRejected", items[0], "Unknown account 999"),
        error("DocumentRejected", items[5], "Tax rate OUTPUT3 is archived"),
        error("TransientError", items[1], "Ledger busy for this document" + gave_up),
        error("TransientError", items[2], "no answer for this document" + gave_up),
    ]
    assert trace.counters["push_items"] == {"written": 2, "found_in_target": 0, "failed": 4}
    assert trace.counters["api_calls"] == {"memory": 4}


@pytest.mark.django_db
def test_a_batch_waits_the_targets_retry_after_and_fails_all_left_when_it_is_too_long():
    """Round 1 refuses one document and leaves one unanswered; then the
    target asks to wait 2.5 s (waited exactly), then 45 s: the one left
    fails for the next run, naming the wait, beside the refused one."""
    items = make_items(3)
    k = [i.key for i in items]
    rounds: list[Any] = [{k[0]: DocumentRejected("Unknown account 999"), k[1]: "drop"}]
    rounds += [RateLimited("429 from the ledger", retry_after=2.5)]
    rounds += [RateLimited("429 from the ledger", retry_after=45)]
    target = Batched(rounds)
    trace = RunTrace()
    slept: Slept = []

    failed = push_items_write(items=items, target=target, trace=trace, retry=policy(slept))

    assert failed == 2 and slept == [0.2, 2.5]
    wait = "429 from the ledger; the target asked to wait 45 s, so the next run retries it"
    assert state(items)[:2] == [
        ("failed", "", "Unknown account 999", 1),
        ("failed", "", wait, 1),
    ]
    assert trace.messages[1:] == [error("RateLimited", items[1], wait)]
    assert trace.counters["api_calls"] == {"memory": 3}


@pytest.mark.django_db
def test_a_batch_that_loses_its_grant_fails_every_item_left_and_stops_the_run():
    items = make_items(2)
    target = Batched([{items[0].key: "drop"}, CredentialsRevoked("QuickBooks revoked the grant")])
    with pytest.raises(CredentialsRevoked):
        push_items_write(items=items, target=target, trace=RunTrace(), retry=policy([]))
    assert state(items) == [
        ("failed", "", "QuickBooks revoked the grant", 1),
        ("pushed", "mem-1", "", 1),
    ]


@pytest.mark.django_db
def test_a_batch_that_loses_its_grant_part_way_records_what_it_wrote_as_pushed():
    """The target wrote the first document, then the grant was revoked: the
    refusal names what is already in the books (`settled`), which is pushed
    with its id; the rest fail and the counters say so although the call raised."""
    items = make_items(3)
    target = Batched([])
    written = target.write_document(key=items[0].key, document=items[0].payload)
    revoked = CredentialsRevoked("Sage Accounting refused the refresh")
    revoked.settled = {items[0].key: written}
    target.rounds = [revoked]
    trace = RunTrace()
    with pytest.raises(CredentialsRevoked):
        push_items_write(items=items, target=target, trace=trace, retry=policy([]))
    assert state(items) == [
        ("pushed", written, "", 1),
        ("failed", "", "Sage Accounting refused the refresh", 1),
        ("failed", "", "Sage Accounting refused the refresh", 1),
    ]
    assert trace.counters["push_items"] == {"written": 1, "found_in_target": 0, "failed": 2}
    assert trace.counters["api_calls"] == {"memory": 1}


@pytest.mark.django_db
def test_a_lone_item_goes_one_by_one_even_to_a_batching_target():
    """One item sent before: looked up, then written, as the one-by-one path
    does (the report counts both calls), not sent as a batch of one."""
    (item,) = make_items(1, status=PushItem.Status.FAILED, attempts=1)
    target = Batched([])
    trace = RunTrace()
    assert push_items_write(items=[item], target=target, trace=trace) == 0
    assert target.batches == 0 and target.keys() == {item.key: 1}
    assert trace.counters["api_calls"] == {"memory": 2}


# -- the outbox ------------------------------------------------------------------


def incoming(row: SourceRecord, payload: dict[str, Any]) -> IncomingRecord:
    return IncomingRecord(kind=row.kind, payload=payload, parsed=None, digest="", existing=row)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_the_outbox_creates_new_documents_adopts_unfinished_ones_and_skips_written_ones():
    """Earlier runs left: a key written (same figures), a key written with
    other figures, a key failed, and an unrelated item pending. This run's
    documents come back after the unrelated one, in the run's order, the
    written keys skipped (a warning for the changed figures), and the
    run's records marked posted with what was read."""
    earlier = SyncRunFactory(status="failed")
    merchant = earlier.merchant
    docs = [
        {"key": "k-new", "type": "invoice", "total": "5.00"},
        {"key": "k-failed", "type": "journalEntry", "total": "10.00"},
        {"key": "k-same", "type": "journalEntry", "total": "10.00"},
        {"key": "k-changed", "type": "journalEntry", "total": "12.00"},
    ]

    def item(key: str, status: str, payload: dict[str, Any]) -> PushItem:
        return PushItemFactory(sync_run=earlier, key=key, status=status, payload=payload)

    item("k-same", PushItem.Status.PUSHED, docs[2])
    item("k-changed", PushItem.Status.PUSHED, {**docs[3], "total": "10.00"})
    failed_before = item("k-failed", PushItem.Status.FAILED, docs[1])
    waiting = item("k-other", PushItem.Status.PENDING, {"key": "k-other", "type": "journalEntry"})
    row = SourceRecordFactory(merchant=merchant)
    run = SyncRunFactory(merchant=merchant, status="running")
    trace = RunTrace()

    items = push_items_create(
        run=run,
        merchant=merchant,
        documents=docs,
        records=[incoming(row, {"id": "order-1", "total": "5.00"})],
        trace=trace,
    )

    assert [(i.key, i.kind) for i in items] == [
        ("k-other", "journalEntry"),
        ("k-new", "invoice"),
        ("k-failed", "journalEntry"),
    ]
    assert [i.pk for i in items[::2]] == [waiting.pk, failed_before.pk]
    new = PushItem.objects.get(key="k-new")
    assert (new.sync_run, new.merchant, new.status, new.payload) == (
        run,
        merchant,
        "pending",
        docs[0],
    )
    assert trace.counters["push_items"] == {"created": 1, "already_pushed": 2, "carried_over": 2}
    assert trace.messages == [
        {
            "level": "warning",
            "code": "AlreadyWritten",
            "message": "Document k-changed was already written with other figures; "
            "review it in the target",
        }
    ]
    row.refresh_from_db()
    assert (row.posted_run, row.posted_payload) == (run, {"id": "order-1", "total": "5.00"})
    assert PushItem.objects.filter(merchant=merchant).count() == 5


@pytest.mark.django_db
def test_the_outbox_keeps_to_its_merchant_and_orders_carried_items_by_age():
    """Another merchant's items, whatever their keys, are neither adopted
    nor carried over; this merchant's unfinished items come oldest first,
    and the ones already written not at all."""
    run = SyncRunFactory(status="running")
    merchant = run.merchant
    later = PushItemFactory(sync_run=run, key="k-later", status=PushItem.Status.FAILED)
    sooner = PushItemFactory(sync_run=run, key="k-sooner", status=PushItem.Status.PENDING)
    PushItem.objects.filter(pk=sooner.pk).update(created_at=later.created_at.replace(year=2020))
    # Two made in the same instant come in the order they were made (by id),
    # whatever order PostgreSQL finds their rows in (the later one updated first).
    tie_1 = PushItemFactory(sync_run=run, key="k-tie-1", status=PushItem.Status.PENDING)
    tie_2 = PushItemFactory(sync_run=run, key="k-tie-2", status=PushItem.Status.PENDING)
    for tied in (tie_2, tie_1):
        PushItem.objects.filter(pk=tied.pk).update(created_at=later.created_at.replace(year=2021))
    PushItemFactory(sync_run=run, key="k-done", status=PushItem.Status.PUSHED)
    stranger = PushItemFactory(key="k-doc", status=PushItem.Status.PENDING)
    trace = RunTrace()

    items = push_items_create(
        run=run,
        merchant=merchant,
        documents=[{"key": "k-doc", "type": "journalEntry", "total": "1.00"}],
        records=[],
        trace=trace,
    )

    assert [i.key for i in items] == ["k-sooner", "k-tie-1", "k-tie-2", "k-later", "k-doc"]
    assert items[-1].merchant == merchant and items[-1].pk != stranger.pk
    assert trace.counters["push_items"] == {"created": 1, "already_pushed": 0, "carried_over": 4}
    assert trace.messages == []
