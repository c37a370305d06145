"""One whole sync on PostgreSQL: sandbox POS -> mapping -> Beancount ledger."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data as bean

from commerce_sync.core.models import Connection, PushItem, SourceRecord, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.errors import DuplicateSync
from commerce_sync.syncs import push
from commerce_sync.syncs.runs import sync_run_execute
from connectors import registry
from connectors.batching import SingleWrites
from connectors.protocols import CommerceBatch
from tests.mapping.books import movements

TODAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def demo(db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    return demo_seed(days=3, orders_per_day=15, today=TODAY)


def ledger_transactions(path: str) -> list[bean.Transaction]:
    entries, errors, _ = loader.load_file(path)
    assert errors == [], [e.message for e in errors]
    return [e for e in entries if isinstance(e, bean.Transaction)]


def ledger_balances(path: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for txn in ledger_transactions(path):
        for posting in txn.postings:
            totals[posting.account] = totals.get(posting.account, Decimal(0)) + posting.units.number
    return {k: v for k, v in totals.items() if v}


def test_a_sync_posts_every_day_once_and_the_ledger_agrees(demo):
    run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000
    assert run.data_pushed
    assert (run.period_start, run.period_end) == (
        datetime(2026, 11, 7, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 0, 0, tzinfo=UTC),
    )
    items = list(run.push_items.order_by("created_at", "id"))
    assert [i.payload["date"] for i in items] == ["2026-11-07", "2026-11-08", "2026-11-09"]
    assert {i.status for i in items} == {PushItem.Status.PUSHED}
    assert all(i.target_id == i.key for i in items)
    # What the ledger holds is what the push items say, account by account.
    expected = {k: v for k, v in movements([i.payload for i in items]).items() if v}
    assert ledger_balances(demo.ledger_path) == expected
    assert len(ledger_transactions(demo.ledger_path)) == 3
    # Every order read was stored and marked as posted by this run.
    orders = run.counters["records_read"]["orders"]
    assert orders > 30
    stored = SourceRecord.objects.filter(merchant=demo.merchant, kind="order")
    assert stored.count() == orders
    assert stored.filter(posted_run=run).count() == orders
    assert set(run.timings) >= {"read", "store", "map", "validate", "push"}
    assert run.counters["push_items"]["written"] == 3


def test_running_again_writes_nothing(demo):
    sync_run_execute(merchant=demo.merchant, now=NOW)
    before = Path(demo.ledger_path).read_bytes()

    assert sync_run_execute(merchant=demo.merchant, now=NOW) is None  # nothing due
    with pytest.raises(DuplicateSync) as refused:
        sync_run_execute(merchant=demo.merchant, first=date(2026, 11, 8), until=date(2026, 11, 9))
    assert refused.value.status_code == 5080
    assert Path(demo.ledger_path).read_bytes() == before


def test_a_failed_run_is_covered_again_without_double_posting(demo, monkeypatch):
    """The run crashed after writing (the success was never recorded): the
    next run re-reads the same period and writes nothing twice."""
    run = sync_run_execute(merchant=demo.merchant, now=NOW)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, status_code=5000)
    before = Path(demo.ledger_path).read_bytes()

    again = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert again.period_start == run.period_start
    assert again.status_code == 2040  # success, nothing new to write
    assert (
        again.counters["records"]["unchanged"]
        == run.counters["records_read"]["orders"] + run.counters["records_read"]["transactions"]
    )
    assert Path(demo.ledger_path).read_bytes() == before


def test_a_crash_between_writing_and_recording_is_recovered(demo, monkeypatch):
    """The target took the document but the process died before the push
    item said so: the next run finds the key in the ledger instead of writing."""
    real = push.push_item_transition
    crashed = []

    def crash_once(*, item, to, **fields):
        if to == PushItem.Status.PUSHED and not crashed:
            crashed.append(item.key)
            raise SystemExit("killed")  # not an Exception: nothing handles it
        return real(item=item, to=to, **fields)

    monkeypatch.setattr(push, "push_item_transition", crash_once)
    with pytest.raises(SystemExit):
        sync_run_execute(merchant=demo.merchant, now=NOW)
    monkeypatch.setattr(push, "push_item_transition", real)
    stuck = PushItem.objects.get(key=crashed[0])
    assert stuck.status == PushItem.Status.PUSHING

    run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert SyncRun.objects.filter(status=SyncRun.Status.FAILED, status_code=5000).count() == 1
    stuck.refresh_from_db()
    assert stuck.status == PushItem.Status.PUSHED
    assert run.counters["push_items"]["found_in_target"] == 1
    keys = [t.meta["push-key"] for t in ledger_transactions(demo.ledger_path)]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 3


class EditableSource:
    """A commerce source whose records a test can change between runs."""

    platform_key = "editable"

    def __init__(self, records: dict[str, list[dict]]) -> None:
        self.records = records

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        def within(record: dict) -> bool:
            created = datetime.fromisoformat(record["createdDate"])
            return start <= created < end

        return CommerceBatch(
            orders=[copy.deepcopy(o) for o in self.records["orders"] if within(o)],
            transactions=[
                copy.deepcopy(t) for t in self.records.get("transactions", []) if within(t)
            ],
            api_calls=1,
        )


def order(oid: str, created: str, net: str, tax: str, payment: str = "Card") -> dict:
    total = Decimal(net) + Decimal(tax)
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": created,
        "modifiedDate": created,
        "totalAmount": total,
        "totalTaxAmount": Decimal(tax),
        "orderLineItems": [
            {
                "id": "L1",
                "productRef": {"id": "latte"},
                "quantity": 1,
                "taxPercentage": 20,
                "totalTaxAmount": Decimal(tax),
                "totalAmount": total,
            }
        ],
        "payments": [
            {
                "id": f"{oid}-P1",
                "type": payment,
                "amount": total,
                "currency": "GBP",
                "status": "Paid",
            }
        ],
    }


@pytest.fixture
def editable(demo, monkeypatch):
    source = EditableSource({"orders": [order("E-1", "2026-11-07T10:00:00Z", "10.00", "2.00")]})
    monkeypatch.setitem(registry.COMMERCE_SOURCES, "editable", lambda connection: source)
    Connection.objects.filter(merchant=demo.merchant, source_type="commerce").update(
        platform_key="editable"
    )
    return source


def test_an_edited_order_posts_the_difference_and_a_late_one_is_flagged(demo, editable):
    first = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 8, 9, tzinfo=UTC))
    assert first.status_code == 2000
    # The order is edited, and an order of the 7th reaches us only now.
    editable.records["orders"][0] = order("E-1", "2026-11-07T10:00:00Z", "15.00", "3.00")
    editable.records["orders"][0]["modifiedDate"] = "2026-11-08T12:00:00Z"
    editable.records["orders"].append(order("E-0", "2026-11-07T11:00:00Z", "5.00", "1.00", "Cash"))
    editable.records["orders"].append(order("E-2", "2026-11-08T10:00:00Z", "2.50", "0.50", "Cash"))

    class Widened(EditableSource):  # a real connector asks by modifiedDate too
        def read_period(self, *, start, end):
            return super().read_period(start=datetime(2026, 11, 7, tzinfo=UTC), end=end)

    registry.COMMERCE_SOURCES["editable"] = lambda connection: Widened(editable.records)
    second = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 9, 9, tzinfo=UTC))

    assert second.status_code == 2000, second.messages
    assert second.counters["records"] == {"new": 1, "late": 1, "edited": 1, "unchanged": 0}
    docs = {i.payload["key"]: i.payload for i in second.push_items.all()}
    adjustment = next(d for d in docs.values() if "adjustment" in d.get("flags", []))
    assert movements([adjustment]) == {
        "Assets:Clearing:Card": Decimal("6.00"),
        "Income:Sales:Other": Decimal("-5.00"),
        "Liabilities:VAT:Output": Decimal("-1.00"),
    }
    day = next(d for d in docs.values() if "late" in d.get("flags", []))
    assert day["date"] == "2026-11-08"
    assert movements([day])["Assets:Cash:Till"] == Decimal("9.00")  # E-0 (late) + E-2
    codes = {m["code"] for m in second.messages}
    assert {"LateRecord", "Adjustment"} <= codes
    # The ledger now holds the edited order once, at its new amount.
    assert ledger_balances(demo.ledger_path)["Income:Sales:Other"] == Decimal("-22.50")


def test_an_order_waiting_for_its_card_posts_late_once_it_settles(demo, editable):
    """Issue 13: an Authorized card (a tip to come) holds back its order, not
    the day; the next run reads that day again and posts it, flagged late."""
    waiting = order("W-1", "2026-11-07T20:00:00Z", "20.00", "4.00")
    waiting["payments"][0]["status"] = "Authorized"
    editable.records["orders"].append(waiting)

    first = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 8, 9, tzinfo=UTC))

    assert first.status_code == 2000, first.messages
    assert any(
        m["code"] == "OrderWaiting" and "W-1" in m["message"] and "Authorized" in m["message"]
        for m in first.messages
    )
    stored = SourceRecord.objects.get(merchant=demo.merchant, source_id="W-1")
    assert stored.posted_run is None  # not posted: a later run must take it
    assert SourceRecord.objects.get(source_id="E-1").posted_run == first
    assert ledger_balances(demo.ledger_path)["Assets:Clearing:Card"] == Decimal("12.00")

    settled = order("W-1", "2026-11-07T20:00:00Z", "20.00", "4.00")
    settled["payments"][0]["amount"] = Decimal("27.00")
    settled["totalGratuity"] = Decimal("3.00")
    settled["modifiedDate"] = "2026-11-08T10:00:00Z"
    editable.records["orders"][1] = settled
    second = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 9, 9, tzinfo=UTC))

    assert second.status_code == 2000, second.messages
    assert second.counters["records"]["late"] == 1
    stored.refresh_from_db()
    assert stored.posted_run == second
    (day,) = [i.payload for i in second.push_items.all()]
    assert day["date"] == "2026-11-08" and day["flags"] == ["late"]
    assert movements([day])["Assets:Clearing:Card"] == Decimal("27.00")
    assert ledger_balances(demo.ledger_path)["Assets:Clearing:Card"] == Decimal("39.00")


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_a_fee_naming_an_earlier_days_payment_takes_its_clearing_account(
    demo, editable, vendor, monkeypatch
):
    """Issue 13: the fee of an online payment of the 7th, charged on the 8th,
    is resolved against the stored order (not the `card` account); a fee
    naming a payment never seen refuses the day, naming it. On SQLite (the
    embedded default: no JSON containment) the stored orders' payments are
    looked at in Python; that path used to fail the run (NotSupportedError)."""
    from types import SimpleNamespace

    from commerce_sync.syncs import intake

    monkeypatch.setattr(intake, "connection", SimpleNamespace(vendor=vendor))
    editable.records["orders"][0] = order(
        "E-1", "2026-11-07T10:00:00Z", "10.00", "2.00", "OnlineCard"
    )
    first = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 8, 9, tzinfo=UTC))
    assert first.status_code == 2000, first.messages
    fee = {
        "id": "F-1",
        "type": "PaymentFee",
        "currency": "GBP",
        "createdDate": "2026-11-08T08:00:00Z",
        "totalAmount": Decimal("-0.30"),
        "transactionSourceRef": {"id": "E-1-P1", "type": "Payment"},
    }
    stray = fee | {"id": "F-2", "transactionSourceRef": {"id": "GONE-P1", "type": "Payment"}}
    editable.records["transactions"] = [fee, stray]

    refused = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 9, 9, tzinfo=UTC))

    assert refused.status == SyncRun.Status.FAILED and refused.status_code == 5120
    (error,) = [m for m in refused.messages if m["level"] == "error"]
    assert error["code"] == "UnresolvedReference"
    assert "F-2" in error["message"] and "GONE-P1" in error["message"]

    editable.records["transactions"] = [fee]
    second = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 9, 9, tzinfo=UTC))

    assert second.status_code == 2000, second.messages
    (day,) = [i.payload for i in second.push_items.all()]
    moved = movements([day])
    assert moved["Assets:Clearing:OnlineCard"] == Decimal("-0.30")
    assert "Assets:Clearing:Card" not in moved


def test_a_record_sent_twice_in_one_read_is_stored_and_posted_once(demo, editable):
    editable.records["orders"].append(copy.deepcopy(editable.records["orders"][0]))

    run = sync_run_execute(merchant=demo.merchant, now=datetime(2026, 11, 8, 9, tzinfo=UTC))

    assert run.status_code == 2000, run.messages
    assert any(m["code"] == "DuplicateRecord" and "E-1" in m["message"] for m in run.messages)
    assert SourceRecord.objects.filter(merchant=demo.merchant, source_id="E-1").count() == 1
    assert ledger_balances(demo.ledger_path)["Assets:Clearing:Card"] == Decimal("12.00")


def test_an_unmapped_payment_type_refuses_the_day_and_writes_nothing(demo, editable):
    editable.records["orders"].append(order("V-1", "2026-11-07T12:00:00Z", "4.00", "0.80", "Vipps"))

    run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status == SyncRun.Status.FAILED and run.status_code == 4000
    assert any(
        "Vipps" in m["message"] and "payments.accounts.vipps" in m["message"] for m in run.messages
    )
    assert not PushItem.objects.exists()
    assert ledger_transactions(demo.ledger_path) == []
    assert not SourceRecord.objects.filter(posted_run__isnull=False).exists()


def test_an_account_missing_from_the_target_is_caught_before_writing(demo):
    configuration = demo.merchant.sync_configuration
    configuration.document["payments"]["accounts"]["cash"] = {
        "selectedAccountId": "Assets:Cash:Gone"
    }
    configuration.save(update_fields=["document"])

    run = sync_run_execute(merchant=demo.merchant, now=NOW)

    assert run.status_code == 4000
    assert "Account Assets:Cash:Gone does not exist in beancount" in run.messages[-1]["message"]
    assert ledger_transactions(demo.ledger_path) == []


def test_the_query_count_does_not_grow_with_orders(demo, django_assert_max_num_queries):
    """Queries depend on documents (3 days -> 3 journals), not on orders."""
    connection = Connection.objects.get(merchant=demo.merchant, source_type="commerce")
    connection.settings = {"orders_per_day": 150}
    connection.save(update_fields=["settings"])
    with django_assert_max_num_queries(45):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)
    assert run.counters["records_read"]["orders"] > 300


@pytest.mark.parametrize(("orders_per_day", "chunks", "queries"), [(50, 1, 42), (130, 2, 44)])
def test_one_sync_makes_an_exact_number_of_queries(
    demo, django_assert_num_queries, orders_per_day, chunks, queries
):
    """Three days, three journals; the orders only count in chunks of 500
    rows (one INSERT and one UPDATE of core_sourcerecord per chunk):

    * the lock: pg_try_advisory_lock, and pg_advisory_unlock at the end (2)
    * runs left running to abandon; the last success (the period) (2)
    * the run: INSERT core_syncrun, then UPDATE to running + INSERT audit (3)
    * the linked commerce and accounting connections (2)
    * orders that waited for their payments in earlier periods (1)
    * stored records: one SELECT for orders, one for transactions (2)
    * INSERT core_sourcerecord per 500 new records (1 per chunk)
    * the outbox, in a savepoint: SAVEPOINT, SELECT push items FOR UPDATE,
      INSERT push items, UPDATE core_sourcerecord posted (1 per chunk),
      SELECT unfinished items, RELEASE SAVEPOINT (5)
    * per document: UPDATE to pushing + audit, UPDATE to pushed + audit
      (4 x 3 = 12; the ledger needs no look-up for a key never sent)
    * the run ends: UPDATE core_syncrun + INSERT audit (2)
    * its webhook event, in a savepoint: SAVEPOINT, SELECT the partner's
      endpoints (none here, so nothing is written), RELEASE SAVEPOINT (3)
    * alerts, in a savepoint: SAVEPOINT, the merchant's open incidents, the
      period's payouts, the payout before them, the records between (the
      payout reconciliation), RELEASE SAVEPOINT (6)

    That is 40 + 2 per chunk here, inside the test's transaction; outside
    one, each transition and the outbox also log a BEGIN and a COMMIT."""
    connection = Connection.objects.get(merchant=demo.merchant, source_type="commerce")
    connection.settings = {"orders_per_day": orders_per_day}
    connection.save(update_fields=["settings"])

    with django_assert_num_queries(queries):
        run = sync_run_execute(merchant=demo.merchant, now=NOW)

    read = run.counters["records_read"]
    assert -(-(read["orders"] + read["transactions"]) // 500) == chunks  # 230-310, 580-790
    assert queries == 40 + 2 * chunks
    assert run.counters["push_items"]["written"] == 3


def test_the_task_runs_the_sync(demo):
    from django_q.tasks import async_task, result

    task_id = async_task("commerce_sync.core.tasks.sync_merchant", str(demo.merchant.pk), sync=True)
    outcome = result(task_id)
    run = SyncRun.objects.get(merchant=demo.merchant)
    assert outcome == f"{run.pk} 2000"


class BatchingLedger(SingleWrites):
    """A target that writes several documents per call and, like a real API
    at a bad moment, refuses one document, loses one answer and fails one
    whole call."""

    platform_key = "batching"
    writes_in_batches = True

    def __init__(self, accounts) -> None:
        self.accounts = accounts
        self.documents: dict[str, dict] = {}
        self.writes: dict[str, int] = {}
        self.calls = 0
        self.script = ["outage", "lose-one", "ok"]

    def list_accounts(self):
        return self.accounts

    def write_documents(self, items):
        from commerce_sync.errors import DocumentRejected, PlatformUnavailable

        self.calls += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "outage":
            raise PlatformUnavailable("503 from the ledger")
        results = {}
        for index, (key, document) in enumerate(items):
            if key in self.documents:  # looked up first: never written twice
                results[key] = f"id-{key}"
                continue
            if document["date"] == "2026-11-08":
                results[key] = DocumentRejected("Period 2026-11-08 is locked")
                continue
            self.documents[key] = document
            self.writes[key] = self.writes.get(key, 0) + 1
            if step == "lose-one" and index == 0:
                results[key] = PlatformUnavailable("answer lost")  # written, but we never heard
                continue
            results[key] = f"id-{key}"
        return results


def test_a_batching_target_gets_the_day_in_a_few_calls_each_document_once(demo, monkeypatch):
    from connectors.beancount import BeancountTarget

    accounts = BeancountTarget(ledger_path=Path(demo.ledger_path)).list_accounts()
    ledger = BatchingLedger(accounts)
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: ledger)
    no_sleep = push.PUSH_RETRY.with_sleep(lambda seconds: None)

    run = sync_run_execute(merchant=demo.merchant, now=NOW, retry=no_sleep)

    assert run.status_code == 5130  # the locked day failed alone
    statuses = {i.payload["date"]: i.status for i in run.push_items.all()}
    assert statuses == {"2026-11-07": "pushed", "2026-11-08": "failed", "2026-11-09": "pushed"}
    failed = run.push_items.get(status="failed")
    assert failed.last_error == "Period 2026-11-08 is locked"
    assert ledger.calls == 3  # outage, one answer lost, then the retry of that one
    assert set(ledger.writes.values()) == {1}
