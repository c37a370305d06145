"""An exchange in invoice format (a credit note applied to the day's
invoice, tests/mapping/scenarios/exchange-credit-note-invoice.json): Xero
allocates the credit note (tests/connectors/test_credit_allocations.py) and
closes both. MYOB settles it the same way (`Sale/CreditSettlement`); Sage
Accounting's connector writes it unapplied, so both stay open by the
applied amount there, and the merchant is told so, with the amount."""

from __future__ import annotations

from decimal import Decimal

from tests.connectors import test_myob, test_sage
from tests.connectors.test_credit_allocations import exchange_documents
from tests.doubles.myob_double import MyobDouble
from tests.doubles.sage_double import SageDouble

WORDS = "Credit notes applied to the day's invoices (30.00 GBP in all) are written to"


def test_sage_says_the_applied_credit_stays_outstanding() -> None:
    documents, _ = exchange_documents(customer="CUST-POS")
    with SageDouble(debtors="1300", creditors="1600") as sage:
        test_sage._seed(sage)
        sage.books.seed_tax("ZERO", "0")
        target = test_sage._target(sage)
        results = target.write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        books = sage.books
        rows = books.rows["sales_invoices"] + books.rows["sales_credit_notes"]
        assert [books.outstanding(r) for r in rows] == [Decimal("30.00")] * 2
        [advice] = target.advisories(documents)
        assert advice.startswith(f"{WORDS} Sage Accounting without that application")
        assert "a customer allocation" in advice
        assert target.advisories([d for d in documents if d["type"] != "creditNote"]) == []
        assert sage.violations == []


def test_myob_settles_the_credit_note_against_the_days_invoice_once() -> None:
    """As Xero allocates it: a `Sale/CreditSettlement` closes the credit
    note and the invoice (the cash refund pays the rest of the credit);
    written again, or after a crash between the credit note and its
    settlement, nothing is settled twice."""
    documents, _ = exchange_documents(customer="CUST-POS")
    with MyobDouble() as myob:
        test_myob._seed(myob)
        myob.books.seed_tax("ZERO", "0")
        target = test_myob._target(myob)
        results = target.write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        sales = myob.books.rows["Sale/Invoice/Service"]
        assert [s["BalanceDueAmount"] for s in sales] == [0, 0]
        assert {s["Status"] for s in sales} == {"Closed"}
        [settlement] = myob.books.rows["Sale/CreditSettlement"]
        assert settlement["CreditAmount"] == Decimal("30.00")
        assert not hasattr(target, "advisories")  # nothing left to tell
        # The whole day again, by a fresh adapter: nothing new.
        again = test_myob._target(myob).write_documents([(d["key"], d) for d in documents])
        assert again == results and myob.books.creates["CreditSettlement"] == 1
        assert myob.violations == []


def test_myob_completes_a_settlement_a_crash_cut_short() -> None:
    documents, _ = exchange_documents(customer="CUST-POS")
    invoice, credit = documents[0], documents[1]
    assert credit["type"] == "creditNote"
    with MyobDouble() as myob:
        test_myob._seed(myob)
        myob.books.seed_tax("ZERO", "0")
        target = test_myob._target(myob)
        target.write_documents([(invoice["key"], invoice)])
        # The credit note reached MYOB; the settlement after it did not.
        body = test_myob.translate.to_entity(credit["key"], credit, target, None)
        target.client.create(*body)
        assert myob.books.creates["CreditSettlement"] == 0
        fresh = test_myob._target(myob)
        found = fresh.find_document(key=credit["key"])
        assert found is not None
        fresh.complete_document(key=credit["key"], document=credit, target_id=found)
        fresh.complete_document(key=credit["key"], document=credit, target_id=found)
        assert myob.books.creates["CreditSettlement"] == 1
        sales = myob.books.rows["Sale/Invoice/Service"]
        assert [s["BalanceDueAmount"] for s in sales] == [Decimal("36.00"), Decimal("-6.00")]
        assert myob.violations == []


def test_sage_says_journal_vat_needs_including_on_the_vat_return() -> None:
    """In the journal format the day's VAT is a journal line on the VAT
    account; Sage reports a journal's VAT only when it is marked for the VAT
    return, so the merchant is told the day's VAT to check, to the penny."""
    journals = test_sage._documents("uk-cafe-journal.json")
    with SageDouble(debtors="1300", creditors="1600") as sage:
        test_sage._seed(sage)
        target = test_sage._target(sage)
        [advice] = target.advisories(journals)
        assert advice.startswith("The day's journals carry VAT (8.15 GBP) as plain journal")
        assert "include on VAT return" in advice
        invoices = test_sage._documents("uk-cafe-invoice.json")
        assert [a for a in target.advisories(invoices) if "journals carry VAT" in a] == []
        assert sage.violations == []
