"""Exactly-once pushing under faults (PRODUCT.md section 6).

Each test drives the real sync service on PostgreSQL against a target that
misbehaves: transient faults (timeouts, 500s, 429s, responses lost after the
write), permanent refusals, a process killed with SIGKILL mid-sync, and two
workers racing for one merchant (on PostgreSQL, and the lock on SQLite).
Whatever happens, the target must end up holding every document exactly
once: the ones a clean sync would have written, worked out here straight
from the source and the mapping engine, not from the sync's own records.

Backoff sleeps are recorded, not slept (the `clock` fixture). Gaps these
tests found were closed; their tests stay as regression tests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from beancount import loader
from beancount.core import data as bean
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connection, connections

from commerce_sync.core.models import Connection, Merchant, Partner, PushItem, SourceRecord, SyncRun
from commerce_sync.core.services.connections import connection_context, connection_source
from commerce_sync.core.services.demo import (
    DEMO_ACCOUNTS,
    cafe_create,
    demo_configuration,
    ledger_open_demo_accounts,
)
from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    CredentialsRevoked,
    DocumentRejected,
    DuplicateSync,
    SubscriptionExpired,
)
from commerce_sync.syncs import locks, push
from commerce_sync.syncs.periods import merchant_period_due
from commerce_sync.syncs.recovery import push_items_retry_failed
from commerce_sync.syncs.runs import sync_run_execute
from connectors import registry
from connectors.context import ConnectorContext
from connectors.protocols import AccountOption
from mapping.config import parse_configuration
from mapping.engine import map_period
from mapping.parsing import parse_commerce
from mapping.periods import Period, business_day, local_instant, zone
from tests.doubles.faulty_target import FAULTS, DuplicateReporter, FaultyTarget, MemoryTarget

TODAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
BEANCOUNT = registry.ACCOUNTING_TARGETS["beancount"]  # the real builder, kept before any swap
ACCOUNTS = [AccountOption(id=a, name=n, type=t) for a, n, t, _ in DEMO_ACCOUNTS]
Status = SyncRun.Status


# -- helpers ----------------------------------------------------------------


class Clock:
    """The push loop's sleep: backoff sleeps are recorded, not slept.
    Production timing is left as is."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Makes the push loop's default policy sleep through a Clock."""
    fake = Clock()
    monkeypatch.setattr(push, "PUSH_RETRY", push.PUSH_RETRY.with_sleep(fake.sleep))
    return fake


@pytest.fixture
def ledgers(settings, tmp_path: Path) -> Path:
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    return tmp_path / "ledgers"


def invoice_configuration() -> dict[str, Any]:
    """The demo café's mapping with invoices: eight or so documents a day
    (invoice, credit note, payments, bill, bill payment, deposit, transfer)."""
    document = demo_configuration()
    document["mapSettings"]["outputFormat"] = "Invoice"
    vat = {"selectedTaxRateId": "Liabilities:VAT:Output"}
    document["sales"]["taxRates"] = {"20": vat, "5": vat}
    document["sales"]["newTaxRates"] = {"selectedDefaultZeroTaxRateId": "Liabilities:VAT:Output"}
    document["sales"]["salesCustomer"] = {"selectedCustomerId": "CAFE"}
    document["fees"]["feesSupplier"] = {"selectedSupplierId": "BANK"}
    return document


def merchant_seed(
    partner: Partner,
    name: str,
    *,
    days: int,
    orders_per_day: int = 4,
    invoices: bool = True,
    ledger: bool = True,
) -> Merchant:
    """A café like the demo one, starting `days` before TODAY, selling
    through the sandbox into a Beancount ledger (created when `ledger`)."""
    merchant = cafe_create(
        partner=partner,
        name=name,
        orders_per_day=orders_per_day,
        start_date=TODAY - timedelta(days=days),
        document=invoice_configuration() if invoices else demo_configuration(),
        open_ledger=False,
    )
    if ledger:  # through the real builder, whatever a test swapped in
        ledger_open_demo_accounts(BEANCOUNT(accounting_of(merchant)))
    return merchant


def accounting_of(merchant: Merchant) -> ConnectorContext:
    """The merchant's ledger connection, as the Beancount builder takes it."""
    return connection_context(
        connection=merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    )


