"""Our documents (the `preview_sync` JSON shape) as Sage Accounting v3.1
resources, and Sage's records as our options and plain-words problems.
Pure: no HTTP; what must be looked up in the business comes in through
`References`.

Resource and field names below are what the v3.1 API is publicly known to
use; they are NOT verified against Sage's published spec (only the base URL,
`X-Business` and the OAuth endpoints are in ../shared/reference/README.md).
Bodies are wrapped in the singular resource name (`{"journal": {...}}`).

Which Sage resource each document kind becomes:

* invoice -> `sales_invoices`: one `invoice_lines` item per line with its
  ledger account, tax rate and the source's tax amount (never recomputed).
* creditNote -> `sales_credit_notes`, `credit_note_lines` likewise
  (positive amounts: the resource is the credit).
* payment -> `contact_payments` when its account is one of the business's
  bank accounts: `CUSTOMER_RECEIPT` (or `CUSTOMER_REFUND` for a negative
  payment) with the invoice or credit note it settles in
  `allocated_artefacts` when that document was written by us. A payment to
  an account that is not a bank account (a clearing or gift-card liability
  account) becomes a journal: debit that account, credit the debtors
  control account (`SageSettings.debtors_account`); it is then not
  allocated in Sage.
* journalEntry, bill, billPayment, deposit, transfer -> `journals`, each
  line `debit` or `credit` (never both), as for Exact: a bill debits its
  expense lines and their tax (to `SageSettings.vat_account`) and credits
  the creditors control account; a bill payment debits creditors and credits
  the bank; a fee refund debits the bank and credits each line's account; a
  payout debits the receiving account and credits the sending one.

Where the push key goes (Sage has no idempotency header): `reference` holds
a 20-character digest of the key (`exact.translate.your_ref`) on every
resource, and an invoice or credit note also keeps the whole key in `notes`.
`find_document` lists the day's resources of the document's kind
(`from_date`/`to_date`) and compares `reference`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from commerce_sync.errors import DocumentRejected
from connectors.exact.translate import your_ref
from connectors.protocols import AccountOption, TaxRateOption

# (path, body wrapper, id prefix) per resource written.
JOURNALS = ("journals", "journal", "Journal")
SALES_INVOICES = ("sales_invoices", "sales_invoice", "SalesInvoice")
SALES_CREDIT_NOTES = ("sales_credit_notes", "sales_credit_note", "SalesCreditNote")
CONTACT_PAYMENTS = ("contact_payments", "contact_payment", "ContactPayment")
RESOURCES = (SALES_INVOICES, SALES_CREDIT_NOTES, CONTACT_PAYMENTS, JOURNALS)
LEDGER_ACCOUNTS = "ledger_accounts"
TAX_RATES = "tax_rates"
CONTACTS = "contacts"
BANK_ACCOUNTS = "bank_accounts"

# Sage's ledger account types (ledger_account_type.id) -> our account types.
ACCOUNT_TYPES = {
    "SALES": "Income",
    "OTHER_INCOME": "Income",
    "DIRECT_EXPENSES": "Expense",
    "OVERHEADS": "Expense",
    "DEPRECIATION": "Expense",
    "CURRENT_ASSETS": "Asset",
    "FIXED_ASSETS": "Asset",
    "FUTURE_ASSETS": "Asset",
    "BANK": "Asset",
    "CURRENT_LIABILITY": "Liability",
    "FUTURE_LIABILITY": "Liability",
    "LINE_OF_CREDIT": "Liability",
    "EQUITY": "Equity",
}
NEW_ACCOUNT_TYPES = {
    "Asset": "CURRENT_ASSETS",
    "Liability": "CURRENT_LIABILITY",
    "Equity": "EQUITY",
    "Income": "SALES",
    "Expense": "OVERHEADS",
}


class References(Protocol):
    """What the translation looks up in the business (Sage ids as strings)."""

    def ledger_account(self, code: str) -> str: ...

    def tax_rate(self, code: str) -> str: ...

    def contact(self, ref: str) -> str: ...

    def bank_account(self, code: str) -> str | None: ...

    def debtors(self) -> str: ...

    def creditors(self) -> str: ...

    def vat(self) -> str: ...

    def written(self, key: str) -> str | None: ...


def code_of(row: dict[str, Any]) -> str:
    """A ledger account's nominal code as text (Sage sends a number)."""
    return str(row.get("nominal_code") or "").strip()


def account_option(row: dict[str, Any]) -> AccountOption:
    """A ledger account, identified by its nominal code. One left out of
    the chart (`included_in_chart` false) is offered as "Archived"."""
    kind = str((row.get("ledger_account_type") or {}).get("id") or "")
    return AccountOption(
        id=code_of(row),
        name=str(row.get("name") or row.get("displayed_as") or code_of(row)),
        type=ACCOUNT_TYPES.get(kind, "Asset"),
        status="Active" if row.get("included_in_chart", True) else "Archived",
    )


def tax_rate_option(row: dict[str, Any]) -> TaxRateOption:
    """A tax rate, by its id (e.g. "GB_STANDARD"); `percentage` in percent."""
    percent = Decimal(str(row.get("percentage") or 0))
    text = f"{percent.normalize():f}" if percent else "0"
    return TaxRateOption(id=str(row["id"]), name=str(row.get("name") or row["id"]), rate=text)


def resource_for(document: dict[str, Any], refs: References) -> tuple[str, str, str]:
    """The resource (path, wrapper, id prefix) a document is written to."""
    kind = document["type"]
    if kind == "invoice":
        return SALES_INVOICES
    if kind == "creditNote":
        return SALES_CREDIT_NOTES
    if kind == "payment" and refs.bank_account(document["accountRef"]["id"]):
        return CONTACT_PAYMENTS
    return JOURNALS


