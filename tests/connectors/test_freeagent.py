"""The FreeAgent connector against its contract double; every request is
checked against FreeAgent's own Postman collection (the strict harness
fails a test at teardown on any violation)."""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from commerce_sync.core.models import Connection, PushItem, SyncRun
from commerce_sync.core.services.connections import connection_create, connection_target
from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from commerce_sync.syncs.runs import sync_run_execute
from connectors.freeagent import translate
from connectors.freeagent.adapter import FreeAgentTarget
from connectors.freeagent.client import FreeAgentClient
from mapping.preview import preview
from tests.connectors.test_xero import scenario_merchant
from tests.doubles.freeagent_double import (
    CREDITORS,
    DEBTORS,
    FreeAgentBooks,
    FreeAgentDouble,
    PostmanContract,
)
from tests.doubles.strict import Request

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
CUSTOMER, SUPPLIER = "11", "12"
# The scenarios' tax rate ids (Xero's) as FreeAgent takes them.
TAX_IDS = {"OUTPUT2": "20", "ZERORATEDOUTPUT": "0", "NONE": "OUT_OF_SCOPE"}
TRANSIT = "690"  # the category journal lines on bank accounts pass through


class FixedTokens:
    """The double's first access token, never refreshed."""

    def __init__(self) -> None:
        self.token = "fa-access-0"

    def access_token(self) -> str:
        return self.token

    def refresh_now(self, *, rejected: str) -> str:
        return self.token


def freeagent_scenario(name: str) -> tuple[dict[str, Any], set[str]]:
    """A shared scenario as a FreeAgent merchant would configure it: its
    payment clearing and payout accounts are bank accounts ("bank:<code>")
    in the invoice format (explanations need one), only the payout account
    in the journal format (journal sets post to categories); its tax rate
    ids are FreeAgent's; its contacts the double's. Also the bank codes."""
    scenario = json.loads((SCENARIOS / name).read_text(), parse_float=Decimal)
    config = scenario["configuration"]
    config["sales"]["salesCustomer"] = {"selectedCustomerId": CUSTOMER}
    config["fees"]["feesSupplier"] = {"selectedSupplierId": SUPPLIER}
    invoice = "invoice" in scenario["expected"]
    payment_accounts = config.get("payments", {}).get("accounts", {})
    banks = {
        ref["selectedAccountId"]
        for kind, ref in payment_accounts.items()
        if kind != "prepaidPayment" and (invoice or kind == "payout")
    }
    text = json.dumps(scenario, default=str)
    for code in banks:
        text = text.replace(f'"selectedAccountId": "{code}"', f'"selectedAccountId": "bank:{code}"')
    for ours, theirs in TAX_IDS.items():
        text = text.replace(f'"{ours}"', f'"{theirs}"')
    return json.loads(text, parse_float=Decimal), banks


def scenario_documents(
    name: str,
) -> tuple[list[dict[str, Any]], dict[str, str], FreeAgentBooks]:
    """The documents of `freeagent_scenario(name)`, its expected balances in
    the same ids, and a company holding every account the documents use."""
    scenario, banks = freeagent_scenario(name)
    result = preview(scenario)
    assert not result.errors, result.errors
    documents = json.loads(json.dumps([d.as_json() for d in result.documents]))
    books = company_for(documents, banks)
    books.currency = scenario["currency"]  # the merchant's company keeps its currency
    return documents, expected_balances(scenario, banks), books


def expected_balances(scenario: dict[str, Any], banks: set[str]) -> dict[str, str]:
    expected_raw = scenario["expected"]
    if "invoice" in expected_raw:
        raw = expected_raw["invoice"]["balances"]
    else:
        raw = defaultdict(Decimal)
        for group in expected_raw["journal"]["groups"]:
            for account, amount in group["balances"].items():
                raw[account] += Decimal(amount)
    expected = {}
    for account, amount in raw.items():
        account = f"bank:{account}" if account in banks else account
        if account.startswith("TAX:"):
            account = "TAX:" + TAX_IDS.get(account[4:], account[4:])
        if Decimal(amount):
            expected[account] = str(amount)
    return expected


def company_for(documents: list[dict[str, Any]], banks: set[str]) -> FreeAgentBooks:
    codes: set[str] = set()
    for doc in documents:
        for line in doc.get("journalLines", []) + doc.get("lineItems", []):
            codes.add(line["accountRef"]["id"])
        codes |= {
            doc[k]["id"] for k in ("accountRef", "fromAccountRef", "toAccountRef") if k in doc
        }
    return FreeAgentBooks(
        categories={c: {"description": c} for c in codes if not c.startswith("bank:")}
        | {TRANSIT: {"description": "Transit"}},
        bank_accounts={b: {"name": f"Bank {b}", "status": "active"} for b in banks},
        contacts={
            CUSTOMER: {"organisation_name": "POS sales", "status": "Active"},
            SUPPLIER: {"organisation_name": "Card processor", "status": "Active"},
        },
    )


def assert_books_match(double: FreeAgentDouble, expected: dict[str, str]) -> None:
    balances = double.books.nonzero_balances()
    assert balances.pop(DEBTORS, Decimal(0)) == 0
    assert balances.pop(CREDITORS, Decimal(0)) == 0
    assert balances == {k: Decimal(v) for k, v in expected.items()}


def target_for(double: FreeAgentDouble) -> FreeAgentTarget:
    return FreeAgentTarget(client_for(double), transit_category=TRANSIT)


