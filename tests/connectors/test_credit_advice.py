"""An exchange in invoice format (a credit note applied to the day's
invoice, tests/mapping/scenarios/exchange-credit-note-invoice.json) in Sage
Accounting and MYOB: Xero allocates the credit note
(tests/connectors/test_credit_allocations.py) and closes both; these
connectors write the credit note without applying it, so both stay open by
the applied amount there, and the merchant is told so, with the amount."""

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


def test_myob_says_the_applied_credit_stays_open() -> None:
    documents, _ = exchange_documents(customer="CUST-POS")
    with MyobDouble() as myob:
        test_myob._seed(myob)
        myob.books.seed_tax("ZERO", "0")
        target = test_myob._target(myob)
        results = target.write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        sales = myob.books.rows["Sale/Invoice/Service"]
        assert sorted(s["BalanceDueAmount"] for s in sales) == [Decimal("-30.00"), Decimal("30.00")]
        [advice] = target.advisories(documents)
        assert advice.startswith(f"{WORDS} MYOB without that application")
        assert target.advisories([d for d in documents if d["type"] != "creditNote"]) == []
        assert myob.violations == []