def as_stored(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload as the database gives it back (Decimals become strings)."""
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def expected_documents(merchant: Merchant, now: datetime) -> dict[str, dict[str, Any]]:
    """What one clean sync from the start date to `now` writes, key -> payload,
    worked out from the source and the mapping engine, not the sync service."""
    config = merchant.sync_configuration
    tz = zone(config.time_zone)
    start = local_instant(config.start_date, config.sync_hour, tz)
    end = local_instant(business_day(now, config.sync_hour, tz), config.sync_hour, tz)
    source = connection_source(
        connection=merchant.connections.get(source_type=Connection.SourceType.COMMERCE)
    )
    batch = source.read_period(start=start, end=end)
    result = map_period(
        parse_commerce(batch.as_commerce(), tz),
        parse_configuration(config.document),
        Period(start, end, config.sync_hour, tz),
        key_prefix=str(merchant.pk),
    )
    assert result.errors == []
    documents = {doc.header.key: as_stored(doc.as_json()) for doc in result.documents}
    assert len(documents) == len(result.documents)  # keys are unique
    return documents


def ledger_keys(merchant: Merchant) -> Counter[str]:
    """How many transactions the merchant's Beancount ledger holds per push key."""
    path = registry.ledger_path(accounting_of(merchant))
    entries, errors, _ = loader.load_file(str(path))
    assert errors == [], [e.message for e in errors]
    return Counter(
        e.meta["push-key"]
        for e in entries
        if isinstance(e, bean.Transaction) and "push-key" in e.meta
    )


def once(keys) -> Counter[str]:
    return Counter(dict.fromkeys(keys, 1))


def tally(found: Counter[str], expected) -> Counter[str]:
    """Duplicates (writes beyond the first per key) and missing keys."""
    return Counter(
        duplicates=sum(n - 1 for n in found.values() if n > 1),
        missing=len(set(expected) - {k for k, n in found.items() if n > 0}),
    )


def soak_report(name: str, figures: dict[str, Any]) -> None:
    """One JSON line per soak test in $SOAK_REPORT (`make soak` prints them)."""
    path = os.environ.get("SOAK_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps({"test": name, **figures}) + "\n")


def assert_synced_exactly_once(merchant: Merchant, expected: dict[str, dict[str, Any]]) -> None:
    """The push items are the expected documents, all pushed; the merchant is
    synced up to NOW, with every record posted and no run left running."""
    items = {i.key: i for i in PushItem.objects.filter(merchant=merchant)}
    assert set(items) == set(expected)
    assert {k: i.status for k, i in items.items()} == dict.fromkeys(
        expected, PushItem.Status.PUSHED
    )
    assert {k: as_stored(i.payload) for k, i in items.items()} == expected
    assert all(i.target_id for i in items.values())
    assert not SyncRun.objects.filter(merchant=merchant, status=Status.RUNNING).exists()
    assert merchant_period_due(merchant=merchant, now=NOW) is None
    assert not SourceRecord.objects.filter(merchant=merchant, posted_run__isnull=True).exists()


def rerun(merchant: Merchant, *, now: datetime = NOW, patience: float = 5.0) -> SyncRun | None:
    """Run the sync, waiting for a killed process's lock to go with its session."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return sync_run_execute(merchant=merchant, now=now)
        except DuplicateSync:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- transient faults ----------------------------------------------------------

# `make soak` raises these (1,000 syncs); the suite runs 4 merchants x 10 days.
FAULT_DAYS = int(os.environ.get("FAULT_DAYS", "10"))
FAULT_MERCHANTS = int(os.environ.get("FAULT_MERCHANTS", "4"))


def test_under_transient_faults_every_document_is_written_exactly_once(
    partner, ledgers, clock, monkeypatch
):
    """Four merchants, ten daily syncs each, 30% of target calls failing
    (timeouts, 500s, 429s, writes whose response is lost). Failed runs are
    sometimes retried at once, otherwise left to the next scheduled run; then
    operators and the schedule carry on until nothing is left. The target
    does not deduplicate keys, so only the sync's discipline keeps it clean."""
    merchants = [
        merchant_seed(partner, f"Faulty {n}", days=FAULT_DAYS, ledger=False)
        for n in range(FAULT_MERCHANTS)
    ]
    targets = {
        m.pk: FaultyTarget(MemoryTarget(ACCOUNTS), rate=0.3, seed=n)
        for n, m in enumerate(merchants)
    }
    monkeypatch.setitem(
        registry.ACCOUNTING_TARGETS, "beancount", lambda connection: targets[connection.merchant_id]
    )
    rng = random.Random(2026)  # noqa: S311
    outcomes: Counter[str] = Counter()
    started = time.monotonic()

    for day in range(FAULT_DAYS, 0, -1):  # the scheduler, once a day
        now = NOW - timedelta(days=day - 1)
        for merchant in merchants:
            run = sync_run_execute(merchant=merchant, now=now)
            outcomes[f"run:{run.status_code}"] += 1
            if run.status == Status.FAILED and rng.random() < 0.5:
                push_items_retry_failed(run=run)
                outcomes[f"retried at once:{run.status_code}"] += 1

    for _ in range(30):  # afterwards: operators retry, the schedule runs on
        unfinished = PushItem.objects.exclude(status=PushItem.Status.PUSHED).exists()
        due = [m for m in merchants if merchant_period_due(merchant=m, now=NOW)]
        if not unfinished and not due:
            break
        for run in SyncRun.objects.filter(status=Status.FAILED).order_by("created_at"):
            push_items_retry_failed(run=run)
            outcomes[f"retried later:{run.status_code}"] += 1
        for merchant in merchants:
            run = sync_run_execute(merchant=merchant, now=NOW)
            outcomes[f"catch-up:{run.status_code if run else 'nothing due'}"] += 1

    totals: Counter[str] = Counter()
    for merchant in merchants:
        totals += tally(targets[merchant.pk].writes, expected_documents(merchant, NOW))
    soak_report(
        "transient faults at 30 %",
        {
            "syncs": sum(v for k, v in outcomes.items() if k.startswith("run:")),
            "duplicates": totals["duplicates"],
            "missing": totals["missing"],
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    for merchant in merchants:
        expected = expected_documents(merchant, NOW)
        target = targets[merchant.pk]
        assert len(expected) > 40
        assert_synced_exactly_once(merchant, expected)
        # Every document is in the target once, as mapped; none is missing.
        assert target.inner.keys() == once(expected)
        assert target.writes == once(expected)  # no second write ever reached it
        assert {k: as_stored(doc) for k, doc in target.inner.by_key().items()} == expected
        ids = {key: doc_id for doc_id, key, _ in target.inner.documents}
        assert {i.key: i.target_id for i in PushItem.objects.filter(merchant=merchant)} == ids

    # The faults did happen, all kinds of them, and failed runs were recovered.
    injected = sum((t.injected for t in targets.values()), Counter())
    if FAULT_MERCHANTS * FAULT_DAYS < 40:  # a small soak run: too few calls to count kinds
        return
    assert all(injected[f"write:{fault}"] > 3 for fault in FAULTS), injected
    assert all(injected[f"find:{fault}"] > 3 for fault in ("timeout", "500", "429")), injected
    assert outcomes["run:5130"] > 0 and outcomes["run:2000"] > 0, outcomes
    assert any(k.startswith("retried") and k.endswith(":2000") for k in outcomes), outcomes
    found = sum(
        run.counters.get("push_items", {}).get("found_in_target", 0)
        for run in SyncRun.objects.all()
    )
    assert found > 0  # responses lost after the write were found, not written again
    assert clock.slept and max(clock.slept) <= push.PUSH_RETRY.cap


def test_a_rate_limit_is_waited_out_for_at_least_the_time_the_target_asks(
    partner, ledgers, clock, monkeypatch
):
    merchant = merchant_seed(partner, "Throttled", days=3, invoices=False)
    target = FaultyTarget(
        BEANCOUNT(accounting_of(merchant)), rate=0.5, seed=3, faults=["429"], retry_after=2.5
    )
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)

    run = sync_run_execute(merchant=merchant, now=NOW)

    assert 0 < len(clock.slept) <= target.injected["write:429"] + target.injected["find:429"]
    assert min(clock.slept) >= 2.5, clock.slept  # Retry-After is a minimum, not a hint
    if run.status_code == 2000:  # some items may have run out of attempts
        assert ledger_keys(merchant) == once(expected_documents(merchant, NOW))


def test_a_run_that_gives_up_on_transient_faults_says_which_documents_and_why(
    partner, ledgers, clock, monkeypatch
):
    merchant = merchant_seed(partner, "Unreachable", days=2, invoices=False)
    target = FaultyTarget(BEANCOUNT(accounting_of(merchant)), rate=1.0, faults=["500"])
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)

    run = sync_run_execute(merchant=merchant, now=NOW)

    assert run.status == Status.FAILED and run.status_code == 5130
    items = list(run.push_items.all())
    assert len(items) == 2
    assert all(i.status == PushItem.Status.FAILED for i in items)
    assert all(i.attempts == 1 and "500 Internal Server Error" in i.last_error for i in items)
    # Never sent before: no look before the first write, one before each retry.
    assert target.calls["find"] == 2 * (push.PUSH_RETRY.attempts - 1)
    for item in items:  # the run, not only the items, tells support what went wrong
        assert any(
            item.key in m["message"] and "500 Internal Server Error" in m["message"]
            for m in run.messages
            if m["level"] == "error"
        ), run.messages

    target.rate = 0.0  # the platform is back
    push_items_retry_failed(run=run)
    assert run.status_code == 2000
    assert ledger_keys(merchant) == once(i.key for i in items)


# -- permanent refusals -------------------------------------------------------


def test_a_rejected_document_fails_alone_and_is_pushed_by_a_retry_once_accepted(
    partner, ledgers, clock, monkeypatch
):
    merchant = merchant_seed(partner, "Picky", days=3, invoices=False)
    message = "The period to 2026-11-08 is locked; reopen it to post this journal"

    def refuse(key: str, document: dict[str, Any]) -> ApplicationError | None:
        return DocumentRejected(message) if document["date"] == "2026-11-08" else None

    target = FaultyTarget(BEANCOUNT(accounting_of(merchant)), refuse=refuse)
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)

    run = sync_run_execute(merchant=merchant, now=NOW)

    assert run.status == Status.FAILED and run.status_code == 5130
    items = {i.payload["date"]: i for i in run.push_items.all()}
    assert sorted(items) == ["2026-11-07", "2026-11-08", "2026-11-09"]
    rejected = items.pop("2026-11-08")
    assert rejected.status == PushItem.Status.FAILED
    assert rejected.last_error == message and rejected.attempts == 1
    assert target.injected["write:DocumentRejected"] == 1  # permanent: not retried in the run
    assert any(
        m["code"] == "DocumentRejected" and rejected.key in m["message"] and message in m["message"]
        for m in run.messages
    )
    assert {i.status for i in items.values()} == {PushItem.Status.PUSHED}
    assert ledger_keys(merchant) == once(i.key for i in items.values())
    assert run.counters["push_items"]["written"] == 2

    # Retried while the target still refuses: the same failure, nothing else written.
    push_items_retry_failed(run=run)
    assert run.status == Status.FAILED and run.status_code == 5130
    rejected.refresh_from_db()
    assert rejected.status == PushItem.Status.FAILED and rejected.attempts == 2

    # The merchant reopened the period: the retry pushes it, once.
    target.refuse = None
    push_items_retry_failed(run=run)

    run.refresh_from_db()
    rejected.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.status_code == 2000 and run.data_pushed
    assert rejected.status == PushItem.Status.PUSHED and rejected.last_error == ""
    assert rejected.target_id == rejected.key and rejected.attempts == 3
    expected = expected_documents(merchant, NOW)
    assert ledger_keys(merchant) == once(expected) == target.writes
    assert_synced_exactly_once(merchant, expected)
    assert sync_run_execute(merchant=merchant, now=NOW) is None


def test_retrying_the_latest_failed_run_retries_the_document_it_failed_on(
    partner, ledgers, clock, monkeypatch
):
    merchant = merchant_seed(partner, "Still picky", days=2, invoices=False)
    cause = {"fixed": False}

    def refuse(key: str, document: dict[str, Any]) -> ApplicationError | None:
        locked = not cause["fixed"] and document["date"] == "2026-11-08"
        return DocumentRejected("The period is locked") if locked else None

    target = FaultyTarget(BEANCOUNT(accounting_of(merchant)), refuse=refuse)
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)
    first = sync_run_execute(merchant=merchant, now=NOW - timedelta(days=1))
    latest = sync_run_execute(merchant=merchant, now=NOW)
    assert first.status_code == latest.status_code == 5130
    rejected = PushItem.objects.get(merchant=merchant, status=PushItem.Status.FAILED)
    assert any(rejected.key in m["message"] for m in latest.messages)  # it failed on it

    cause["fixed"] = True
    push_items_retry_failed(run=latest)  # the button on the run the portal shows last

    rejected.refresh_from_db()
    assert rejected.status == PushItem.Status.PUSHED
    assert latest.status == Status.SUCCEEDED


