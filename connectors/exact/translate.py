"""Our documents (the `preview_sync` JSON shape) as Exact Online entities,
and Exact's rows as our options and plain-words problems. Pure: no HTTP;
what must be looked up in the division comes in through `References`.

Field names, types and read-only flags are those of Exact's SDK model
classes (../shared/reference/exactonline/sdk-models: `GeneralJournalEntry`,
`GeneralJournalEntryLine`, `SalesInvoice`, `SalesInvoiceLine`, `GLAccount`,
`VATCode`); dates go out as `/Date(ms)/`, amounts as exact decimals.

Which Exact entity each document kind becomes:

* journalEntry -> `GeneralJournalEntries` on the connection's general
  journal (`ExactSettings.general_journal`): one line per journal line,
  `AmountFC` positive for a debit and negative for a credit. No VAT code is
  sent: our journals already carry the tax as lines of their own, and a
  VATCode would make Exact add VAT lines a second time.
* invoice -> `SalesInvoices` of Type 8020 on the sales journal
  (`ExactSettings.sales_journal`), one `SalesInvoiceLine` per line item with
  its G/L account, `VATCode` and the source's VAT amount (`VATAmountFC`,
  never recomputed). The SDK marks `InvoiceDate` read-only, so the business
  day goes in `OrderDate` (and `DueDate`).
* creditNote -> a `SalesInvoice` of Type 8021 (Exact's "sales credit note"):
  the same lines with Quantity -1, so their amounts and VAT are negative.
* payment, billPayment, bill, deposit, transfer -> `GeneralJournalEntries`
  on the general journal. The SDK material has no endpoint for cash or bank
  entries, purchase entries or receipts, and `GeneralJournalEntries` is the
  one write that takes any G/L account:
  - payment: debit the payment's account (bank, cash, clearing), credit the
    division's receivable account (G/L type 20) with the customer on the line
    (`Account`); a negative payment (money back against a credit note) is the
    same entry with the signs turned.
  - bill: debit each expense line, debit its VAT to the VAT code's "to
    claim" account (`GLToClaim`), credit the payable account (G/L type 22)
    with the supplier on the line.
  - billPayment: debit the payable account (supplier on the line), credit
    the bank account.
  - deposit (fee refunds): debit the bank account, credit each line's account.
  - transfer (payout): debit the receiving account, credit the sending one.
  Receivable and payable therefore net to zero over a day, but Exact does
  not match these lines to the invoices they settle (matching is not in the
  SDK material): the invoices stay open in Exact's receivables list.

Where the push key goes (Exact has no idempotency header, and
`GeneralJournalEntries` can be neither updated nor deleted:
`SupportedActionsSDK(true, true, false, false)`), so `find_document` can
look a document up after a crash:

* a general journal entry carries the whole key in every line's `Notes`
  ("extra remarks"; the header has no free text), found through
  `GeneralJournalEntryLines?$filter=Notes eq '<key>'`;
* a sales invoice carries a 20-character digest of the key in `YourRef`
  (filterable) and the whole key in `Remarks` (compared on the row found).

Locations become cost centres (`CostCenter` on every line) when the
connection maps them (`ExactSettings.cost_centres`).
"""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal
from typing import Any, Protocol

from commerce_sync.errors import DocumentRejected
from connectors.exact.client import odata_date
from connectors.protocols import AccountOption, TaxRateOption

JOURNAL_ENTRIES = "generaljournalentry/GeneralJournalEntries"
JOURNAL_LINES = "generaljournalentry/GeneralJournalEntryLines"
SALES_INVOICES = "salesinvoice/SalesInvoices"
GL_ACCOUNTS = "financial/GLAccounts"
VAT_CODES = "vat/VATCodes"
CRM_ACCOUNTS = "crm/Accounts"
# Cost centres (Services.cs: Costcenter -> HRM/Costcenters; its fields Code,
# Description, Active as the SDK's HRM/Costcenter.cs declares them).
COST_CENTRES = "hrm/Costcenters"
COST_CENTRE_KIND = "CostCenter"  # TrackingOption.category_id, the lines' field

INVOICE_TYPE = 8020
CREDIT_NOTE_TYPE = 8021
RECEIVABLE_TYPE = 20
PAYABLE_TYPE = 22
YOUR_REF_MAX = 20