def client_for(double: FreeAgentDouble, **kwargs: Any) -> FreeAgentClient:
    kwargs.setdefault("sleep", lambda _: None)
    return FreeAgentClient(
        api_url=double.api_url, tokens=FixedTokens(), user_agent="CommerceSync-tests", **kwargs
    )


def uk_company() -> FreeAgentBooks:
    return FreeAgentBooks(
        categories={
            "001": {"description": "Sales"},
            "250": {"description": "Bank charges"},
            "650": {"description": "Gift cards"},
            "901": {"description": "Capital introduced"},
        },
        bank_accounts={"1": {"name": "Current account", "status": "active"}},
        contacts={
            CUSTOMER: {"organisation_name": "POS sales", "status": "Active"},
            SUPPLIER: {"first_name": "Card", "last_name": "Processor", "status": "Hidden"},
        },
    )


@pytest.fixture
def double() -> Iterator[FreeAgentDouble]:
    with FreeAgentDouble(uk_company()) as server:
        yield server


@pytest.fixture
def target(double: FreeAgentDouble) -> FreeAgentTarget:
    return FreeAgentTarget(client_for(double))  # no transit category


# -- every shared scenario ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.json")))
def test_every_shared_scenario_lands_with_its_expected_balances(name: str) -> None:
    documents, expected, books = scenario_documents(name)
    with FreeAgentDouble(books) as double:
        target = target_for(double)
        assert target.check_references(documents) == []
        results = target.write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        assert_books_match(double, expected)
        # Each document is found again by its key, by a fresh adapter too.
        fresh = target_for(double)
        assert {k: fresh.find_document(key=k) for k in results} == results
        # A second run writes nothing.
        writes = double.writes
        again = target_for(double).write_documents([(d["key"], d) for d in documents])
        assert again == results and double.writes == writes
        assert_books_match(double, expected)
    assert double.violations == []


def test_money_freeagent_would_book_as_native_is_refused_in_another_currency() -> None:
    """Journal sets and bank explanations carry no currency in FreeAgent
    (they are in the company's own, or the bank account's): a EUR journal
    day written as is would land as that many pounds. It is named before
    writing and refused with no call; invoices, credit notes and bills carry
    their currency (FreeAgent converts them) and still go in."""
    documents, _, books = scenario_documents("uk-cafe-invoice.json")
    journals, _, journal_books = scenario_documents("uk-cafe-journal.json")
    books.categories.update(journal_books.categories)

    def euro(document: dict[str, Any]) -> dict[str, Any]:
        moved = json.loads(json.dumps(document))
        moved["currency"] = moved["group"]["currency"] = "EUR"
        moved["key"] += ":eur"
        return moved

    journal = euro(journals[0])
    invoice = euro(next(d for d in documents if d["type"] == "invoice"))
    card = euro(next(d for d in documents if d["key"].endswith("payment:Card:sale")))
    with FreeAgentDouble(books) as double:
        target = target_for(double)
        assert target.check_references([journals[0]]) == []
        problems = target.check_references([journal, invoice, card])
        assert problems == [
            "FreeAgent keeps journals and bank transactions in GBP: the day's EUR journal "
            "entry, payment cannot be written (they would be booked as GBP); nothing in EUR "
            "of those kinds was written"
        ]
        results = target.write_documents([(d["key"], d) for d in (invoice, journal, card)])
        assert isinstance(results[invoice["key"]], str)
        [written] = double.written("invoices")
        assert written["currency"] == "EUR"
        for refused in (journal, card):
            outcome = results[refused["key"]]
            assert isinstance(outcome, DocumentRejected) and "booked as GBP" in outcome.message
        assert double.written("journal_sets") == []
        assert double.written("bank_transaction_explanations") == []
    assert double.violations == []


def test_invoices_are_sent_credit_notes_reconciled_and_payments_linked() -> None:
    documents, _, books = scenario_documents("uk-cafe-invoice.json")
    with FreeAgentDouble(books) as double:
        target = target_for(double)
        results = target.write_documents([(d["key"], d) for d in documents])
        [invoice] = double.written("invoices")
        [note] = double.written("credit_notes")
        assert invoice["status"] == note["status"] == "Open"
        assert invoice["comments"].endswith(f"[{documents[0]['key']}]")
        # Every movement on a bank account explains it; the gift-card
        # payment (a category) is a journal set against the debtors.
        explanations = double.written("bank_transaction_explanations")
        paid = [e for e in explanations if e.get("paid_invoice") == invoice["url"]]
        assert sum(Decimal(e["gross_value"]) for e in paid) == Decimal("92.20")
        refunds = [e for e in explanations if e.get("paid_invoice") == note["url"]]
        assert [e["gross_value"] for e in refunds] == ["-3.30"]
        [journal] = double.written("journal_sets")
        assert journal["tag"] == translate.TAG
        assert {e["debit_value"] for e in journal["journal_entries"]} == {"8.40", "-8.40"}
        assert Decimal(invoice["paid_value"]) == Decimal("92.20")
        assert len(results) == len(documents)
    assert double.violations == []


# -- reads and creates for the setup flow -----------------------------------------------