def test_no_backoff_sleep_is_longer_than_the_cap(partner, ledgers, clock, monkeypatch):
    merchant = merchant_seed(partner, "Throttled for an hour", days=1, invoices=False)
    target = FaultyTarget(
        BEANCOUNT(accounting_of(merchant)), rate=1.0, faults=["429"], retry_after=3600
    )
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)

    run = sync_run_execute(merchant=merchant, now=NOW)

    assert run.status_code == 5130
    assert all(pause <= push.PUSH_RETRY.cap for pause in clock.slept), clock.slept
    item = PushItem.objects.get(merchant=merchant)
    assert item.status == PushItem.Status.FAILED
    assert "asked to wait 3600 s" in item.last_error


@pytest.mark.parametrize("recovery", ["retry", "next run"])
@pytest.mark.parametrize(
    ("error", "code"), [(CredentialsRevoked, 4040), (SubscriptionExpired, 4260)]
)
def test_a_revoked_connection_or_an_expired_subscription_stops_the_push(
    partner, ledgers, clock, monkeypatch, error, code, recovery
):
    """Whole-target refusals end the run with their own code; what was
    written stays written, and the rest is pushed once the cause is fixed."""
    merchant = merchant_seed(partner, "Lapsed", days=3, invoices=False)
    cause = {"fixed": False}
    message = f"{error.__name__}: reconnect the ledger"

    def refuse(key: str, document: dict[str, Any]) -> ApplicationError | None:
        blocked = not cause["fixed"] and document["date"] >= "2026-11-08"
        return error(message) if blocked else None

    target = FaultyTarget(BEANCOUNT(accounting_of(merchant)), refuse=refuse)
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: target)

    run = sync_run_execute(merchant=merchant, now=NOW)

    assert run.status == Status.FAILED and run.status_code == code
    assert any(m["code"] == error.__name__ and m["message"] == message for m in run.messages)
    first, second, third = run.push_items.order_by("created_at", "id")
    assert [first.status, second.status, third.status] == ["pushed", "failed", "pending"]
    assert second.last_error == message
    assert target.injected[f"write:{error.__name__}"] == 1  # stopped at once, not retried
    assert ledger_keys(merchant) == once([first.key])
    accounting = merchant.connections.get(source_type="accounting")
    if error is CredentialsRevoked:  # the merchant must reconnect: the portal shows it
        assert accounting.status == Connection.Status.DEAUTHORIZED
        assert accounting.last_error == message
    else:
        assert accounting.status == Connection.Status.LINKED

    if recovery == "retry":
        if error is CredentialsRevoked:
            # Nothing to retry through until the merchant reconnects.
            with pytest.raises(ConfigurationError, match="no linked accounting connection"):
                push_items_retry_failed(run=run)
        else:
            # Retried while the cause is still there: the run says so (not "in progress").
            push_items_retry_failed(run=run)
            run.refresh_from_db()
            assert run.status == Status.FAILED and run.status_code == code
            assert run.messages[-1]["code"] == error.__name__
        cause["fixed"] = True
        Connection.objects.filter(pk=accounting.pk).update(status=Connection.Status.LINKED)
        push_items_retry_failed(run=run)
        run.refresh_from_db()
        assert run.status == Status.SUCCEEDED and run.status_code == 2000
    else:
        cause["fixed"] = True
        Connection.objects.filter(pk=accounting.pk).update(status=Connection.Status.LINKED)
        again = sync_run_execute(merchant=merchant, now=NOW)
        assert again.period_start == run.period_start  # the failed period is covered again
        assert again.status == Status.SUCCEEDED and again.status_code == 2000
        assert again.counters["push_items"]["carried_over"] == 2

    expected = expected_documents(merchant, NOW)
    assert ledger_keys(merchant) == once(expected) == target.writes
    assert_synced_exactly_once(merchant, expected)


