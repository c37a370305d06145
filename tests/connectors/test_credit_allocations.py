"""An exchange in invoice format (tests/mapping/scenarios/exchange-credit-note-
invoice.json): the credit note's `links` to the day's invoice are written as
an allocation in Xero and a linked 0.00 payment in QuickBooks, exactly once
even when a crash cut the sync short between the credit note and its
allocation; Beancount nets the receivable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader
from beancount.core import data, realization

from commerce_sync.core.services.connections import connection_target
from connectors.beancount.translate import RECEIVABLE_ROOT
from connectors.quickbooks import translate as quickbooks_translate
from connectors.quickbooks.adapter import QuickBooksTarget
from connectors.xero import translate
from connectors.xero.adapter import XeroTarget
from mapping.preview import preview
from tests.connectors.test_quickbooks import FakeLimiter, FakeTokens
from tests.connectors.test_xero import (
    CUSTOMER,
    SUPPLIER,
    assert_books_match,
    uk_books,
    xero_connection,
)
from tests.doubles.quickbooks_double import QuickBooksDouble
from tests.doubles.xero_double import XeroDouble


@pytest.fixture
def xero(settings: Any) -> Iterator[XeroDouble]:
    with XeroDouble(uk_books()) as double:
        settings.XERO_API_URL = double.api_url
        settings.XERO_IDENTITY_URL = double.url
        double.books.add_account({"Code": "4050", "Name": "Refunds", "Type": "REVENUE"})
        yield double
    assert double.violations == []


@pytest.fixture
def target(merchant: Any, xero: XeroDouble) -> XeroTarget:
    built = connection_target(connection=xero_connection(merchant, xero))
    assert isinstance(built, XeroTarget)
    return built


EXCHANGE = (
    Path(__file__).resolve().parents[1] / "mapping/scenarios/exchange-credit-note-invoice.json"
)


BEANCOUNT_NAMES = {
    "4000": "Income:Sales",
    "4050": "Income:Refunds",
    "2200": "Liabilities:VAT",
    "OUTPUT2": "Liabilities:VAT",
    "ZERO": "Liabilities:VAT",
    "1000": "Assets:Cash",
    "1100": "Assets:Card",
    "1200": "Assets:Bank",
}


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: names.get(v, v)
            if k.startswith("selected") and k != "selectedCustomerId"
            else _renamed(v, names)
            for k, v in value.items()
        }
    return value


def exchange_documents(
    customer: str = CUSTOMER, names: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    scenario = json.loads(EXCHANGE.read_text(), parse_float=Decimal)
    scenario["configuration"] = _renamed(scenario["configuration"], names or {})
    scenario["configuration"]["sales"]["salesCustomer"] = {"selectedCustomerId": customer}
    scenario["configuration"].setdefault("fees", {})["feesSupplier"] = {
        "selectedSupplierId": SUPPLIER
    }
    result = preview(scenario)
    assert not result.errors
    documents = json.loads(json.dumps([d.as_json() for d in result.documents]))
    return documents, scenario["expected"]["invoice"]["balances"]


def _allocations(xero: XeroDouble) -> list[dict[str, Any]]:
    return [a for c in xero.books.documents["CreditNotes"] for a in c.get("Allocations", [])]


def _nothing_open(xero: XeroDouble) -> None:
    (invoice,) = xero.books.documents["Invoices"]
    (credit,) = xero.books.documents["CreditNotes"]
    assert (invoice["AmountDue"], credit["RemainingCredit"]) == (0, 0)


def test_xero_allocates_the_credit_note_to_the_days_invoice_once(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, expected = exchange_documents()
    credit = next(d for d in documents if d["type"] == "creditNote")
    assert [link["type"] for link in credit["links"]] == ["Invoice"]
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    _nothing_open(xero)
    (allocation,) = _allocations(xero)
    assert allocation["Amount"] == Decimal(credit["links"][0]["amount"])
    assert_books_match(xero, expected)
    # A retry of the whole day (a fresh adapter, nothing remembered) writes nothing new.
    again = XeroTarget(target.client, bank_contact_id=SUPPLIER)
    assert again.write_documents([(d["key"], d) for d in documents]) == results
    assert len(_allocations(xero)) == 1
    _nothing_open(xero)


def test_a_crash_between_credit_note_and_allocation_is_completed_once(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, expected = exchange_documents()
    invoice, credit = (
        next(d for d in documents if d["type"] == t) for t in ("invoice", "creditNote")
    )
    target.write_document(key=invoice["key"], document=invoice)
    # Xero stored the credit note, then the worker died before the allocation.
    xero.books.write("CreditNotes", translate.to_elements(credit["key"], credit, target))
    assert _allocations(xero) == []
    # The push loop's retry looks the key up and completes what is missing...
    fresh = XeroTarget(target.client, bank_contact_id=SUPPLIER)
    found = fresh.find_document(key=credit["key"])
    assert found is not None
    fresh.complete_document(key=credit["key"], document=credit, target_id=found)
    assert len(_allocations(xero)) == 1
    # ...and a second retry (the answer lost again) allocates nothing twice.
    XeroTarget(target.client).complete_document(key=credit["key"], document=credit, target_id=found)
    rest = [(d["key"], d) for d in documents if d["type"] not in ("invoice", "creditNote")]
    fresh.write_documents(rest)
    assert len(_allocations(xero)) == 1
    _nothing_open(xero)
    assert_books_match(xero, expected)


def test_beancount_nets_the_receivable_of_an_exchange(tmp_path: Path) -> None:
    from connectors.beancount.adapter import BeancountTarget

    documents, _ = exchange_documents(customer="CUST-POS", names=BEANCOUNT_NAMES)
    ledger = tmp_path / "books.beancount"
    books = BeancountTarget(ledger_path=ledger, title="Exchange")
    books.ensure_ledger()
    for account in sorted(set(BEANCOUNT_NAMES.values())):
        kind = {"Assets": "Asset", "Income": "Income", "Liabilities": "Liability"}
        books.create_account(
            account_id=account, name=account, account_type=kind[account.split(":")[0]]
        )
    for document in documents:
        books.write_document(key=document["key"], document=document)
    entries, errors, _ = loader.load_file(str(ledger))
    assert errors == []
    root = realization.realize(entries)
    receivables = [(n, node) for n, node in _walk(root) if n.startswith(RECEIVABLE_ROOT)]
    assert len(receivables) == 1  # the one POS customer's, used by every document
    left = [n for n, node in receivables if not realization.compute_balance(node).is_empty()]
    assert left == []  # invoice, credit note and payments net to nothing
    assert len([e for e in entries if isinstance(e, data.Transaction)]) == len(documents)


def _walk(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, child in node.items():
        full = f"{prefix}:{name}" if prefix else name
        if not child:  # a leaf: one account
            found.append((full, child))
        found += _walk(child, full)
    return found


# -- QuickBooks: a 0.00 Payment linking the invoice and the credit memo --


@pytest.fixture
def qbo() -> Iterator[QuickBooksDouble]:
    with QuickBooksDouble() as double:
        company = double.company
        for account in ("1000", "1100", "1200"):
            company.seed_account(account)
        company.seed_account("2200", kind="Liability")
        company.seed_account("4000", "Sales", "Revenue")
        company.seed_account("4050", "Refunds", "Revenue")
        company.add("Customer", {"DisplayName": "Point of sale"}, "CUST-POS")
        company.add("Vendor", {"DisplayName": "Card processor"}, SUPPLIER)
        company.seed_tax_code("OUTPUT2", "20")
        company.seed_tax_code("ZERO", "0")
        yield double
        assert company.schema_problems == []  # every entity matched Finance.xsd


def _quickbooks(qbo: QuickBooksDouble) -> QuickBooksTarget:
    return QuickBooksTarget(
        realm_id=qbo.realm, tokens=FakeTokens(), limiter=FakeLimiter(), base_url=qbo.url
    )


def _applied(qbo: QuickBooksDouble, to: str = "Invoice") -> list[dict[str, Any]]:
    """The 0.00 payments applying a credit memo to `to` (Invoice, or the
    JournalEntry that paid the rest of the credit back)."""
    return [
        p
        for p in qbo.company.entities["Payment"].values()
        if not Decimal(p["TotalAmt"]) and any(x["LinkedTxn"][0]["TxnType"] == to for x in p["Line"])
    ]


def _quickbooks_nothing_open(qbo: QuickBooksDouble) -> None:
    (invoice,) = qbo.company.entities["Invoice"].values()
    (memo,) = qbo.company.entities["CreditMemo"].values()
    assert invoice["Balance"] == 0
    # The credit memo's 6.00 paid back in cash is a journal on AR, applied to
    # the memo by a 0.00 payment: nothing stays open, the receivable is zero.
    assert memo["Balance"] == 0
    assert qbo.company.open_items() == {}
    assert qbo.company.balances().get("AR", Decimal(0)) == 0
    (refunded,) = _applied(qbo, to="JournalEntry")
    assert {Decimal(x["Amount"]) for x in refunded["Line"]} == {Decimal("6.00")}


def test_quickbooks_applies_the_credit_memo_to_the_days_invoice_once(
    qbo: QuickBooksDouble,
) -> None:
    documents, expected = exchange_documents(customer="CUST-POS")
    target = _quickbooks(qbo)
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    (applied,) = _applied(qbo)
    types = sorted(x["LinkedTxn"][0]["TxnType"] for x in applied["Line"])
    assert types == ["CreditMemo", "Invoice"]
    assert {Decimal(x["Amount"]) for x in applied["Line"]} == {Decimal("30.00")}
    _quickbooks_nothing_open(qbo)
    balances = qbo.company.balances()
    balances.pop("AR", None)
    assert balances == {k: Decimal(v) for k, v in expected.items()}
    # The day again with a fresh adapter: everything is found, nothing new.
    again = _quickbooks(qbo).write_documents([(d["key"], d) for d in documents])
    assert again == results
    assert len(_applied(qbo)) == 1
    assert len(_applied(qbo, to="JournalEntry")) == 1


def test_quickbooks_completes_an_application_a_crash_cut_short_once(
    qbo: QuickBooksDouble,
) -> None:
    documents, _ = exchange_documents(customer="CUST-POS")
    by_type = {d["type"]: d for d in documents}
    invoice, credit = by_type["invoice"], by_type["creditNote"]
    first = _quickbooks(qbo)
    first.write_document(key=invoice["key"], document=invoice)
    # The memo reached QuickBooks; the worker died before applying it.
    entity, body = quickbooks_translate.to_entity(credit["key"], credit, first)
    first.client.create(entity, body, key=credit["key"])
    assert _applied(qbo) == []
    retry = _quickbooks(qbo)
    found = retry.find_document(key=credit["key"])
    assert found is not None
    retry.complete_document(key=credit["key"], document=credit, target_id=found)
    _quickbooks(qbo).complete_document(key=credit["key"], document=credit, target_id=found)
    assert len(_applied(qbo)) == 1
    (invoice_row,) = qbo.company.entities["Invoice"].values()
    assert invoice_row["Balance"] == Decimal("36.00")  # 66.00 less the 30.00 applied