def test_setup_reads_and_creates(target: FreeAgentTarget, double: FreeAgentDouble) -> None:
    accounts = {a.id: a for a in target.list_accounts()}
    assert accounts["001"].type == "Income"
    assert accounts["250"].type == "Expense"
    assert accounts["650"].type == "Asset"
    assert accounts["901"].type == "Equity"
    assert accounts["bank:1"].type == "Asset" and accounts["bank:1"].name == "Current account"
    assert [r.id for r in target.list_tax_rates()] == ["20", "5", "0", "EXEMPT", "OUT_OF_SCOPE"]
    contacts = {c["id"]: c for c in target.list_contacts()}
    assert contacts[SUPPLIER] == {"id": SUPPLIER, "name": "Card Processor", "status": "Archived"}
    assert target.base_currency() == "GBP" and target.list_currencies() == ["GBP"]
    assert target.list_projects() == []
    created = target.create_account(account_id="002", name="Online sales", account_type="Income")
    assert created.id == "002" and double.books.categories["002"]["description"] == "Online sales"
    with pytest.raises(DocumentRejected, match="already been taken"):
        target.create_account(account_id="002", name="Again", account_type="Income")
    bank = target.create_bank_account(name="Card clearing")
    assert bank.id.startswith("bank:") and bank.id[5:] in double.books.bank_accounts
    customer = target.create_contact(name="Online shop")
    assert target.create_contact(name="Online shop") == customer  # found, not made twice
    assert double.books.contacts[customer]["organisation_name"] == "Online shop"
    # Every call carries the User-Agent and the bearer token, and asks for JSON.
    assert {h["User-Agent"] for _, _, h in double.requests} == {"CommerceSync-tests"}
    assert {h["Accept"] for _, _, h in double.requests} == {"application/json"}


def test_lists_are_read_page_by_page(target: FreeAgentTarget, double: FreeAgentDouble) -> None:
    for n in range(230):
        double.books.contacts[str(1000 + n)] = {"organisation_name": f"C{n}", "status": "Active"}
    assert len(target.list_contacts()) == 232
    pages = [p for m, p, _ in double.requests if p == "/v2/contacts"]
    assert len(pages) == 3


# -- the check before writing ---------------------------------------------------------------


def _journal(lines: list[tuple[str, str]], date: str = "2026-11-02") -> dict[str, Any]:
    return {
        "type": "journalEntry",
        "currency": "GBP",
        "date": date,
        "description": "Daily sales",
        "journalLines": [
            {"accountRef": {"id": a}, "netAmount": v, "description": a} for a, v in lines
        ],
    }


def test_check_references_names_what_would_fail(target: FreeAgentTarget) -> None:
    invoice = {
        "type": "invoice",
        "currency": "GBP",
        "date": "2026-11-02",
        "customerRef": {"id": SUPPLIER},
        "lineItems": [
            {
                "accountRef": {"id": "001"},
                "taxRateRef": {"id": "20"},
                "description": "Sales 20%",
                "subTotal": "39.51",
                "taxAmount": "7.91",
            },
            {
                "accountRef": {"id": "009"},
                "taxRateRef": {"id": "OUTPUT2"},
                "subTotal": "1.00",
                "taxAmount": "0.00",
            },
            {
                "accountRef": {"id": "001"},
                "taxRateRef": {"id": "EXEMPT"},
                "description": "Exempt sales",
                "subTotal": "5.00",
                "taxAmount": "0.50",
            },
        ],
    }
    problems = target.check_references(
        [invoice, _journal([("bank:1", "1.00"), ("bank:7", "-1.00")])]
    )
    assert problems == [
        # A penny off FreeAgent's working (7.90) is carried, not refused; tax
        # on a line whose rate takes none cannot be.
        "The invoice line 'Exempt sales' of 2026-11-02 carries tax of 0.50 but its tax "
        "rate EXEMPT takes no tax in FreeAgent; map it to a FreeAgent rate such as 20",
        "Account bank:1 is a FreeAgent bank account; a journal reaches it through a transit "
        "category, and this connection names none (transit_category)",
        "Account bank:7 is a FreeAgent bank account; a journal reaches it through a transit "
        "category, and this connection names none (transit_category)",
        "Tax rate OUTPUT2 is not a FreeAgent rate (a percentage such as 20, EXEMPT or OUT_OF_SCOPE)",
        "Category 009 does not exist in FreeAgent",
        "Bank account bank:7 does not exist in FreeAgent",
        "Contact Card Processor (12) is hidden in FreeAgent",
    ]
    assert target.check_references([_journal([("001", "-1.00"), ("901", "1.00")])]) == []


def test_a_refused_document_fails_alone_in_plain_words(
    target: FreeAgentTarget, double: FreeAgentDouble
) -> None:
    good = _journal([("001", "-5.00"), ("901", "5.00")])
    bad = _journal([("001", "-5.00"), ("999", "5.00")])
    results = target.write_documents([("k:2026-11-02:good", good), ("k:2026-11-02:bad", bad)])
    assert isinstance(results["k:2026-11-02:good"], str)
    error = results["k:2026-11-02:bad"]
    assert isinstance(error, DocumentRejected)
    assert "Category" in error.message and "999 not found" in error.message
    assert double.books.nonzero_balances() == {"001": Decimal("-5.00"), "901": Decimal("5.00")}


# -- tax to the penny ---------------------------------------------------------------------------


