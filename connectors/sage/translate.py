"""Our documents (the `preview_sync` JSON shape) as Sage Accounting v3.1
resources, and Sage's records as our options and plain-words problems.
Pure: no HTTP; what must be looked up in the business comes in through
`References`.

Sage's facts used here, read through the search corpus on 2026-12-01
(Sage's API portal developer.columbus.sage.com publishes the v3.1 request
bodies; "portal" below):

* `POST /sales_invoices` `{"sales_invoice": {...}}`: `contact_id`, `date`,
  `reference`, `notes`, `currency_id`, `exchange_rate`, `invoice_lines`
  (portal, "Creates a Sales Invoice",
  https://developer.columbus.sage.com/docs/services/5788e8e1e3907f1e8009e814/operations/postsalesinvoices);
  required: `contact_id`, `date`, `invoice_lines`, and on each line
  `description`, `ledger_account_id`, `unit_price` (withone.ai's copy of
  Sage's reference, "Create a Sales Invoice",
  https://www.withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6UAAbnn4A%3A%3AmVtli29PTU64GBLFMgn8vQ); a line's `tax_amount` is
  required unless its tax rate is a zero, exempt or no-tax one (the line
  schema's own description, as generated into Sage SDKs such as
  SynergiTech/sage-php `docs/Model/PurchaseInvoiceLineItem.md`), so it is
  always sent;
* `POST /sales_credit_notes` `{"sales_credit_note": {...}}` likewise with
  `credit_note_lines` (portal, "Updates a Sales Credit Note",
  https://developer.columbus.sage.com/docs/services/5788e8e1e3907f1e8009e814/operations/putsalescreditnoteskey);
* `POST /contact_payments` `{"contact_payment": {...}}`: required
  `transaction_type_id`, `contact_id`, `bank_account_id`, `date`,
  `total_amount`; optional `reference`, `currency_id`, `exchange_rate`,
  `allocated_artefacts` `[{"artefact_id", "amount"}]` (withone.ai "Create a
  Contact Payment",
  https://www.withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6T4xVjeHY%3A%3AYK6MmG2nRy2TyrWvO4nWnQ;
  the same fields in SDKs generated from Sage's Swagger);
  the transaction types CUSTOMER_RECEIPT, CUSTOMER_REFUND, VENDOR_PAYMENT,
  VENDOR_REFUND, and a contact payment may be allocated to any number of
  invoices or credit notes or left unallocated (payment on account)
  (https://developer.sage.com/accounting/guides/concepts/payments/): a
  payment whose documents we did not write is sent unallocated;
* `POST /journals` `{"journal": {...}}`: required `date`, `reference`,
  `journal_lines`, each line `ledger_account_id`, `debit`, `credit`;
  optional `description` and a line's `details` (withone.ai "Create a
  Journal",
  https://www.withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6T7wX5aYQ%3A%3AtotS3De8Tn6gZvglzzgK0g;
  portal "Creates a Opening Balance Journal", the same lines,
  https://developer.columbus.sage.com/docs/services/57c9489100c9d3171caa8dc8/operations/postopeningbalancejournals);
  a journal has no currency field (Sage posts journals in the base
  currency only);
* ledger accounts: `nominal_code`, `name`, `ledger_account_type.id`,
  `included_in_chart` (portal, "Creates a Ledger Account",
  https://developer.columbus.sage.com/docs/services/585005bf00c9d314bc8e1d30/operations/postLedgerAccounts);
  the type id SALES is Sage's (withone.ai "Get a Ledger Account Type",
  https://www.withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6T8VYuu4k%3A%3Aci60uMMpSw-EHtHkMeOT9w); the other
  ids in `ACCOUNT_TYPES` follow Sage's categories (Sales, Other income,
  Direct expenses, Overheads, Bank, Current/Fixed assets, Current
  liability, Equity: Sage's knowledge base "Ledger account fields",
  https://gb-kb.sage.com/portal/app/portlets/results/view2.jsp?k2dockey=240701103936670)
  but are NOT verified as API ids;
* tax rates: `id` (e.g. GB_STANDARD), `name`, `percentage`, `is_visible`
  (withone.ai "Get a Tax Rate",
  https://withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6UDDa2qXk%3A%3ApCKK0MvgSzOAEmBYybSD1w);
* contacts: filtered by `contact_type_id`, with `reference` (withone.ai
  "List Contacts",
  https://withone.ai/knowledge/sage-accounting/conn_mod_def%3A%3AGJ6T5bpICow%3A%3AN-sAsddsTR-8v_c4iQaZxA);
  the type ids CUSTOMER and VENDOR are NOT verified on a Sage page.

Not verified at all: the 25-character limit the double puts on
`reference`; whether Sage refuses journals on control accounts; which
artefacts each payment type may be allocated to.

Which Sage resource each document kind becomes:

* invoice -> `sales_invoices`: one `invoice_lines` item per line with its
  ledger account, tax rate and the source's tax amount (never recomputed).
* creditNote -> `sales_credit_notes`, `credit_note_lines` likewise
  (positive amounts: the resource is the credit).
* bill -> `purchase_invoices` from the supplier, `invoice_lines` likewise.
* payment, billPayment -> `contact_payments` when its account is one of the
  business's bank accounts: `CUSTOMER_RECEIPT` / `VENDOR_PAYMENT` (or
  `CUSTOMER_REFUND` / `VENDOR_REFUND` when negative) with the documents it
  settles in `allocated_artefacts` when they were written by us. One to an
  account that is not a bank account (a clearing or gift-card liability
  account) becomes a journal against the debtors or creditors control
  account (`SageSettings.debtors_account`, `creditors_account`); it is then
  not allocated in Sage, so the invoices it settles stay outstanding on
  Sage's aged reports (the run says so: `SageTarget.advisories`), and Sage
  may refuse journals on control accounts (not verified), in which case the
  item fails in Sage's words.
* journalEntry, deposit, transfer -> `journals`, each line `debit` or
  `credit` (never both): a fee refund debits the bank and credits each
  line's account; a payout debits the receiving account and credits the
  sending one.

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
from connectors.journal_lines import JournalLine, LedgerRefs
from connectors.journal_lines import journal_lines as ledger_lines
from connectors.protocols import AccountOption, TaxRateOption

# (path, body wrapper, id prefix) per resource written.
JOURNALS = ("journals", "journal", "Journal")
SALES_INVOICES = ("sales_invoices", "sales_invoice", "SalesInvoice")
SALES_CREDIT_NOTES = ("sales_credit_notes", "sales_credit_note", "SalesCreditNote")
PURCHASE_INVOICES = ("purchase_invoices", "purchase_invoice", "PurchaseInvoice")
CONTACT_PAYMENTS = ("contact_payments", "contact_payment", "ContactPayment")
RESOURCES = (SALES_INVOICES, SALES_CREDIT_NOTES, PURCHASE_INVOICES, CONTACT_PAYMENTS, JOURNALS)
# The resource a key's kind (its segment) is looked up in first.
LIKELY = {
    "invoice": SALES_INVOICES,
    "creditNote": SALES_CREDIT_NOTES,
    "bill": PURCHASE_INVOICES,
    "payment": CONTACT_PAYMENTS,
    "billPayment": CONTACT_PAYMENTS,
    "journalEntry": JOURNALS,
    "deposit": JOURNALS,
    "transfer": JOURNALS,
}
ARTEFACT_LINKS = {"Invoice", "CreditNote", "Bill"}
# A line's description when the document gives none (Sage requires one).
LINE_TEXT = {SALES_INVOICES: "Sales", SALES_CREDIT_NOTES: "Refund", PURCHASE_INVOICES: "Purchase"}
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
    if kind == "bill":
        return PURCHASE_INVOICES
    if kind in ("payment", "billPayment") and refs.bank_account(document["accountRef"]["id"]):
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
    if resource in (SALES_INVOICES, SALES_CREDIT_NOTES, PURCHASE_INVOICES):
        lines = []
        for item in document["lineItems"]:
            net = Decimal(item["subTotal"])
            tax = Decimal(item.get("taxAmount") or 0)
            # Sage requires a line's description: never send an empty one.
            text = str(item.get("description") or description).strip()
            line: dict[str, Any] = {
                "description": (text or LINE_TEXT[resource])[:200],
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
        lines_name = "credit_note_lines" if resource == SALES_CREDIT_NOTES else "invoice_lines"
        party = document.get("supplierRef") if resource == PURCHASE_INVOICES else None
        return resource, {
            "contact_id": refs.contact((party or document["customerRef"])["id"]),
            "date": day,
            "reference": your_ref(key),
            "notes": key,
            lines_name: lines,
        }
    if resource == CONTACT_PAYMENTS:
        total = Decimal(document["totalAmount"])
        vendor = document["type"] == "billPayment"
        kinds = (
            ("VENDOR_PAYMENT", "VENDOR_REFUND")
            if vendor
            else ("CUSTOMER_RECEIPT", "CUSTOMER_REFUND")
        )
        party = document["supplierRef"] if vendor else document["customerRef"]
        body: dict[str, Any] = {
            "transaction_type_id": kinds[0] if total >= 0 else kinds[1],
            "contact_id": refs.contact(party["id"]),
            "bank_account_id": refs.bank_account(document["accountRef"]["id"]),
            "date": day,
            "total_amount": abs(total),
            "reference": your_ref(key),
        }
        allocations = []
        for link in document.get("links") or []:
            artefact = refs.written(str(link["id"]))
            if artefact and link.get("type") in ARTEFACT_LINKS:
                allocations.append(
                    {"artefact_id": artefact.split(":", 1)[1], "amount": Decimal(link["amount"])}
                )
        if allocations:
            body["allocated_artefacts"] = allocations
        return resource, body
    lines_out = []
    for line in journal_lines(document, refs):
        if not line.amount:
            continue
        lines_out.append(
            {
                "ledger_account_id": line.account,
                "debit": line.amount if line.amount > 0 else Decimal(0),
                "credit": -line.amount if line.amount < 0 else Decimal(0),
                "details": (line.description or description)[:200],
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


def journal_lines(document: dict[str, Any], refs: References) -> list[JournalLine]:
    """The journal lines of a document written as a journal: other money
    in or back through the debtors control account, bill payments through
    the creditors one; no bills (they are purchase invoices)."""
    return ledger_lines(
        document,
        LedgerRefs(account=refs.ledger_account, receivable=refs.debtors, payable=refs.creditors),
    )


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