# -- crashes ----------------------------------------------------------------


def test_a_run_cut_short_can_be_retried_alone(partner, ledgers, clock, monkeypatch):
    """The worker died mid-push (the run still says running, one item is left
    pushing, one pending). Retrying that run, as support would, finishes it."""
    merchant = merchant_seed(partner, "Cut short", days=3, invoices=False)
    real = push.push_item_transition
    pushed: list[str] = []

    def die_on_second(*, item, to, **fields):
        if to == PushItem.Status.PUSHED:
            if pushed:
                raise SystemExit("killed")  # not an Exception: nothing handles it
            pushed.append(item.key)
        return real(item=item, to=to, **fields)

    monkeypatch.setattr(push, "push_item_transition", die_on_second)
    with pytest.raises(SystemExit):
        sync_run_execute(merchant=merchant, now=NOW)
    monkeypatch.setattr(push, "push_item_transition", real)
    run = SyncRun.objects.get(merchant=merchant)
    assert run.status == Status.RUNNING
    assert sorted(run.push_items.values_list("status", flat=True)) == [
        "pending",
        "pushed",
        "pushing",
    ]

    push_items_retry_failed(run=run)

    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.status_code == 2000
    assert run.counters["push_items"]["found_in_target"] == 1  # written before the crash
    expected = expected_documents(merchant, NOW)
    assert ledger_keys(merchant) == once(expected)
    assert_synced_exactly_once(merchant, expected)