def _sales(kind: str, key: str, date: str, lines: list[tuple[str, str, str]]) -> dict[str, Any]:
    """An invoice or credit note as the preview makes it: one line per rate
    (description, subTotal, taxAmount; all at 20 % on category 001)."""
    return {
        "type": kind,
        "key": key,
        "currency": "GBP",
        "date": date,
        "description": f"Daily sales {date}",
        "customerRef": {"id": CUSTOMER},
        "status": "Submitted",
        "lineItems": [
            {
                "accountRef": {"id": "001"},
                "taxRateRef": {"id": "20"},
                "description": text,
                "subTotal": net,
                "taxAmount": tax,
                "totalAmount": str(Decimal(net) + Decimal(tax)),
            }
            for text, net, tax in lines
        ],
    }


def test_a_day_whose_till_rounds_vat_per_sale_posts_to_the_penny(
    target: FreeAgentTarget, double: FreeAgentDouble
) -> None:
    """Worked by hand. Three sales of 0.99 including 20 % VAT: the till
    rounds each sale's VAT (0.99 / 6 = 0.165 -> 0.17), so the day's sales
    line is net 2.46, VAT 0.51, gross 2.97. FreeAgent works out 20 % of
    2.46 = 0.492 -> 0.49 and takes no VAT amount on an item: 0.02 apart.
    One of them refunded: net 0.82, VAT 0.17, where FreeAgent makes 0.164
    -> 0.16. FreeAgent must still hold the till's VAT, net and totals."""
    invoice = _sales(
        "invoice", "m:2026-11-02:invoice", "2026-11-02", [("Sales 20%", "2.46", "0.51")]
    )
    note = _sales(
        "creditNote", "m:2026-11-02:creditNote", "2026-11-02", [("Refunds 20%", "0.82", "0.17")]
    )
    assert target.check_references([invoice, note]) == []
    results = target.write_documents([(invoice["key"], invoice), (note["key"], note)])
    assert all(isinstance(v, str) for v in results.values()), results
    [held] = double.written("invoices")
    assert (held["net_value"], held["sales_tax_value"], held["total_value"]) == (
        "2.46",
        "0.51",
        "2.97",
    )
    [credit] = double.written("credit_notes")
    assert (credit["net_value"], credit["sales_tax_value"], credit["total_value"]) == (
        "-0.82",
        "-0.17",
        "-0.99",
    )
    # The gap is carried by a labelled pair: 0.10 at 20 % (VAT 0.02) taken
    # back by -0.10 exempt, both on the sales category.
    pair = [i for i in held["invoice_items"] if i["description"].startswith("VAT rounding")]
    assert [(i["price"], i.get("sales_tax_rate"), i.get("sales_tax_status")) for i in pair] == [
        ("0.10", "20", None),
        ("-0.10", None, "EXEMPT"),
    ]
    assert "by 0.02" in pair[0]["description"]
    credit_pair = [i["price"] for i in credit["credit_note_items"][1:]]
    assert credit_pair == ["-0.05", "0.05"]  # VAT -0.01 more, net unchanged
    assert double.books.nonzero_balances() == {
        "001": Decimal("-1.64"),  # 2.46 - 0.82
        "TAX:20": Decimal("-0.34"),  # 0.51 - 0.17
        DEBTORS: Decimal("1.98"),  # 2.97 - 0.99
    }
    # A run again writes nothing.
    writes = double.writes
    assert (
        FreeAgentTarget(client_for(double)).write_documents(
            [(invoice["key"], invoice), (note["key"], note)]
        )
        == results
    )
    assert double.writes == writes
    assert double.violations == []


def test_a_bill_carries_the_source_vat_where_freeagent_would_work_out_another(
    target: FreeAgentTarget, double: FreeAgentDouble
) -> None:
    """FreeAgent works a bill's VAT out of its gross: 2.97 at 20 % holds
    0.495 -> 0.50, but the fees were charged with 0.51 (three of 0.99,
    each rounded). The bill takes the 0.51 as its manual amount."""
    double.books.contacts[SUPPLIER]["status"] = "Active"
    bill = {
        "type": "bill",
        "key": "m:2026-11-02:bill",
        "currency": "GBP",
        "date": "2026-11-02",
        "description": "Payment fees",
        "supplierRef": {"id": SUPPLIER},
        "lineItems": [
            {
                "accountRef": {"id": "250"},
                "taxRateRef": {"id": "20"},
                "description": "Fees",
                "subTotal": "2.46",
                "taxAmount": "0.51",
                "totalAmount": "2.97",
            }
        ],
    }
    assert target.check_references([bill]) == []
    result = target.write_documents([(bill["key"], bill)])[bill["key"]]
    assert isinstance(result, str), result
    [held] = double.written("bills")
    assert held["manual_sales_tax_amount"] == "0.51" and "sales_tax_rate" not in held
    assert double.books.balances["250"] == Decimal("2.46")
    assert double.books.balances["TAX:manual"] == Decimal("0.51")
    assert double.books.balances[CREDITORS] == Decimal("-2.97")
    # Where FreeAgent's working agrees, the bill takes the rate.
    bill2 = {**bill, "key": "m:2026-11-03:bill", "date": "2026-11-03"}
    bill2["lineItems"] = [
        {**bill["lineItems"][0], "subTotal": "2.50", "taxAmount": "0.50", "totalAmount": "3.00"}
    ]
    assert isinstance(target.write_documents([(bill2["key"], bill2)])[bill2["key"]], str)
    assert double.written("bills")[1]["sales_tax_rate"] == "20"
    assert double.violations == []


