"""The real sync service writing a café's days into the MYOB double (the
company file's accounts in MYOB numbering): every document exactly once,
the books balanced per account with the day's VAT on its tax code's
account, every invoice closed by its payments, and a second run writing
nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from commerce_sync.core.models import Merchant, SyncConfiguration
from commerce_sync.core.services.demo import DEMO_ACCOUNTS
from tests.core.target_sync import (
    edit_it_and_sync_the_8th,
    link_target,
    sync_an_order_of_the_7th,
    sync_exactly_once,
)
from tests.core.test_exactly_once import NOW, expected_documents, merchant_seed, once, rerun
from tests.doubles.myob_double import API_KEY, MyobDouble

# The demo café's accounts as MYOB DisplayIDs, with their classification.
CODES = {
    "Assets:Clearing:Card": ("1-1110", "Asset"),
    "Assets:Clearing:OnlineCard": ("1-1120", "Asset"),
    "Assets:Cash:Till": ("1-1130", "Asset"),
    "Assets:Bank:Current": ("1-1140", "Asset"),
    "Liabilities:GiftCards": ("2-1110", "Liability"),
    "Liabilities:Tips": ("2-1120", "Liability"),
    "Liabilities:VAT:Output": ("2-1310", "Liability"),
    "Income:Sales:Coffee": ("4-1000", "Income"),
    "Income:Sales:Food": ("4-1010", "Income"),
    "Income:Sales:Retail": ("4-1020", "Income"),
    "Income:Sales:Other": ("4-1030", "Income"),
    "Income:Sales:Delivery": ("4-1040", "Income"),
    "Income:Sales:Refunds": ("4-1050", "Income"),
    "Expenses:PaymentFees": ("6-1000", "Expense"),
}
TAX_CODE, REDUCED_CODE, ZERO_CODE = "S20", "R05", "ZER"


def _in_myob_terms(value: Any) -> Any:
    rates = {"selectedTaxRateId": TAX_CODE, "selectedDefaultZeroTaxRateId": ZERO_CODE}
    if isinstance(value, dict):
        return {k: rates.get(k) or _in_myob_terms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_myob_terms(v) for v in value]
    return CODES[value][0] if isinstance(value, str) and value in CODES else value


def myob_books(partner: Any, name: str, myob: MyobDouble) -> Merchant:
    """A demo café (invoice format, two days, GBP) booking into `myob`."""
    assert {a for a, *_ in DEMO_ACCOUNTS} == set(CODES)
    books = myob.books
    for account, label, _kind, _rate in DEMO_ACCOUNTS:
        display_id, classification = CODES[account]
        books.seed_account(display_id, label, classification)
    books.seed_account("1-1200", "Trade Debtors")
    books.seed_account("2-1200", "Trade Creditors", "Liability")
    books.seed_tax(TAX_CODE, "20", collected="2-1310", paid="2-1310")
    books.seed_tax(REDUCED_CODE, "5", collected="2-1310", paid="2-1310")
    books.seed_tax(ZERO_CODE, "0")
    books.seed_customer("CAFE", "Café till")
    books.seed_customer("BANK", "Card processor", path="Contact/Supplier")
    merchant = merchant_seed(partner, name, days=2, ledger=False)
    configuration = SyncConfiguration.objects.get(merchant=merchant)
    configuration.document = _in_myob_terms(configuration.document)
    rates = configuration.document["sales"]["taxRates"]
    assert set(rates) == {"20", "5"}  # the sandbox's two VAT rates, each its own code
    rates["5"] = {"selectedTaxRateId": REDUCED_CODE}
    configuration.save(update_fields=["document"])
    link_target(merchant, "myob", {"company_file": myob.company_file}, myob)
    return Merchant.objects.select_related("sync_configuration").get(pk=merchant.pk)


@pytest.mark.django_db(transaction=True)
def test_a_sync_books_each_day_once_into_myob_and_closes_its_invoices(
    partner: Any, settings: Any
) -> None:
    with MyobDouble() as myob:
        settings.MYOB_API_URL = myob.url
        settings.MYOB_CLIENT_ID = API_KEY
        merchant = myob_books(partner, "MYOB café", myob)
        expected = expected_documents(merchant, NOW)
        assert {d["type"] for d in expected.values()} >= {"invoice", "payment", "bill"}
        sync_exactly_once(merchant, expected, myob.keys_written)
        # The books: debtors and creditors settle, nothing is left owing.
        balances = myob.books.balances()
        assert balances.get("1-1200", Decimal(0)) == 0, balances
        assert balances.get("2-1200", Decimal(0)) == 0, balances
        assert sum(balances.values()) == 0
        invoices = myob.books.rows["Sale/Invoice/Service"]
        assert invoices and all(i["BalanceDueAmount"] == 0 for i in invoices), [
            (i["TotalAmount"], i["BalanceDueAmount"]) for i in invoices
        ]
        # The VAT the documents carry is on the tax code's account, to the penny.
        vat = sum(
            Decimal(line.get("taxAmount") or 0) * (-1 if d["type"] == "creditNote" else 1)
            for d in expected.values()
            if d["type"] in ("invoice", "creditNote")
            for line in d["lineItems"]
        )
        assert -balances.get("2-1310", Decimal(0)) == vat
        # Each document is dated on its business day.
        days = {d["date"] for d in expected.values()}
        assert {i["Date"][:10] for i in invoices} <= days
        writes = [r for r in myob.requests if r[0] == "POST"]
        assert rerun(merchant) is None or myob.keys_written() == once(expected)
        assert [r for r in myob.requests if r[0] == "POST"] == writes
        assert myob.violations == []


@pytest.mark.django_db(transaction=True)
def test_an_edited_past_order_adds_only_the_difference_in_myob(
    partner: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order of the 7th synced at 10.00 + 2.00 VAT, then edited to
    15.00 + 3.00: the next run writes the adjustment alone (the 7th's
    documents stay as they are, none written twice), and MYOB ends with the
    order's new amounts, its invoices closed."""
    with MyobDouble() as myob:
        settings.MYOB_API_URL = myob.url
        settings.MYOB_CLIENT_ID = API_KEY
        merchant = myob_books(partner, "MYOB café edited", myob)
        source = sync_an_order_of_the_7th(merchant, monkeypatch)
        written = dict(myob.keys_written())
        before = myob.books.balances()
        edit_it_and_sync_the_8th(merchant, source, monkeypatch)
        now_written = myob.keys_written()
        assert all(now_written[k] == 1 for k in now_written), now_written
        assert {k: now_written[k] for k in written} == written  # the 7th's untouched
        new = set(now_written) - set(written)
        assert new and all("adjust" in k or ":2026-11-08:" in k for k in new), new
        after = myob.books.balances()
        moved = {k: after.get(k, Decimal(0)) - before.get(k, Decimal(0)) for k in after}
        assert {k: v for k, v in moved.items() if v} == {
            "1-1110": Decimal("6.00"),  # card clearing: 18.00 now, 12.00 then
            "4-1030": Decimal("-5.00"),
            "2-1310": Decimal("-1.00"),
        }, moved
        invoices = myob.books.rows["Sale/Invoice/Service"]
        assert all(i["BalanceDueAmount"] == 0 for i in invoices)
        assert myob.violations == []
