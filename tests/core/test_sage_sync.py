"""The real sync service writing a café's days into the Sage Accounting
double: every document once when the business keeps its books in the
merchant's currency, and nothing at all, with both currencies named, when it
keeps them in another (Sage posts journals in the base currency only and
this connector writes base-currency documents only: a foreign amount is never
booked as a base-currency one)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from commerce_sync.core.models import Connection, Merchant, SyncConfiguration
from commerce_sync.core.services.demo import DEMO_ACCOUNTS
from commerce_sync.syncs.runs import sync_run_execute
from connectors.exact.translate import your_ref
from tests.core.target_sync import (
    edit_it_and_sync_the_8th,
    link_target,
    sync_an_order_of_the_7th,
    sync_exactly_once,
)
from tests.core.test_exactly_once import NOW, expected_documents, merchant_seed
from tests.doubles.sage_double import SageDouble

# The demo café's accounts as Sage nominal codes (digits), with the Sage
# ledger account type each is seeded with.
CODES = {
    "Assets:Clearing:Card": ("1010", "CURRENT_ASSETS"),
    "Assets:Clearing:OnlineCard": ("1020", "CURRENT_ASSETS"),
    "Assets:Cash:Till": ("1030", "CURRENT_ASSETS"),
    "Assets:Bank:Current": ("1200", "BANK"),
    "Liabilities:GiftCards": ("2110", "CURRENT_LIABILITY"),
    "Liabilities:Tips": ("2120", "CURRENT_LIABILITY"),
    "Liabilities:VAT:Output": ("2200", "CURRENT_LIABILITY"),
    "Income:Sales:Coffee": ("4000", "SALES"),
    "Income:Sales:Food": ("4010", "SALES"),
    "Income:Sales:Retail": ("4020", "SALES"),
    "Income:Sales:Other": ("4030", "SALES"),
    "Income:Sales:Delivery": ("4040", "SALES"),
    "Income:Sales:Refunds": ("4050", "SALES"),
    "Expenses:PaymentFees": ("7000", "OVERHEADS"),
}
TAX_RATE = "GB_STANDARD"
ZERO_RATE = "GB_ZERO"


def _in_sage_terms(value: Any) -> Any:
    """The configuration with the demo's account names as nominal codes and
    its VAT rates as Sage tax rate ids."""
    rates = {"selectedTaxRateId": TAX_RATE, "selectedDefaultZeroTaxRateId": ZERO_RATE}
    if isinstance(value, dict):
        return {k: rates.get(k) or _in_sage_terms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_sage_terms(v) for v in value]
    return CODES[value][0] if isinstance(value, str) and value in CODES else value


def sage_books(partner: Any, name: str, sage: SageDouble) -> Merchant:
    """A demo café (invoice format, two days, sales in GBP) whose books are
    the business of `sage`."""
    assert {a for a, *_ in DEMO_ACCOUNTS} == set(CODES)
    books = sage.books
    for account, label, _kind, _rate in DEMO_ACCOUNTS:
        code, kind = CODES[account]
        books.seed_account(code, label, kind)
    books.seed_bank("1200")
    books.seed_account("1100", "Debtors control", "CURRENT_ASSETS")
    books.seed_account("2100", "Creditors control", "CURRENT_LIABILITY")
    books.seed_tax(TAX_RATE, "20", ledger="2200")
    books.seed_tax(ZERO_RATE, "0", ledger="2200")
    books.seed_contact("CAFE", "Café till")
    books.seed_contact("BANK", "Card processor", "VENDOR")
    merchant = merchant_seed(partner, name, days=2, ledger=False)
    configuration = SyncConfiguration.objects.get(merchant=merchant)
    configuration.document = _in_sage_terms(configuration.document)
    configuration.save(update_fields=["document"])
    link_target(merchant, "sage", {"business_id": sage.business_id}, sage)
    return Merchant.objects.select_related("sync_configuration").get(pk=merchant.pk)


def _references(sage: SageDouble) -> Counter[str]:
    return Counter(
        str(r.get("reference"))
        for each in (
            "journals",
            "sales_invoices",
            "sales_credit_notes",
            "purchase_invoices",
            "contact_payments",
        )
        for r in sage.books.rows[each]
    )


@pytest.mark.django_db(transaction=True)
def test_a_sync_writes_each_day_once_into_a_gbp_business(partner: Any, settings: Any) -> None:
    with SageDouble(base_currency="GBP") as sage:
        settings.SAGE_API_URL = sage.url
        merchant = sage_books(partner, "Sage café", sage)
        expected = expected_documents(merchant, NOW)
        assert {d["type"] for d in expected.values()} >= {"invoice", "payment", "bill"}
        assert {d["currency"] for d in expected.values()} == {"GBP"}
        wanted = Counter({your_ref(k): 1 for k in expected})
        sync_exactly_once(merchant, expected, lambda: _references(sage), wanted)
        assert sage.violations == []


@pytest.mark.django_db(transaction=True)
def test_a_business_in_another_currency_refuses_the_day_before_writing(
    partner: Any, settings: Any
) -> None:
    with SageDouble(base_currency="EUR") as sage:
        settings.SAGE_API_URL = sage.url
        merchant = sage_books(partner, "Sage café abroad", sage)
        run = sync_run_execute(merchant=merchant, now=NOW)
        assert run is not None and run.status_code == 4000  # a configuration error
        words = "This Sage Accounting business keeps its books in EUR; GBP documents cannot"
        assert any(words in m["message"] for m in run.messages), run.messages
        assert [r for r in sage.requests if r[0] == "POST"] == []  # nothing half-posted
        assert sage.books.creates == {}
        assert sage.violations == []


@pytest.mark.django_db(transaction=True)
def test_a_business_whose_subscription_ended_keeps_its_connection(
    partner: Any, settings: Any
) -> None:
    """Sage answers 401 "No active subscription" for an ended trial or
    subscription: the run ends "Accounting subscription expired" and the
    connection stays linked (reconnecting would not help; renewing does)."""
    with SageDouble() as sage:
        settings.SAGE_API_URL = sage.url
        settings.SAGE_TOKEN_URL = f"{sage.origin}/token"
        settings.SAGE_CLIENT_ID, settings.SAGE_CLIENT_SECRET = sage.client
        merchant = sage_books(partner, "Sage café unpaid", sage)
        sage.subscription_ended = True
        run = sync_run_execute(merchant=merchant, now=NOW)
        assert run is not None and run.status_code == 4260, run and run.messages
        accounting = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
        assert accounting.status == Connection.Status.LINKED
        assert sage.books.creates == {}
        sage.subscription_ended = False  # renewed: the next run writes the days
        again = sync_run_execute(merchant=merchant, now=NOW)
        assert again is not None and again.status_code == 2000, again and again.messages
        assert sage.violations == []


def _outstanding(sage: SageDouble) -> dict[str, Any]:
    """Reference -> what Sage still shows owed, per sales invoice and credit note."""
    books = sage.books
    rows = books.rows["sales_invoices"] + books.rows["sales_credit_notes"]
    return {r["reference"]: books.outstanding(r) for r in rows}


@pytest.mark.django_db(transaction=True)
def test_payments_off_the_bank_leave_invoices_open_and_the_run_says_so(
    partner: Any, settings: Any
) -> None:
    """A Xero merchant's till invoices end the day paid. In Sage a payment
    into a ledger account that is not a bank account cannot be allocated
    (it is a journal on the debtors control account): the run must say so,
    naming the account, rather than leave every day's invoice outstanding
    on Sage's Aged Debtors without a word."""
    with SageDouble(base_currency="GBP") as sage:
        settings.SAGE_API_URL = sage.url
        merchant = sage_books(partner, "Sage café with clearing accounts", sage)
        run = sync_run_execute(merchant=merchant, now=NOW)
        assert run is not None and run.status_code == 2000, run and run.messages
        open_now = _outstanding(sage)
        assert open_now and all(amount > 0 for amount in open_now.values()), open_now
        advice = [m["message"] for m in run.messages if m["code"] == "TargetAdvisory"]
        assert advice and all(m.startswith("Payments to ledger account") for m in advice)
        named = " ".join(advice)
        for code in ("1010", "1030", "2110"):  # card and cash clearing, gift cards
            assert f"ledger account {code} (" in named, named
        assert "Aged Debtors" in named and "bank account" in named
        assert sage.violations == []