def test_a_fee_refund_takes_no_vat_even_where_its_category_defaults_to_20_percent() -> None:
    """FreeAgent applies a category's own rate to an explanation or bill
    that names none. The café's fee category defaults to 20 % here: the fee
    refund (a deposit, explained on the card clearing account) and the fees
    bill must still post untaxed, as the source has them, so the day's
    books are the scenario's."""
    documents, expected, books = scenario_documents("uk-cafe-invoice.json")
    books.categories["6100"]["auto_sales_tax_rate"] = "20"
    with FreeAgentDouble(books) as double:
        results = target_for(double).write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        assert_books_match(double, expected)
        [refund] = [
            e
            for e in double.written("bank_transaction_explanations")
            if e.get("category", "").endswith("/6100")
        ]
        assert refund["sales_tax_status"] == "OUT_OF_SCOPE"
    assert double.violations == []


def test_the_double_works_tax_out_as_freeagent_and_takes_no_item_tax(
    double: FreeAgentDouble,
) -> None:
    """An invoice item takes a rate, not a VAT amount: an item carrying one
    is refused, and the double rounds each item as FreeAgent does."""
    client = client_for(double)
    item = {
        "description": "Sales",
        "quantity": "3.0",
        "price": "0.82",
        "category": double.url("categories", "001"),
        "sales_tax_rate": "20",
    }
    body = {
        "invoice": {
            "contact": double.url("contacts", CUSTOMER),
            "dated_on": "2026-11-02",
            "payment_terms_in_days": 0,
            "invoice_items": [item | {"sales_tax_value": "0.51"}],
        }
    }
    with pytest.raises(DocumentRejected, match="sales_tax_value is not a field FreeAgent takes"):
        client.request("POST", "/invoices", body=body)
    body["invoice"]["invoice_items"] = [item, item]
    held = client.request("POST", "/invoices", body=body)["invoice"]
    assert (held["net_value"], held["sales_tax_value"]) == ("4.92", "0.98")  # 2 x (2.46 -> 0.49)
    double.violations.clear()  # the refusal above was the point


def penny_day() -> tuple[dict[str, Any], list[dict[str, Any]], FreeAgentBooks]:
    """The UK café's configuration with a day of three card sales of one
    0.99 item each (net 0.82 + VAT 0.17 as the till rounds each sale), its
    documents (the mapping makes one Sales 20% line: 2.46 + 0.51) and a
    company holding their accounts."""
    scenario, banks = freeagent_scenario("uk-cafe-invoice.json")
    orders = []
    for n in range(3):
        at = f"2026-11-02T1{n}:00:00Z"
        orders.append(
            {
                "id": f"O-{n}",
                "orderNumber": f"O-{n}",
                "country": "GB",
                "currency": "GBP",
                "createdDate": at,
                "modifiedDate": at,
                "closedDate": at,
                "totalAmount": Decimal("0.99"),
                "totalTaxAmount": Decimal("0.17"),
                "totalDiscount": Decimal(0),
                "totalGratuity": Decimal(0),
                "totalRefund": Decimal(0),
                "orderLineItems": [
                    {
                        "id": "L1",
                        "productRef": {"id": "chocolate"},
                        "quantity": 1,
                        "unitPrice": Decimal("0.82"),
                        "taxPercentage": 20,
                        "totalTaxAmount": Decimal("0.17"),
                        "totalAmount": Decimal("0.99"),
                    }
                ],
                "serviceCharges": [],
                "payments": [
                    {
                        "id": f"O-{n}-P1",
                        "type": "Card",
                        "amount": Decimal("0.99"),
                        "currency": "GBP",
                        "status": "Paid",
                    }
                ],
            }
        )
    scenario["commerce"] = {key: [] for key in scenario["commerce"]} | {"orders": orders}
    result = preview(scenario)
    assert not result.errors, result.errors
    documents = json.loads(json.dumps([d.as_json() for d in result.documents]))
    return scenario, documents, company_for(documents, banks)