# SIGKILL trials: 20 in CI, `make soak` runs 1,000 (CRASH_TRIALS=1000).
CRASH_TRIALS = int(os.environ.get("CRASH_TRIALS", "20"))


def _sync_in_child(merchant_id: str, now: datetime, progress: Any, journal: str) -> None:
    """The child's body (forked): sync with a slow ledger that reports each
    document written. The delay after the write is the window in which the
    document is in the ledger but the push item does not say so yet."""

    def report(key: str) -> None:
        with progress.get_lock():
            progress.value += 1

    registry.ACCOUNTING_TARGETS["beancount"] = lambda connection: DuplicateReporter(
        FaultyTarget(
            BEANCOUNT(connection),
            delay_before_write=0.002,
            delay_after_write=0.02,
            after_write=report,
        ),
        journal,
    )
    merchant = Merchant.objects.select_related("sync_configuration").get(pk=merchant_id)
    sync_run_execute(merchant=merchant, now=now)


@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_at_any_moment_leaves_nothing_doubled_or_missing(
    partner, ledgers, tmp_path, monkeypatch
):
    """SIGKILL lands at a random moment: before the first write (reading,
    storing, mapping), between writes, or right after a write and before it
    is recorded. Running the sync again (sometimes after retrying the killed
    run, as support would) completes the ledger, each document once.

    Exactly-once is measured on the sync, not on the ledger: the target
    reports every write of a key it already holds (which Beancount would
    quietly refuse), and every document written but not recorded when the
    worker died must have been looked up by key (find_document) afterwards."""
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(11)  # noqa: S311
    stats: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    started = time.monotonic()
    for trial in range(CRASH_TRIALS):
        merchant = merchant_seed(partner, f"Crash {trial}", days=2)
        expected = expected_documents(merchant, NOW)
        progress = ctx.Value("i", 0)
        journal = str(tmp_path / f"trial-{trial}.log")
        monkeypatch.setitem(
            registry.ACCOUNTING_TARGETS,
            "beancount",
            lambda connection, journal=journal: DuplicateReporter(BEANCOUNT(connection), journal),
        )
        connections.close_all()  # the child must open its own session
        child = ctx.Process(target=_sync_in_child, args=(str(merchant.pk), NOW, progress, journal))
        child.start()
        kill_after = 0 if trial % 4 == 1 else rng.randint(1, len(expected))
        if kill_after == 0:  # the first write comes some 45 ms after the start
            time.sleep(rng.uniform(0.0, 0.035))
        else:
            deadline = time.monotonic() + 10
            while progress.value < kill_after and child.is_alive():
                assert time.monotonic() < deadline, "the child made no progress"
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.03))  # in the 20 ms after the write, or later
        os.kill(child.pid, signal.SIGKILL)
        child.join(5)
        stats["killed" if child.exitcode == -signal.SIGKILL else "finished first"] += 1

        in_ledger = set(ledger_keys(merchant))
        items = dict(PushItem.objects.filter(merchant=merchant).values_list("key", "status"))
        if not SyncRun.objects.filter(merchant=merchant).exists():
            stats["killed before the run began"] += 1
        elif not items:
            stats["killed reading, storing or mapping"] += 1
        elif not in_ledger:
            stats["killed with the items stored, none written"] += 1
        if in_ledger:
            stats["killed after writing"] += 1
        unrecorded = {k for k in in_ledger if items[k] != PushItem.Status.PUSHED}
        if unrecorded:
            stats["written but not recorded"] += 1
        before = len(DuplicateReporter.events(journal))
        killed_run = SyncRun.objects.filter(merchant=merchant, status=Status.RUNNING).first()
        if killed_run is not None and trial % 3 == 0:
            for _ in range(100):  # support retries the run (once the lock is free)
                try:
                    push_items_retry_failed(run=killed_run)
                    break
                except DuplicateSync:
                    time.sleep(0.05)
            stats["retried alone"] += 1
        rerun(merchant)

        events = DuplicateReporter.events(journal)
        duplicates = [key for event, key in events if event == "duplicate"]
        assert duplicates == [], f"trial {trial}: the sync wrote keys the target held"
        looked_up = {key for event, key in events[before:] if event == "find"}
        assert unrecorded <= looked_up, f"trial {trial}: written, unrecorded, never looked up"
        stats["looked up after the kill"] += len(unrecorded)
        totals += tally(ledger_keys(merchant), expected)
        last = trial + 1 == CRASH_TRIALS
        if last or totals["duplicates"] or totals["missing"] or (trial + 1) % 100 == 0:
            soak_report(  # the last trial, the one that went wrong, or progress every 100
                "SIGKILL at any moment" if last else "SIGKILL at any moment (so far)",
                {
                    "trials": trial + 1,
                    "duplicates": totals["duplicates"],
                    "missing": totals["missing"],
                    "seconds": round(time.monotonic() - started, 1),
                },
            )
        assert ledger_keys(merchant) == once(expected), f"trial {trial}"
        assert_synced_exactly_once(merchant, expected)

    assert stats["killed"] >= CRASH_TRIALS - 3, stats
    if CRASH_TRIALS >= 20:  # enough trials to have landed in each window
        assert stats["killed"] - stats["killed after writing"] >= 2, stats  # some before any write
        assert stats["written but not recorded"] >= 3, stats
        assert stats["looked up after the kill"] >= 3, stats