@pytest.mark.django_db(transaction=True)
def test_payments_into_bank_accounts_close_the_days_invoices_without_advice(
    partner: Any, settings: Any
) -> None:
    """The same café with its clearing accounts (and gift cards, as Sage
    would need) as Sage bank accounts: every invoice and credit note ends
    the run fully allocated, as a Xero merchant's, and nothing is advised."""
    with SageDouble(base_currency="GBP") as sage:
        settings.SAGE_API_URL = sage.url
        merchant = sage_books(partner, "Sage café banking its clearing", sage)
        for code in ("1010", "1020", "1030", "2110"):
            sage.books.seed_bank(code)
        run = sync_run_execute(merchant=merchant, now=NOW)
        assert run is not None and run.status_code == 2000, run and run.messages
        open_now = _outstanding(sage)
        assert open_now and set(open_now.values()) == {0}, open_now
        assert [m for m in run.messages if m["code"] == "TargetAdvisory"] == []
        assert sage.violations == []


@pytest.mark.django_db(transaction=True)
def test_an_edited_past_order_adds_only_the_difference_in_sage(
    partner: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order of the 7th synced at 10.00 + 2.00 VAT, then edited to
    15.00 + 3.00: the next run writes the adjustment alone, none of the
    7th's records twice, and Sage's books move by the difference only."""
    with SageDouble(base_currency="GBP") as sage:
        settings.SAGE_API_URL = sage.url
        merchant = sage_books(partner, "Sage café edited", sage)
        for code in ("1010", "1030"):  # clearing accounts as Sage bank accounts
            sage.books.seed_bank(code)
        source = sync_an_order_of_the_7th(merchant, monkeypatch)
        written = _references(sage)
        before = sage.books.balances()
        edit_it_and_sync_the_8th(merchant, source, monkeypatch)
        now_written = _references(sage)
        assert set(now_written.values()) == {1}, now_written
        assert {k: now_written[k] for k in written} == written
        after = sage.books.balances()
        moved = {k: after.get(k, Decimal(0)) - before.get(k, Decimal(0)) for k in after}
        assert {k: v for k, v in moved.items() if v} == {
            "1010": Decimal("6.00"),
            "4030": Decimal("-5.00"),
            "2200": Decimal("-1.00"),
        }, moved
        rows = sage.books.rows["sales_invoices"] + sage.books.rows["sales_credit_notes"]
        assert rows and all(sage.books.outstanding(r) == 0 for r in rows)
        assert sage.violations == []