# Exact's G/L account types (GLAccount.Type) -> our account types; 90
# ("General") and anything unlisted follow BalanceType/BalanceSide.
ASSET_TYPES = {10, 12, 14, 16, 20, 21, 26, 30, 32, 35, 40}
LIABILITY_TYPES = {22, 24, 25, 27, 29, 55, 60, 100}
EQUITY_TYPES = {50, 52}
INCOME_TYPES = {110, 140, 160}
EXPENSE_TYPES = {111, 120, 121, 122, 123, 125, 126, 130, 150}
# Our account types -> (Type, BalanceType, BalanceSide) of an account we create.
NEW_ACCOUNT = {
    "Asset": (32, "B", "D"),
    "Liability": (90, "B", "C"),
    "Equity": (90, "B", "C"),
    "Income": (110, "W", "C"),
    "Expense": (120, "W", "D"),
}


class References(Protocol):
    """What the translation looks up in the division (GUIDs as strings)."""

    def gl_account(self, code: str) -> str: ...

    def vat_claim_account(self, vat_code: str) -> str: ...

    def customer(self, ref: str) -> str: ...

    def supplier(self, ref: str) -> str: ...

    def receivable(self) -> str: ...

    def payable(self) -> str: ...


def code_of(row: dict[str, Any]) -> str:
    """Exact right-aligns some codes with spaces (`"                 8"`)."""
    return str(row.get("Code") or "").strip()


def account_type(row: dict[str, Any]) -> str:
    kind = int(row.get("Type") or 90)
    if kind in ASSET_TYPES:
        return "Asset"
    if kind in LIABILITY_TYPES:
        return "Liability"
    if kind in EQUITY_TYPES:
        return "Equity"
    if kind in INCOME_TYPES:
        return "Income"
    if kind in EXPENSE_TYPES:
        return "Expense"
    debit = str(row.get("BalanceSide") or "D") == "D"
    if str(row.get("BalanceType") or "B") == "W":
        return "Expense" if debit else "Income"
    return "Asset" if debit else "Liability"


def account_option(row: dict[str, Any]) -> AccountOption:
    """A GLAccount row, identified by its code (what accountants use)."""
    return AccountOption(
        id=code_of(row),
        name=str(row.get("Description") or code_of(row)),
        type=account_type(row),
        status="Archived" if row.get("IsBlocked") else "Active",
    )


def tax_rate_option(row: dict[str, Any]) -> TaxRateOption:
    """A VATCode row; Exact keeps the percentage as a fraction (0.21)."""
    percent = Decimal(str(row.get("Percentage") or 0)) * 100
    # Plain digits ("20", "5.5"), never an exponent ("2E+1").
    text = f"{percent.normalize():f}" if percent else "0"
    return TaxRateOption(
        id=code_of(row), name=str(row.get("Description") or code_of(row)), rate=text
    )


def your_ref(key: str) -> str:
    """A deterministic 20-character stand-in for the key (100 bits of a
    SHA-256 digest: no two keys of one division will share it)."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()
    return ("CS" + digest)[:YOUR_REF_MAX]


def is_sales_invoice(document: dict[str, Any]) -> bool:
    return document["type"] in ("invoice", "creditNote")


def to_entity(
    key: str,
    document: dict[str, Any],
    refs: References,
    *,
    general_journal: str,
    sales_journal: str,
    cost_centre: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The endpoint (relative to the division) and body to create for one
    document. Raises DocumentRejected for a kind Exact cannot take."""
    if is_sales_invoice(document):
        return SALES_INVOICES, _sales_invoice(key, document, refs, sales_journal, cost_centre)
    lines = _journal_lines(document, refs)
    if not lines:
        raise DocumentRejected(f"A {document['type']} document cannot be written to Exact Online")
    day = odata_date(document["date"])
    description = str(document.get("description") or "")
    body_lines = []
    for account, amount, text, party in lines:
        line: dict[str, Any] = {
            "GLAccount": account,
            "AmountFC": amount,
            "Date": day,
            "Description": (text or description)[:60],
            "Notes": key,
        }
        if party:
            line["Account"] = party
        if cost_centre:
            line["CostCenter"] = cost_centre
        body_lines.append(line)
    body = {
        "JournalCode": general_journal,
        "Currency": document["currency"],
        "GeneralJournalEntryLines": body_lines,
    }
    return JOURNAL_ENTRIES, body


Line = tuple[str, Decimal, str, str | None]  # G/L account, amount (+debit), text, party