# -- concurrency --------------------------------------------------------------

WORKERS = 4


def _race(workers: int, body: Callable[[], SyncRun | None]) -> Counter[str]:
    """Run `body` in `workers` threads released at the same moment; each
    thread has its own database session, closed when it is done."""
    barrier = threading.Barrier(workers)
    outcomes: Counter[str] = Counter()
    failures: list[BaseException] = []
    guard = threading.Lock()

    def worker() -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=10)
            try:
                outcome = "ran" if body() is not None else "nothing due"
            except DuplicateSync:
                outcome = "refused"
            with guard:
                outcomes[outcome] += 1
        except BaseException as error:
            with guard:
                failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_a_merchant_run_one_sync_and_write_once(partner, ledgers, monkeypatch):
    merchant = merchant_seed(partner, "Busy", days=3)
    writes: Counter[str] = Counter()
    guard = threading.Lock()

    def count(key: str) -> None:
        with guard:
            writes[key] += 1

    monkeypatch.setitem(
        registry.ACCOUNTING_TARGETS,
        "beancount",
        lambda connection: FaultyTarget(
            BEANCOUNT(connection), delay_before_write=0.01, after_write=count
        ),
    )
    for day in (2, 1, 0):  # three days of racing workers
        now = NOW - timedelta(days=day)
        outcomes = _race(
            WORKERS,
            lambda now=now: sync_run_execute(
                merchant=Merchant.objects.get(pk=merchant.pk), now=now
            ),
        )
        assert outcomes["ran"] == 1, outcomes
        assert outcomes["refused"] + outcomes["nothing due"] == WORKERS - 1, outcomes
        assert outcomes["refused"] >= 1, outcomes  # they did overlap
        assert SyncRun.objects.filter(merchant=merchant).count() == 3 - day

    runs = SyncRun.objects.filter(merchant=merchant)
    assert {r.status_code for r in runs} == {2000}
    expected = expected_documents(merchant, NOW)
    assert writes == once(expected)
    assert ledger_keys(merchant) == once(expected)
    assert_synced_exactly_once(merchant, expected)