def test_a_sync_run_of_a_day_whose_till_rounds_vat_per_sale_books_it_to_the_penny(
    partner: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merchant's path: orders -> mapping -> sync run -> FreeAgent. The
    day's invoice holds the till's VAT (0.51, not FreeAgent's 0.49), the
    card payment of 2.97 settles it in full, and the books are the day's."""
    scenario, documents, books = penny_day()
    [line] = documents[0]["lineItems"]
    assert (line["subTotal"], line["taxAmount"]) == ("2.46", "0.51")

    def connect(merchant: Any) -> None:
        ledger = freeagent_connection(merchant)
        ledger.settings = {"transit_category": TRANSIT}
        ledger.save(update_fields=["settings"])

    with FreeAgentDouble(books) as double:
        settings.FREEAGENT_API_URL = double.api_url
        merchant = scenario_merchant(partner, scenario, monkeypatch, connect)
        run = sync_run_execute(
            merchant=merchant,
            first=date(2026, 11, 2),
            until=date(2026, 11, 3),
            now=datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        )
        assert run.status == SyncRun.Status.SUCCEEDED, run.messages
        [invoice] = double.written("invoices")
        assert (invoice["sales_tax_value"], invoice["total_value"]) == ("0.51", "2.97")
        assert invoice["paid_value"] == invoice["total_value"]
        assert double.books.nonzero_balances() == {
            "4000": Decimal("-2.46"),
            "TAX:20": Decimal("-0.51"),
            "bank:1100": Decimal("2.97"),
        }
    assert double.violations == []


# -- a day long past, run again ------------------------------------------------------------------


def test_a_day_long_past_run_again_finds_what_it_wrote_then() -> None:
    """FreeAgent lists invoices and credit notes by when they last changed
    (`updated_since`), not by their date. Two days 300 days old, written the
    morning after each (the double stamps them then), are re-run today as a
    backfill would: each is found, nothing is written twice, and invoices
    are listed once for the whole batch, not once per day."""
    first_day = (datetime.now(UTC) - timedelta(days=300)).date()
    clock = {"now": datetime.combine(first_day + timedelta(days=1), time(3), tzinfo=UTC)}
    items: list[tuple[str, dict[str, Any]]] = []
    with FreeAgentDouble(uk_company(), clock=lambda: clock["now"]) as double:
        for offset in (0, 1):
            day = str(first_day + timedelta(days=offset))
            invoice = _sales("invoice", f"m:{day}:invoice", day, [("Sales 20%", "10.00", "2.00")])
            note = _sales("creditNote", f"m:{day}:creditNote", day, [("Refunds", "1.00", "0.20")])
            payment = {
                "type": "payment",
                "key": f"m:{day}:payment",
                "currency": "GBP",
                "date": day,
                "description": "Card payments",
                "customerRef": {"id": CUSTOMER},
                "accountRef": {"id": "bank:1"},
                "totalAmount": "12.00",
                "links": [{"type": "Invoice", "id": invoice["key"], "amount": "12.00"}],
            }
            day_items = [(d["key"], d) for d in (invoice, note, payment)]
            written = FreeAgentTarget(client_for(double)).write_documents(day_items)
            assert all(isinstance(v, str) for v in written.values()), written
            items += day_items
            clock["now"] += timedelta(days=1)
        results = {
            key: FreeAgentTarget(client_for(double)).find_document(key=key) for key, _ in items
        }
        writes, balances = double.writes, double.books.nonzero_balances()
        clock["now"] = datetime.now(UTC)  # 300 days on
        # A fresh adapter finds each by its key (the engine's path after a crash) ...
        assert {k: FreeAgentTarget(client_for(double)).find_document(key=k) for k in results} == (
            results
        )
        # ... and a backfill of both days in one batch writes nothing.
        double.requests.clear()
        assert FreeAgentTarget(client_for(double)).write_documents(items) == results
        assert double.writes == writes and double.books.nonzero_balances() == balances
        listings = [p for m, p, _ in double.requests if m == "GET" and p == "/v2/invoices"]
        assert len(listings) == 1
        assert len(double.written("invoices")) == 2 and markers_once(double)
    assert double.violations == []


# -- faults, exactly once ---------------------------------------------------------------------


def test_a_lost_answer_is_found_and_not_written_again() -> None:
    """The answer to each write in turn is lost after FreeAgent made it: the
    run fails, the next finds what was made and writes the rest, once."""
    documents, expected, _ = scenario_documents("uk-cafe-invoice.json")
    items = [(d["key"], d) for d in documents]
    for lost in range(1, 13):
        with FreeAgentDouble(scenario_documents("uk-cafe-invoice.json")[2]) as double:
            double.lose_write = lost
            with pytest.raises(PlatformUnavailable):
                target_for(double).write_documents(items)
            assert double.writes == lost
            results = target_for(double).write_documents(items)
            assert all(isinstance(v, str) for v in results.values()), (lost, results)
            assert_books_match(double, expected)
            assert markers_once(double)
        assert double.violations == []


def markers_once(double: FreeAgentDouble) -> bool:
    """Whether every key marker FreeAgent holds is held by one resource only."""
    seen: list[str] = []
    for kind, rows in double.books.documents.items():
        if kind == "credit_note_reconciliations":
            continue
        for row in rows:
            text = row.get("description") or row.get("comments") or row.get("reference") or ""
            marker = re.search(r"\[[^\]]+\]$", str(text))
            seen.append(marker.group(0) if marker else str(text))
    return len(seen) == len(set(seen))


def test_a_fault_at_any_call_leaves_every_document_once_after_a_rerun() -> None:
    documents, expected, _ = scenario_documents("uk-cafe-invoice.json")
    items = [(d["key"], d) for d in documents]
    with FreeAgentDouble(scenario_documents("uk-cafe-invoice.json")[2]) as double:
        target_for(double).write_documents(items)
        calls = len(double.requests)
    for failing in range(1, calls + 1, 3):
        with FreeAgentDouble(scenario_documents("uk-cafe-invoice.json")[2]) as double:
            double.fail_request = failing
            with pytest.raises(PlatformUnavailable):
                target_for(double).write_documents(items)
            results = target_for(double).write_documents(items)
            assert all(isinstance(v, str) for v in results.values()), (failing, results)
            assert_books_match(double, expected)
            assert markers_once(double)
            # Drafts left by the failed run were sent by the rerun.
            assert {i["status"] for i in double.written("invoices")} == {"Open"}
        assert double.violations == []


def test_a_document_found_half_done_is_completed_not_rewritten() -> None:
    """The engine's path after a crash: find_document, then complete_document.
    An invoice made but never marked as sent, and a deposit of two lines of
    which one explanation was made, are finished with nothing written twice."""
    documents, _, books = scenario_documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    deposit = next(d for d in documents if d["type"] == "deposit")
    deposit["lineItems"].append({**deposit["lineItems"][0], "description": "Second refund"})
    deposit["totalAmount"] = "0.12"
    with FreeAgentDouble(books) as double:
        double.fail_request = 3  # list invoices, create the invoice, then the transition fails
        with pytest.raises(PlatformUnavailable):
            target_for(double).write_document(key=invoice["key"], document=invoice)
        double.lose_write = 2  # the deposit's second explanation: made, answer lost
        with pytest.raises(PlatformUnavailable):
            target_for(double).write_document(key=deposit["key"], document=deposit)
        double.lose_write = double.fail_request = 0
        for document in (invoice, deposit):
            fresh = target_for(double)
            found = fresh.find_document(key=document["key"])
            assert found is not None
            fresh.complete_document(key=document["key"], document=document, target_id=found)
        assert [i["status"] for i in double.written("invoices")] == ["Open"]
        assert len(double.written("bank_transaction_explanations")) == 2
        assert double.books.balances["bank:1100"] == Decimal("0.12")
        assert markers_once(double)
    assert double.violations == []


def test_errors_in_plain_words(target: FreeAgentTarget, double: FreeAgentDouble) -> None:
    double.fail_next(429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert limited.value.retry_after == 120
    double.fail_next(429, headers={"Retry-After": "0"})  # waited out at once
    assert target.list_accounts()
    double.fail_next(402)
    with pytest.raises(SubscriptionExpired):
        target.list_accounts()
    double.fail_next(403)
    with pytest.raises(CredentialsRevoked, match="full access"):
        target.list_accounts()
    double.fail_next(503)
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()
    # Errors of the connection end the whole batch; they are not one document's.
    double.fail_next(402)
    with pytest.raises(SubscriptionExpired):
        target.write_documents([("k:2026-11-02", _journal([("001", "-1.00"), ("901", "1.00")]))])
    assert double.writes == 0


# -- OAuth ------------------------------------------------------------------------------------


def freeagent_connection(merchant: Any, *, expires_in: int = 3600) -> Connection:
    return connection_create(
        merchant=merchant,
        platform_key="freeagent",
        source_type=Connection.SourceType.ACCOUNTING,
        credentials={
            "access_token": "fa-access-0",
            "refresh_token": "fa-refresh-0",
            "expires_at": (timezone.now() + timedelta(seconds=expires_in)).isoformat(),
        },
        settings={},
        status=Connection.Status.LINKED,
    )


@pytest.fixture
def linked(settings: Any, double: FreeAgentDouble) -> FreeAgentDouble:
    settings.FREEAGENT_API_URL = double.api_url
    settings.FREEAGENT_CLIENT_ID = "client-id"
    settings.FREEAGENT_CLIENT_SECRET = "client-secret"
    return double


def test_an_expired_token_is_refreshed_once_and_rotated(
    merchant: Any, linked: FreeAgentDouble, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = freeagent_connection(merchant, expires_in=-10)
    target = connection_target(connection=connection)
    assert isinstance(target, FreeAgentTarget)
    assert target.base_currency() == "GBP"
    assert linked.refreshes == 1
    connection.refresh_from_db()
    assert connection.credentials["refresh_token"] == "fa-refresh-1"
    # The token endpoint got the app's credentials and the User-Agent.
    [token_call] = [h for m, p, h in linked.requests if p.endswith("/token_endpoint")]
    assert token_call["Authorization"].startswith("Basic ")
    assert token_call["User-Agent"]
    assert "fa-access-1" not in caplog.text and "fa-refresh-1" not in caplog.text


def test_a_revoked_grant_is_credentials_revoked(merchant: Any, linked: FreeAgentDouble) -> None:
    linked.refresh_token = "something-else"  # the user removed the app in FreeAgent
    linked.access_token = "rotated-away"
    target = connection_target(connection=freeagent_connection(merchant))
    with pytest.raises(CredentialsRevoked):
        target.list_accounts()


def test_authorisation_url_and_hosts(settings: Any) -> None:
    from connectors.freeagent.oauth import freeagent_oauth_client

    settings.FREEAGENT_API_URL = "https://api.sandbox.freeagent.com/v2"
    settings.FREEAGENT_CLIENT_ID = "client-id"
    client = freeagent_oauth_client(connection_id="c1")
    request = client.authorization_request(redirect_uri="https://example.test/cb")
    assert request.url.startswith("https://api.sandbox.freeagent.com/v2/approve_app?")
    assert "code_challenge_method=S256" in request.url and f"state={request.state}" in request.url
    assert client.platform.token_url == "https://api.sandbox.freeagent.com/v2/token_endpoint"
    assert client.revoke("anything") is None  # FreeAgent has no revocation endpoint


# -- the double holds FreeAgent's collection against each request ------------------------------------


def test_the_contract_refuses_what_the_collection_does_not_make(double: FreeAgentDouble) -> None:
    contract = PostmanContract(double.api_url)

    def problems(method: str, path: str, body: Any = None, **query: str) -> list[str]:
        return contract.request_problems(
            Request(
                method,
                path,
                {k: [v] for k, v in query.items()},
                {"User-Agent": "x"},
                json.dumps(body).encode() if body is not None else b"",
            )
        )

    assert problems("GET", "/v2/invoices", view="all") == []
    assert problems("GET", "/v2/invoices", reference="x") == [
        "query parameter 'reference' is not one this request takes"
    ]
    assert problems("POST", "/v2/payments") == ["no such request in FreeAgent's collection"]
    url = f"{double.api_url}/categories/001"
    good = {
        "journal_set": {
            "dated_on": "2026-11-02",
            "journal_entries": [
                {"category": url, "debit_value": "1.00"},
                {"category": url, "debit_value": "-1.00"},
            ],
        }
    }
    assert problems("POST", "/v2/journal_sets", good) == []
    bad = {
        "journal_set": {
            "dated_on": "2/11/2026",
            "narration": "x",
            "journal_entries": [{"category": "001", "debit_value": 1.5}],
        }
    }
    assert problems("POST", "/v2/journal_sets", bad) == [
        "journal_set.dated_on must be a YYYY-MM-DD date",
        "journal_set.narration is not a field FreeAgent takes",
        "journal_set.journal_entries[].category must be a FreeAgent URL, not '001'",
        "journal_set.journal_entries[].debit_value must be money as a decimal string, "
        "not the Decimal",
    ]
    assert problems("POST", "/v2/invoices", {"bill": {}}) == [
        "body wraps 'bill', but this request takes ['invoice']"
    ]
    no_agent = contract.request_problems(Request("GET", "/v2/company", {}, {}, b""))
    assert no_agent == ["no User-Agent header (FreeAgent requires one)"]


def test_connect_command_links_freeagent_from_a_token_file(
    merchant: Any, linked: FreeAgentDouble, tmp_path: Path, capsys: Any
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"access_token": "old", "refresh_token": "fa-refresh-0"}))
    call_command(
        "connect", merchant=str(merchant.pk), platform="freeagent", tokens_from=str(tokens)
    )
    connection = Connection.objects.get(merchant=merchant, platform_key="freeagent")
    assert connection.status == Connection.Status.LINKED
    # The first call refreshes the token of unknown age, which proves the grant.
    assert connection_target(connection=connection).base_currency() == "GBP"
    assert linked.refreshes == 1
    assert "fa-refresh" not in capsys.readouterr().out


# -- a sync run end to end ----------------------------------------------------------------


def test_a_sync_run_books_the_day_once_even_when_an_answer_is_lost(
    partner: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, _ = freeagent_scenario("uk-cafe-invoice.json")
    documents, expected, books = scenario_documents("uk-cafe-invoice.json")

    def connect(merchant: Any) -> None:
        ledger = freeagent_connection(merchant)
        ledger.settings = {"transit_category": TRANSIT}
        ledger.save(update_fields=["settings"])

    with FreeAgentDouble(books) as double:
        settings.FREEAGENT_API_URL = double.api_url
        merchant = scenario_merchant(partner, scenario, monkeypatch, connect)
        double.lose_write = 2  # the second write is made; FreeAgent's answer is lost
        run = sync_run_execute(
            merchant=merchant,
            first=date(2026, 11, 2),
            until=date(2026, 11, 3),
            now=datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        )
        assert run.status == SyncRun.Status.SUCCEEDED, run.messages
        assert len(double.written("credit_notes")) == 1
        assert_books_match(double, expected)
        assert markers_once(double)
        # The gift-card redemption (category 2300) cannot mark its share of
        # the invoice paid in FreeAgent, unlike Xero: the run says so.
        [invoice] = double.written("invoices")
        assert Decimal(invoice["paid_value"]) == Decimal("92.20")  # of 100.60
        advice = [m["message"] for m in run.messages if m["code"] == "TargetAdvisory"]
        assert len(advice) == 1 and advice[0].startswith("Payments on category 2300 "), advice
        assert "stay open in FreeAgent" in advice[0]
        items = list(run.push_items.all())
        assert len(items) == len(documents)
        assert all(i.status == PushItem.Status.PUSHED and i.target_id for i in items)
    assert double.violations == []


def test_the_double_refuses_what_freeagent_refuses(double: FreeAgentDouble) -> None:
    """Its books stay right only if it refuses like FreeAgent: a draft
    invoice cannot be paid, a journal set must balance, a rate must be the
    company's; each refusal is FreeAgent's 422 in plain words."""
    client = client_for(double)
    url = double.url
    invoice = client.request(
        "POST",
        "/invoices",
        body={
            "invoice": {
                "contact": url("contacts", CUSTOMER),
                "dated_on": "2026-11-02",
                "payment_terms_in_days": 0,
                "invoice_items": [
                    {
                        "description": "Sales",
                        "quantity": "1.0",
                        "price": "10.00",
                        "category": url("categories", "001"),
                        "sales_tax_rate": "20",
                    }
                ],
            }
        },
    )["invoice"]
    payment = {
        "bank_transaction_explanation": {
            "bank_account": url("bank_accounts", "1"),
            "dated_on": "2026-11-02",
            "gross_value": "12.00",
            "paid_invoice": invoice["url"],
        }
    }
    with pytest.raises(DocumentRejected, match="draft invoice cannot be paid"):
        client.request("POST", "/bank_transaction_explanations", body=payment)
    entries = [
        {"category": url("categories", "001"), "debit_value": "-1.00"},
        {"category": url("categories", "901"), "debit_value": "2.00"},
    ]
    unbalanced = {"journal_set": {"dated_on": "2026-11-02", "journal_entries": entries}}
    with pytest.raises(DocumentRejected, match="must balance"):
        client.request("POST", "/journal_sets", body=unbalanced)
    invoice_id = client.id_of(invoice["url"])
    client.request("PUT", f"/invoices/{invoice_id}/transitions/mark_as_sent")
    client.request("POST", "/bank_transaction_explanations", body=payment)
    assert double.books.nonzero_balances() == {
        "001": Decimal("-10.00"),
        "TAX:20": Decimal("-2.00"),
        "bank:1": Decimal("12.00"),
    }