def _journal_lines(document: dict[str, Any], refs: References) -> list[Line]:
    kind = document["type"]
    text = str(document.get("description") or "")
    if kind == "journalEntry":
        return [
            (
                refs.gl_account(line["accountRef"]["id"]),
                Decimal(line["netAmount"]),
                str(line.get("description") or text),
                None,
            )
            for line in document["journalLines"]
        ]
    if kind == "payment":
        total = Decimal(document["totalAmount"])
        customer = refs.customer(document["customerRef"]["id"])
        return [
            (refs.gl_account(document["accountRef"]["id"]), total, text, None),
            (refs.receivable(), -total, text, customer),
        ]
    if kind == "billPayment":
        total = Decimal(document["totalAmount"])
        supplier = refs.supplier(document["supplierRef"]["id"])
        return [
            (refs.payable(), total, text, supplier),
            (refs.gl_account(document["accountRef"]["id"]), -total, text, None),
        ]
    if kind == "bill":
        supplier = refs.supplier(document["supplierRef"]["id"])
        lines: list[Line] = []
        total = Decimal(0)
        for item in document["lineItems"]:
            net, tax = Decimal(item["subTotal"]), Decimal(item.get("taxAmount") or 0)
            lines.append(
                (refs.gl_account(item["accountRef"]["id"]), net, item["description"], None)
            )
            if tax:
                code = (item.get("taxRateRef") or {}).get("id")
                if not code:
                    raise DocumentRejected(
                        f"Bill line {item['description']!r} has VAT but no VAT code"
                    )
                lines.append((refs.vat_claim_account(code), tax, item["description"], None))
            total += net + tax
        lines.append((refs.payable(), -total, text, supplier))
        return lines
    if kind == "deposit":
        bank = refs.gl_account(document["accountRef"]["id"])
        lines = [(bank, Decimal(document["totalAmount"]), text, None)]
        for item in document["lineItems"]:
            lines.append(
                (
                    refs.gl_account(item["accountRef"]["id"]),
                    -Decimal(item["totalAmount"]),
                    item["description"],
                    None,
                )
            )
        return lines
    if kind == "transfer":
        amount = Decimal(document["amount"])
        return [
            (refs.gl_account(document["toAccountRef"]["id"]), amount, text, None),
            (refs.gl_account(document["fromAccountRef"]["id"]), -amount, text, None),
        ]
    return []


def _sales_invoice(
    key: str,
    document: dict[str, Any],
    refs: References,
    journal: str,
    cost_centre: str | None,
) -> dict[str, Any]:
    credit = document["type"] == "creditNote"
    sign = Decimal(-1) if credit else Decimal(1)
    customer = refs.customer(document["customerRef"]["id"])
    day = odata_date(document["date"])
    lines = []
    for item in document["lineItems"]:
        net = Decimal(item["subTotal"])
        line: dict[str, Any] = {
            "GLAccount": refs.gl_account(item["accountRef"]["id"]),
            "Description": str(item.get("description") or "")[:60],
            "Quantity": sign,
            "UnitPrice": net,
            "AmountFC": sign * net,
        }
        code = (item.get("taxRateRef") or {}).get("id")
        if code:
            line["VATCode"] = code
            line["VATAmountFC"] = sign * Decimal(item.get("taxAmount") or 0)
        if cost_centre:
            line["CostCenter"] = cost_centre
        lines.append(line)
    return {
        "Type": CREDIT_NOTE_TYPE if credit else INVOICE_TYPE,
        "Journal": journal,
        "OrderedBy": customer,
        "InvoiceTo": customer,
        "Currency": document["currency"],
        "OrderDate": day,
        "DueDate": day,
        "Description": str(document.get("description") or "")[:60],
        "YourRef": your_ref(key),
        "Remarks": key,
        "SalesInvoiceLines": lines,
    }


def blocked_problems(
    label: str, wanted: set[str], rows: list[dict[str, Any]], flag: str
) -> list[str]:
    """Plain words for the codes in `wanted` missing from `rows` or blocked
    (`flag` names the row's blocked field: IsBlocked, Blocked)."""
    found = {code_of(r): r for r in rows}
    found.update({str(r.get("ID") or ""): r for r in rows})
    problems = []
    for code in sorted(wanted):
        row = found.get(code)
        if row is None:
            problems.append(f"{label} {code} does not exist in Exact Online")
        elif row.get(flag):
            name = str(row.get("Description") or row.get("Name") or "").strip()
            named = f"{label} {code} ({name})" if name and name != code else f"{label} {code}"
            problems.append(f"{named} is blocked in Exact Online")
    return problems