def to_resource(
    key: str, document: dict[str, Any], refs: References
) -> tuple[tuple[str, str, str], dict[str, Any]]:
    """The resource and the (unwrapped) body to create for one document.
    Raises DocumentRejected for what Sage cannot take."""
    resource = resource_for(document, refs)
    day = str(document["date"])
    description = str(document.get("description") or "")
    if resource in (SALES_INVOICES, SALES_CREDIT_NOTES):
        lines = []
        for item in document["lineItems"]:
            net = Decimal(item["subTotal"])
            tax = Decimal(item.get("taxAmount") or 0)
            line: dict[str, Any] = {
                "description": str(item.get("description") or description)[:200],
                "ledger_account_id": refs.ledger_account(item["accountRef"]["id"]),
                "quantity": Decimal(1),
                "unit_price": net,
                "net_amount": net,
                "tax_amount": tax,
                "total_amount": net + tax,
            }
            code = (item.get("taxRateRef") or {}).get("id")
            if code:
                line["tax_rate_id"] = refs.tax_rate(code)
            lines.append(line)
        lines_name = "invoice_lines" if resource == SALES_INVOICES else "credit_note_lines"
        return resource, {
            "contact_id": refs.contact(document["customerRef"]["id"]),
            "date": day,
            "reference": your_ref(key),
            "notes": key,
            lines_name: lines,
        }
    if resource == CONTACT_PAYMENTS:
        total = Decimal(document["totalAmount"])
        body: dict[str, Any] = {
            "transaction_type_id": "CUSTOMER_RECEIPT" if total >= 0 else "CUSTOMER_REFUND",
            "contact_id": refs.contact(document["customerRef"]["id"]),
            "bank_account_id": refs.bank_account(document["accountRef"]["id"]),
            "date": day,
            "total_amount": abs(total),
            "reference": your_ref(key),
        }
        allocations = []
        for link in document.get("links") or []:
            artefact = refs.written(str(link["id"]))
            if artefact and link.get("type") in ("Invoice", "CreditNote"):
                allocations.append(
                    {"artefact_id": artefact.split(":", 1)[1], "amount": Decimal(link["amount"])}
                )
        if allocations:
            body["allocated_artefacts"] = allocations
        return resource, body
    lines_out = []
    for account, amount, text in journal_lines(document, refs):
        if not amount:
            continue
        lines_out.append(
            {
                "ledger_account_id": account,
                "debit": amount if amount > 0 else Decimal(0),
                "credit": -amount if amount < 0 else Decimal(0),
                "details": (text or description)[:200],
            }
        )
    if not lines_out:
        raise DocumentRejected(
            f"A {document['type']} document cannot be written to Sage Accounting"
        )
    return resource, {
        "date": day,
        "reference": your_ref(key),
        "description": description[:200],
        "journal_lines": lines_out,
    }


Line = tuple[str, Decimal, str]  # ledger account id, amount (+debit), text


def journal_lines(document: dict[str, Any], refs: References) -> list[Line]:
    """The journal lines of a document written as a journal."""
    kind = document["type"]
    text = str(document.get("description") or "")
    if kind == "journalEntry":
        return [
            (
                refs.ledger_account(line["accountRef"]["id"]),
                Decimal(line["netAmount"]),
                str(line.get("description") or text),
            )
            for line in document["journalLines"]
        ]
    if kind == "payment":
        total = Decimal(document["totalAmount"])
        return [
            (refs.ledger_account(document["accountRef"]["id"]), total, text),
            (refs.debtors(), -total, text),
        ]
    if kind == "billPayment":
        total = Decimal(document["totalAmount"])
        return [
            (refs.creditors(), total, text),
            (refs.ledger_account(document["accountRef"]["id"]), -total, text),
        ]
    if kind == "bill":
        lines: list[Line] = []
        total = Decimal(0)
        for item in document["lineItems"]:
            net, tax = Decimal(item["subTotal"]), Decimal(item.get("taxAmount") or 0)
            lines.append((refs.ledger_account(item["accountRef"]["id"]), net, item["description"]))
            if tax:
                lines.append((refs.vat(), tax, item["description"]))
            total += net + tax
        lines.append((refs.creditors(), -total, text))
        return lines
    if kind == "deposit":
        lines = [
            (
                refs.ledger_account(document["accountRef"]["id"]),
                Decimal(document["totalAmount"]),
                text,
            )
        ]
        for item in document["lineItems"]:
            lines.append(
                (
                    refs.ledger_account(item["accountRef"]["id"]),
                    -Decimal(item["totalAmount"]),
                    item["description"],
                )
            )
        return lines
    if kind == "transfer":
        amount = Decimal(document["amount"])
        return [
            (refs.ledger_account(document["toAccountRef"]["id"]), amount, text),
            (refs.ledger_account(document["fromAccountRef"]["id"]), -amount, text),
        ]
    return []


def missing_problems(
    label: str, wanted: set[str], rows: dict[str, dict[str, Any]], hidden: str | None = None
) -> list[str]:
    """Plain words for the codes in `wanted` missing from `rows` (code ->
    record) or hidden (`hidden` names the record's visibility flag)."""
    problems = []
    for code in sorted(wanted):
        row = rows.get(code)
        if row is None:
            problems.append(f"{label} {code} does not exist in Sage Accounting")
        elif hidden and row.get(hidden) is False:
            problems.append(f"{label} {code} is no longer in use in Sage Accounting")
    return problems