def _hold_lock(merchant: Any, held: Any) -> None:
    with locks.merchant_lock(merchant) as acquired:
        held.value = 1 if acquired else -1
        time.sleep(30)  # until killed


def test_on_sqlite_the_merchant_lock_excludes_other_workers_and_dies_with_its_holder(
    tmp_path, monkeypatch
):
    """The embedded default runs a web process and two qcluster workers on one
    SQLite file: the lock must hold across them too, and go with a killed one."""
    database = SimpleNamespace(
        vendor="sqlite", settings_dict={"NAME": str(tmp_path / "db.sqlite3")}
    )
    monkeypatch.setattr(locks, "db_connection", database)
    one, other = SimpleNamespace(pk=uuid4()), SimpleNamespace(pk=uuid4())
    with (
        locks.merchant_lock(one) as first,
        locks.merchant_lock(one) as second,
        locks.merchant_lock(other) as unrelated,
    ):
        assert (first, second, unrelated) == (True, False, True)
    with locks.merchant_lock(one) as again:
        assert again

    ctx = multiprocessing.get_context("fork")
    held = ctx.Value("i", 0)
    child = ctx.Process(target=_hold_lock, args=(one, held))
    child.start()
    deadline = time.monotonic() + 10
    while not held.value:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert held.value == 1
    with locks.merchant_lock(one) as while_held:
        assert not while_held  # another process holds it
    os.kill(child.pid, signal.SIGKILL)
    child.join(5)
    with locks.merchant_lock(one) as after_kill:
        assert after_kill


