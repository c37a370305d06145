"""The real sync service writing a café's days, one document per location,
into the MYOB and Exact Online doubles with the location tracked as the
Locations page saves it: every invoice and journal of the location carries
its MYOB category, every line its Exact cost centre; each document once."""

from __future__ import annotations

from typing import Any

import pytest

from commerce_sync.core.models import Merchant, SyncConfiguration
from commerce_sync.core.services.demo import DEMO_ACCOUNTS
from tests.connectors.test_exact import _keys_in
from tests.core.target_sync import add_target_settings, link_target, sync_exactly_once
from tests.core.test_exact_sync import exact_books
from tests.core.test_exactly_once import NOW, expected_documents, merchant_seed
from tests.doubles.exact_double import ExactDouble
from tests.doubles.myob_double import MyobDouble

LOCATION = "MAIN"  # the sandbox café's one location ("Main street")
MYOB_CLASSES = {"Asset": "Asset", "Liability": "Liability", "Income": "Income",
                "Expense": "Expense"}  # fmt: skip


def _by_location(merchant: Merchant) -> Merchant:
    """One document per location, as the Locations page's tick saves it;
    the merchant read again (its configuration with it)."""
    config = SyncConfiguration.objects.get(merchant=merchant)
    document = dict(config.document)
    sales = document.setdefault("sales", {})
    sales.setdefault("grouping", {}).setdefault("groupingLevels", {})["invoiceLevel"] = {
        "selectedGroupByOptions": ["Location"]
    }
    config.document = document
    config.save(update_fields=["document"])
    return Merchant.objects.get(pk=merchant.pk)


@pytest.mark.django_db(transaction=True)
def test_each_exact_line_of_a_location_carries_its_cost_centre(partner: Any, settings: Any) -> None:
    with ExactDouble(division=330001) as exact:
        settings.EXACT_BASE_URL = exact.url
        merchant = exact_books(partner, "Exact located café", exact)
        exact.books.seed_cost_centre("100", "Main street")
        merchant = _by_location(merchant)
        add_target_settings(merchant, cost_centres={LOCATION: "100"})
        expected = expected_documents(merchant, NOW)
        located = {k for k, d in expected.items() if d["group"]["locationId"] == LOCATION}
        assert located and {d["type"] for k, d in expected.items() if k in located} >= {
            "invoice",
            "payment",
        }
        sync_exactly_once(merchant, expected, lambda: _keys_in(exact))
        # (key, cost centre) of every line written: the location's lines carry
        # its cost centre, the rest (fees, payouts: no location) none.
        lines = [
            (line["Notes"], line.get("CostCenter"))
            for entry in exact.books.rows["generaljournalentry/generaljournalentries"]
            for line in entry["GeneralJournalEntryLines"]
        ] + [
            (invoice["Remarks"], line.get("CostCenter"))
            for invoice in exact.books.rows["salesinvoice/salesinvoices"]
            for line in invoice["SalesInvoiceLines"]
        ]
        assert {k for k, _ in lines} == set(expected)
        assert {c for k, c in lines if k in located} == {"100"}
        assert {c for k, c in lines if k not in located} <= {None}
        assert exact.violations == []


def myob_books(partner: Any, name: str, myob: MyobDouble) -> Merchant:
    """A demo café (invoice format, two days) whose books are a MYOB company file."""
    books = myob.books
    books.receivable, books.payable = "1-1200", "2-1200"
    for code, label, kind, _rate in DEMO_ACCOUNTS:
        books.seed_account(code, label, MYOB_CLASSES[kind])
    books.seed_account("1-1200", "Trade debtors")
    books.seed_account("2-1200", "Trade creditors", "Liability")
    vat = "Liabilities:VAT:Output"
    books.seed_tax(vat, "20", collected=vat, paid=vat)
    books.seed_tax("VAT5", "5", collected=vat, paid=vat)
    books.seed_tax("ZERO", "0", collected=vat, paid=vat)
    books.seed_customer("CAFE", "Café till")
    merchant = merchant_seed(partner, name, days=2, ledger=False)
    config = SyncConfiguration.objects.get(merchant=merchant)
    document = dict(config.document)
    # MYOB works each line's tax out from its code's rate: each rate its own code.
    document["sales"]["taxRates"] = {"20": {"selectedTaxRateId": vat},
                                     "5": {"selectedTaxRateId": "VAT5"}}  # fmt: skip
    document["sales"]["newTaxRates"] = {"selectedDefaultZeroTaxRateId": "ZERO"}
    config.document = document
    config.save(update_fields=["document"])
    link_target(merchant, "myob", {"company_file": myob.company_file}, myob)
    return merchant


@pytest.mark.django_db(transaction=True)
def test_each_myob_invoice_and_journal_of_a_location_carries_its_category(
    partner: Any, settings: Any
) -> None:
    with MyobDouble() as myob:
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        merchant = myob_books(partner, "MYOB located café", myob)
        category = myob.books.seed_category("MAIN", "Main street")
        merchant = _by_location(merchant)
        add_target_settings(merchant, categories={LOCATION: category})
        expected = expected_documents(merchant, NOW)
        located = {k for k, d in expected.items() if d["group"]["locationId"] == LOCATION}
        assert located
        sync_exactly_once(merchant, expected, myob.keys_written)
        rows = myob.books.rows
        # (key, category) of every invoice and journal: the location's carry
        # its category, the rest (fees, payouts: no location) none.
        tracked = [(r["JournalMemo"], r.get("Category")) for r in rows["Sale/Invoice/Service"]]
        tracked += [(r["Memo"], r.get("Category")) for r in rows["GeneralLedger/GeneralJournal"]]
        invoices = {r["JournalMemo"] for r in rows["Sale/Invoice/Service"]}
        assert invoices and invoices <= located
        assert all(c == {"UID": category} for k, c in tracked if k in located), tracked
        assert all(c is None for k, c in tracked if k not in located), tracked
        # What MYOB books for them is under the category too.
        keys = {k for k, _ in tracked} & located
        assert {p.category for p in myob.books.postings if p.key in keys} == {"MAIN"}
        assert myob.violations == []
