"""The Beancount target against real ledger files (no Django, no database)."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commerce_sync.errors import DocumentRejected
from connectors.beancount import BeancountTarget
from connectors.protocols import AccountOption, TaxRateOption

D = Decimal
CASH, CARD, ONLINE, BANK = (
    "Assets:Cash",
    "Assets:Clearing:Card",
    "Assets:Clearing:Online",
    "Assets:Bank",
)
SALES, SERVICE, FEES = "Income:Sales", "Income:ServiceCharge", "Expenses:PaymentFees"
GRATUITY, GIFT_CARDS = "Liabilities:Gratuity", "Liabilities:GiftCards"
VAT, ZERO_VAT = "Liabilities:VAT:Output", "Liabilities:VAT:Zero"
RECEIVABLE, PAYABLE = "Assets:Receivable:CUST-POS", "Liabilities:Payable:SUPP-PROC"

ACCOUNTS = {
    CASH: "Asset",
    CARD: "Asset",
    ONLINE: "Asset",
    BANK: "Asset",
    SALES: "Income",
    SERVICE: "Income",
    FEES: "Expense",
    GRATUITY: "Liability",
    GIFT_CARDS: "Liability",
}


@pytest.fixture
def target(tmp_path: Path) -> BeancountTarget:
    book = BeancountTarget(ledger_path=tmp_path / "cafe.beancount", title="Café test")
    book.ensure_ledger()
    for account, kind in ACCOUNTS.items():
        book.create_account(account_id=account, name=account.rsplit(":")[-1], account_type=kind)
    book.create_account(account_id=VAT, name="VAT 20%", account_type="Liability", tax_rate="20")
    book.create_account(
        account_id=ZERO_VAT, name="Zero rated", account_type="Liability", tax_rate="0"
    )
    return book


# -- document builders in the scenarios README shapes -----------------------


def doc(doc_type: str, **fields: Any) -> dict[str, Any]:
    base = {"type": doc_type, "currency": "GBP", "date": "2026-11-01"}
    return {**base, "group": {"currency": "GBP", "locationId": None}, **fields}


def ref(account: str) -> dict[str, str]:
    return {"id": account}


def item(account: str, net: str, tax: str = "0.00", rate: str = "NONE") -> dict[str, Any]:
    return {
        "accountRef": ref(account),
        "taxRateRef": ref(rate),
        "subTotal": net,
        "taxAmount": tax,
        "totalAmount": str(D(net) + D(tax)),
        "sourceRefs": ["order-1"],
    }


def sales_doc(doc_type: str, total: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    tax = sum((D(x["taxAmount"]) for x in lines), D(0))
    return doc(
        doc_type,
        customerRef=ref("CUST-POS"),
        status="Submitted",
        lineItems=lines,
        subTotal=str(D(total) - tax),
        totalTaxAmount=str(tax),
        totalAmount=total,
    )


def payment(account: str, amount: str, customer: str = "CUST-POS") -> dict[str, Any]:
    return doc(
        "payment",
        accountRef=ref(account),
        paymentType="Card",
        customerRef=ref(customer),
        totalAmount=amount,
        links=[],
    )


def bill(lines: list[dict[str, Any]], total: str) -> dict[str, Any]:
    return doc("bill", supplierRef=ref("SUPP-PROC"), lineItems=lines, totalAmount=total)


def bill_payment(account: str, amount: str) -> dict[str, Any]:
    return doc(
        "billPayment", accountRef=ref(account), supplierRef=ref("SUPP-PROC"), totalAmount=amount
    )


def deposit(into: str, source: str, amount: str) -> dict[str, Any]:
    lines = [{"accountRef": ref(source), "totalAmount": amount}]
    return doc("deposit", accountRef=ref(into), lineItems=lines, totalAmount=amount)


def transfer(source: str, dest: str, amount: str) -> dict[str, Any]:
    return doc("transfer", fromAccountRef=ref(source), toAccountRef=ref(dest), amount=amount)


def moves(book: BeancountTarget) -> dict[str, Decimal]:
    """Non-zero GBP movement per account."""
    out = {acc: per.get("GBP", D(0)) for acc, per in book.balances().items()}
    return {acc: amount for acc, amount in out.items() if amount}


def bean_check(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "bean-check"
    return subprocess.run([str(exe), str(path)], capture_output=True, text=True, check=False)


INVOICE_LINES = [item(SALES, "10.00", "2.00", VAT), item(GRATUITY, "1.50")]

EFFECTS = {
    "invoice": (
        sales_doc("invoice", "13.50", INVOICE_LINES),
        {RECEIVABLE: D("13.50"), SALES: D("-10.00"), VAT: D("-2.00"), GRATUITY: D("-1.50")},
    ),
    "creditNote": (
        sales_doc("creditNote", "13.50", INVOICE_LINES),
        {RECEIVABLE: D("-13.50"), SALES: D("10.00"), VAT: D("2.00"), GRATUITY: D("1.50")},
    ),
    "payment in": (payment(CARD, "13.50"), {CARD: D("13.50"), RECEIVABLE: D("-13.50")}),
    "payment out": (payment(CARD, "-3.30"), {CARD: D("-3.30"), RECEIVABLE: D("3.30")}),
    "bill": (
        bill([item(FEES, "1.10", "0.22", VAT)], "1.32"),
        {FEES: D("1.10"), VAT: D("0.22"), PAYABLE: D("-1.32")},
    ),
    "billPayment": (bill_payment(CARD, "1.32"), {CARD: D("-1.32"), PAYABLE: D("1.32")}),
    "deposit": (deposit(CARD, FEES, "0.06"), {CARD: D("0.06"), FEES: D("-0.06")}),
    "transfer": (transfer(CARD, BANK, "30.00"), {CARD: D("-30.00"), BANK: D("30.00")}),
    "journalEntry": (
        doc(
            "journalEntry",
            date="2026-11-01T23:30:00",
            journalLines=[
                {"accountRef": ref(CARD), "netAmount": "12.00", "description": "Card"},
                {"accountRef": ref(SALES), "netAmount": "-10.00", "description": "Sales"},
                {"accountRef": ref(VAT), "netAmount": "-2.00", "description": "VAT"},
                {"accountRef": ref(CASH), "netAmount": "0.00", "description": "Nothing"},
            ],
        ),
        {CARD: D("12.00"), SALES: D("-10.00"), VAT: D("-2.00")},
    ),
}


@pytest.mark.parametrize("name", list(EFFECTS))
def test_each_document_type_moves_the_accounts_the_readme_names(
    target: BeancountTarget, name: str
) -> None:
    document, expected = EFFECTS[name]
    target_id = target.write_document(key=f"k-{name}", document=document)
    assert target_id
    assert moves(target) == expected
    assert target.find_document(key=f"k-{name}") == target_id
    text = target.ledger_path.read_text()
    assert f'push-key: "k-{name}"' in text
    assert f'doc-type: "{document["type"]}"' in text
    assert "2026-11-01 *" in text
    assert bean_check(target.ledger_path).returncode == 0


def cafe_day() -> list[dict[str, Any]]:
    """The documents of the UK café day (uk-cafe-invoice.json), on ledger accounts."""
    invoice = sales_doc(
        "invoice",
        "100.60",
        [
            item(SALES, "39.50", "7.90", VAT),
            item(SALES, "20.20", "0.00", "ZERORATEDOUTPUT"),
            item(SERVICE, "4.00", "0.80", VAT),
            item(GRATUITY, "3.20"),
            item(GIFT_CARDS, "25.00"),
        ],
    )
    credit = sales_doc("creditNote", "3.30", [item(SALES, "2.75", "0.55", VAT)])
    return [
        invoice,
        credit,
        payment(CARD, "46.70"),
        payment(CASH, "19.40"),
        payment(ONLINE, "22.80"),
        payment(GIFT_CARDS, "8.40"),
        bill([item(FEES, "1.32")], "1.32"),
        bill_payment(CARD, "0.86"),
        bill_payment(ONLINE, "0.46"),
        deposit(CARD, FEES, "0.06"),
        transfer(CARD, BANK, "30.00"),
    ]


def test_cafe_day_matches_the_scenario_and_nets_the_control_accounts(
    target: BeancountTarget,
) -> None:
    for n, document in enumerate(cafe_day()):
        target.write_document(key=f"cafe-{n}", document=document)
    assert moves(target) == {
        CASH: D("19.40"),
        CARD: D("15.90"),
        ONLINE: D("22.34"),
        BANK: D("30.00"),
        FEES: D("1.26"),
        SALES: D("-56.95"),
        SERVICE: D("-4.00"),
        GRATUITY: D("-3.20"),
        GIFT_CARDS: D("-16.60"),
        VAT: D("-8.15"),
    }
    balances = target.balances()
    assert balances[RECEIVABLE] == {"GBP": D("0.00")}
    assert balances[PAYABLE] == {"GBP": D("0.00")}
    check = bean_check(target.ledger_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_same_key_is_written_once(target: BeancountTarget) -> None:
    first = target.write_document(key="once", document=payment(CARD, "5.00"))
    before = target.ledger_path.read_bytes()
    # Even a different body under the same key must not be written again.
    again = target.write_document(key="once", document=payment(CASH, "7.00"))
    assert again == first
    assert target.ledger_path.read_bytes() == before
    assert before.decode().count('push-key: "once"') == 1
    assert moves(target) == {CARD: D("5.00"), RECEIVABLE: D("-5.00")}


def test_concurrent_writers_write_each_key_once(target: BeancountTarget) -> None:
    path = target.ledger_path
    workers, keys = 6, 6
    start = threading.Barrier(workers)

    def push(worker: int) -> dict[str, str]:
        book = BeancountTarget(ledger_path=path)  # own instance, own lock descriptor
        start.wait()
        ids = {}
        for n in range(keys):  # each worker walks the keys from a different place
            key = f"shared-{(n + worker) % keys}"
            ids[key] = book.write_document(key=key, document=payment(CARD, "1.00"))
        book.write_document(key=f"own-{worker}", document=payment(CASH, "2.00"))
        return ids

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(push, range(workers)))  # re-raises a worker's exception
    assert all(ids == results[0] for ids in results)
    assert moves(target) == {CARD: D("6.00"), CASH: D("12.00"), RECEIVABLE: D("-18.00")}
    assert path.read_text().count("push-key:") == keys + workers
    assert bean_check(path).returncode == 0


REJECTED = {
    "unknown account": (
        sales_doc("invoice", "12.00", [item("Income:Nope", "12.00")]),
        "Account Income:Nope is not open in the ledger",
    ),
    "unknown tax account": (
        sales_doc("invoice", "12.00", [item(SALES, "10.00", "2.00", "Liabilities:VAT:Gone")]),
        "Tax rate Liabilities:VAT:Gone is not open in the ledger",
    ),
    "tax rate that is no account": (
        sales_doc("invoice", "12.00", [item(SALES, "10.00", "2.00", "OUTPUT2")]),
        "Tax rate OUTPUT2 is not a valid Beancount account name",
    ),
    "unbalanced invoice": (
        sales_doc("invoice", "12.10", [item(SALES, "10.00", "2.00", VAT)]),
        "does not balance: its postings leave 0.10 GBP over",
    ),
    "unbalanced journal": (
        doc(
            "journalEntry",
            journalLines=[
                {"accountRef": ref(CARD), "netAmount": "5.00"},
                {"accountRef": ref(SALES), "netAmount": "-4.99"},
            ],
        ),
        "does not balance",
    ),
    "payment without customer": (
        {**payment(CARD, "1.00"), "customerRef": None},
        "has no customerRef.id",
    ),
    "amount that is no number": (transfer(CARD, BANK, "ten"), "not a number"),
    "unknown type": (doc("salesReceipt"), "Unknown document type 'salesReceipt'"),
    "bad date": (transfer(CARD, BANK, "1.00") | {"date": "1st Nov"}, "no valid date"),
    "before the accounts open": (
        transfer(CARD, BANK, "1.00") | {"date": "1999-12-31"},
        "opens only on 2000-01-01",
    ),
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_refused_documents_leave_the_file_untouched(target: BeancountTarget, name: str) -> None:
    document, message = REJECTED[name]
    target.write_document(key="earlier", document=payment(CARD, "1.00"))
    before = target.ledger_path.read_bytes()
    with pytest.raises(DocumentRejected) as info:
        target.write_document(key="bad", document=document)
    assert message in info.value.message
    assert target.ledger_path.read_bytes() == before
    assert target.find_document(key="bad") is None


def test_an_error_beancount_finds_rolls_the_append_back(target: BeancountTarget) -> None:
    # The account only takes EUR: our checks pass, Beancount's own do not.
    with target.ledger_path.open("a") as fh:
        fh.write("\n2000-01-01 open Assets:EuroBank EUR\n")
    before = target.ledger_path.read_bytes()
    with pytest.raises(DocumentRejected) as info:
        target.write_document(key="eur", document=transfer(CARD, "Assets:EuroBank", "5.00"))
    assert "Assets:EuroBank" in info.value.message
    assert "line" in info.value.message
    assert target.ledger_path.read_bytes() == before
    assert target.find_document(key="eur") is None
    # The ledger still takes good documents afterwards.
    target.write_document(key="ok", document=transfer(CARD, BANK, "5.00"))
    assert moves(target) == {CARD: D("-5.00"), BANK: D("5.00")}
    assert bean_check(target.ledger_path).returncode == 0


def test_a_broken_ledger_takes_no_documents(target: BeancountTarget) -> None:
    with target.ledger_path.open("a") as fh:
        fh.write('\n2026-01-01 * "hand edit"\n  Assets:Cash 1.00 GBP\n  Income:Sales -2.00 GBP\n')
    before = target.ledger_path.read_bytes()
    with pytest.raises(DocumentRejected, match="ledger has errors"):
        target.write_document(key="k", document=transfer(CARD, BANK, "1.00"))
    assert target.ledger_path.read_bytes() == before


def test_closed_accounts_are_archived_and_refused(target: BeancountTarget) -> None:
    with target.ledger_path.open("a") as fh:
        fh.write("\n2020-06-30 close Assets:Bank\n2020-06-30 close Liabilities:VAT:Zero\n")
    by_id = {option.id: option for option in target.list_accounts()}
    assert by_id[BANK].status == "Archived"
    assert by_id[CARD].status == "Active"
    assert [rate.id for rate in target.list_tax_rates()] == [VAT]
    with pytest.raises(DocumentRejected, match="Account Assets:Bank was closed on 2020-06-30"):
        target.write_document(key="k", document=transfer(CARD, BANK, "1.00"))


def test_accounts_and_tax_rates_round_trip(target: BeancountTarget) -> None:
    accounts = target.list_accounts()
    assert AccountOption(id=CASH, name="Cash", type="Asset", status="Active") in accounts
    assert AccountOption(id=FEES, name="PaymentFees", type="Expense") in accounts
    assert AccountOption(id=VAT, name="VAT 20%", type="Liability") in accounts
    assert len(accounts) == len(ACCOUNTS) + 2
    assert target.list_tax_rates() == [
        TaxRateOption(id=VAT, name="VAT 20%", rate="20"),
        TaxRateOption(id=ZERO_VAT, name="Zero rated", rate="0"),
    ]

    created = target.create_account(
        account_id="Equity:Opening-Balances", name="Opening", account_type="equity"
    )
    assert created == AccountOption(id="Equity:Opening-Balances", name="Opening", type="Equity")
    before = target.ledger_path.read_bytes()
    again = target.create_account(
        account_id="Equity:Opening-Balances", name="Opening", account_type="Equity"
    )
    assert again == created
    assert target.ledger_path.read_bytes() == before

    reopened = BeancountTarget(ledger_path=target.ledger_path)
    assert {a.id for a in reopened.list_accounts()} == {a.id for a in accounts} | {created.id}
    assert bean_check(target.ledger_path).returncode == 0


@pytest.mark.parametrize(
    ("account_id", "kind", "rate", "message"),
    [
        ("Income:sales", "Income", None, "not a valid Beancount account name"),
        ("Sales", "Income", None, "not a valid Beancount account name"),
        ("Income:Café Sales", "Income", None, "not a valid Beancount account name"),
        ("Revenue:Sales", "Income", None, "does not start with a known root"),
        ("Income:Other", "Asset", None, "cannot be of type Asset: its root makes it Income"),
        ("Income:Other", "Bogus", None, "Unknown account type"),
        ("Income:Taxed", "Income", "20", "Only a Liability account can carry a tax rate"),
        ("Liabilities:VAT:Odd", "Liability", "twenty", "not a percentage"),
    ],
)
def test_create_account_refuses_bad_input(
    target: BeancountTarget, account_id: str, kind: str, rate: str | None, message: str
) -> None:
    before = target.ledger_path.read_bytes()
    with pytest.raises(DocumentRejected, match=message):
        target.create_account(account_id=account_id, name="x", account_type=kind, tax_rate=rate)
    assert target.ledger_path.read_bytes() == before


def test_find_document_across_instances(target: BeancountTarget, tmp_path: Path) -> None:
    assert target.find_document(key="later") is None  # loads and caches
    writer = BeancountTarget(ledger_path=target.ledger_path)
    written = writer.write_document(key="later", document=payment(CARD, "2.50"))
    assert target.find_document(key="later") == written  # the cache saw the file change
    assert BeancountTarget(ledger_path=target.ledger_path).find_document(key="later") == written
    assert BeancountTarget(ledger_path=tmp_path / "none.beancount").find_document(key="x") is None


def test_party_ids_become_separate_valid_control_accounts(target: BeancountTarget) -> None:
    # "Café-POS-1" is a valid component as it stands; the others need cleaning.
    for n, customer in enumerate(["café pos/1", "Café-POS-1", "café-pos-1", "//"]):
        sale = sales_doc("invoice", "5.00", [item(SALES, "5.00")]) | {"customerRef": ref(customer)}
        target.write_document(key=f"sale-{n}", document=sale)
        target.write_document(key=f"pay-{n}", document=payment(CASH, "2.00", customer))
    receivables = {
        option.name: option.id
        for option in target.list_accounts()
        if option.id.startswith("Assets:Receivable:")
    }
    assert set(receivables) == {
        "Receivable: café pos/1",
        "Receivable: Café-POS-1",
        "Receivable: café-pos-1",
        "Receivable: //",
    }
    assert receivables["Receivable: Café-POS-1"] == "Assets:Receivable:Café-POS-1"
    assert receivables["Receivable: café-pos-1"].startswith("Assets:Receivable:Café-pos-1-")
    assert len(set(receivables.values())) == 4
    assert all(moves(target)[acc] == D("3.00") for acc in receivables.values())
    assert bean_check(target.ledger_path).returncode == 0


def test_ensure_ledger_writes_the_header_once(tmp_path: Path) -> None:
    path = tmp_path / "books" / "m1.beancount"
    book = BeancountTarget(ledger_path=path, title='Jo\'s "Café"', operating_currency="EUR")
    assert book.list_accounts() == []
    book.ensure_ledger()
    text = path.read_text()
    assert text.startswith('option "title" "Jo\'s \\"Café\\""\n')
    assert 'option "operating_currency" "EUR"' in text
    book.ensure_ledger()
    assert path.read_text() == text
    assert bean_check(path).returncode == 0