# -- the database connection dropped ------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after_writes", [1, 3])
def test_the_database_connection_dropped_mid_sync(partner, ledgers, after_writes):
    """An administrator (or a failover) ends the worker's PostgreSQL session
    with pg_terminate_backend right after a document is written and before
    it is recorded. The run stops (no document doubled, the error is the
    database's, nothing half-recorded), and the next run finishes the period:
    every document in the ledger exactly once."""
    import psycopg

    merchant = merchant_seed(partner, f"Dropped {after_writes}", days=3)
    expected = expected_documents(merchant, NOW)
    settings_dict = connection.settings_dict
    written: list[str] = []

    def terminate_worker_session(key: str) -> None:
        written.append(key)
        if len(written) != after_writes:
            return
        worker_pid = connection.connection.info.backend_pid
        with psycopg.connect(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"],
            dbname=settings_dict["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [worker_pid])

    registry.ACCOUNTING_TARGETS["beancount"] = lambda context: FaultyTarget(
        BEANCOUNT(context), after_write=terminate_worker_session
    )
    try:
        try:
            run = sync_run_execute(merchant=merchant, now=NOW)
        except (OperationalError, InterfaceError):
            run = None  # the session is gone: nothing more could be recorded
        assert run is None or run.status == Status.FAILED
        connections.close_all()  # the worker's next task opens a new session
        assert len(written) == after_writes
        in_ledger = ledger_keys(merchant)
        assert in_ledger == once(written)  # written, maybe unrecorded, never twice

        registry.ACCOUNTING_TARGETS["beancount"] = BEANCOUNT
        again = rerun(merchant)
        assert again is not None and again.status == Status.SUCCEEDED, again and again.messages
    finally:
        registry.ACCOUNTING_TARGETS["beancount"] = BEANCOUNT
    assert ledger_keys(merchant) == once(expected)
    assert_synced_exactly_once(merchant, expected)
