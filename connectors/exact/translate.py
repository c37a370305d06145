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
  `AmountFC` positive for a debit and negative for a credit. VAT goes the
  way Exact's VAT return sees it (`vat_coded`): our journal's tax line on
  an account that is a VAT code's "to pay" account (`GLToPay`, the
  merchant's mapped tax account) is not sent; instead each sales line taxed
  at a rate (its label ends in "20%") carries the VAT code of that rate
  paying to that account (`VATCode`) and its share of the tax
  (`AmountVATFC`), and Exact creates the VAT line itself (SDK
  `GeneralJournalEntryLine.VATCode`: "VAT Lines will be automatically
  created if the VATCode is specified"). Each line's VAT is the tax the
  source charged on it (`taxAmount`, as the till rounded it per sale), or
  else its net times the rate rounded half away from zero to the cent; what
  is left between those and the tax line (rounding) goes on the largest
  line, so the VAT Exact books is exactly the source's, to the cent, rate
  by rate. A tax line on any other account (a tax that is not Exact VAT,
  e.g. Quebec's QST) is sent as a plain line. Unverified: that the general
  journal has VAT enabled ("VATCode can only be used if the general journal
  has VAT enabled"; Exact's journal settings are not in the material).
* invoice -> `SalesInvoices` of Type 8020 on the sales journal
  (`ExactSettings.sales_journal`), one `SalesInvoiceLine` per line item with
  its G/L account, `VATCode` and the source's VAT amount (`VATAmountFC`,
  never recomputed). The SDK marks `InvoiceDate` read-only, so the business
  day goes in `OrderDate` (and `DueDate`).
* creditNote -> a `SalesInvoice` of Type 8021 (Exact's "sales credit note"):
  the same lines with Quantity -1, so their amounts and VAT are negative.
* An invoice or credit note whose status is Submitted (the merchant's
  `invoiceStatus`; Draft ones stay open for the accountant) is then
  processed: a `PrintedSalesInvoices` create naming its `InvoiceID`, with
  no e-mail or postbox message to the customer. A SalesInvoice is created
  open (Status 20); only processing (Status 50, "done via printing") makes
  its sales entry, gives it its invoice number and puts its revenue, VAT and
  receivable in the ledger, where a payment can be matched to it. Exactly
  once: the adapter processes an invoice only when it has just created it or
  read it back open, and a processed invoice reads back as 50. Services.cs
  maps `PrintedSalesInvoice` to that endpoint; its model class is not among
  the material's sdk-models, so its fields (create only, key `InvoiceID`,
  `SendEmailToCustomer`, `SendInvoiceToCustomerPostbox`…) come from the same
  SDK's `SalesInvoice/PrintedSalesInvoice.cs`.
* payment, billPayment, bill, deposit, transfer -> `GeneralJournalEntries`
  on the general journal. The SDK material has no endpoint for cash or bank
  entries, purchase entries or receipts, and `GeneralJournalEntries` is the
  one write that takes any G/L account:
  - payment: debit the payment's account (bank, cash, clearing), credit the
    division's receivable account (G/L type 20) with the customer on the line
    (`Account`) and, when the payment settles one invoice or credit note,
    that invoice's number as the line's `OurRef`; a negative payment (money
    back against a credit note) is the same entry with the signs turned.
  - bill: debit each expense line, debit its VAT to the VAT code's "to
    claim" account (`GLToClaim`), credit the payable account (G/L type 22)
    with the supplier on the line.
  - billPayment: debit the payable account (supplier on the line), credit
    the bank account.
  - deposit (fee refunds): debit the bank account, credit each line's account.
  - transfer (payout): debit the receiving account, credit the sending one.
  Receivable and payable therefore net to zero over a day, but the SDK
  material has no way to match a journal line to the invoice it settles
  (no matching entity in Services.cs or the models): the invoice and the
  payment stay unmatched items in Exact's receivables until the accountant
  matches them (the run says so: `ExactTarget.advisories`); the customer and the invoice number (`OurRef`) on the
  payment's line make that a single match in Exact. Bills and bill payments
  are the same on the payable side (no purchase invoice is created).

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
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from commerce_sync.errors import DocumentRejected
from connectors.exact.client import odata_date
from connectors.journal_lines import JournalLine, LedgerRefs, journal_lines
from connectors.protocols import AccountOption, TaxRateOption

JOURNAL_ENTRIES = "generaljournalentry/GeneralJournalEntries"
JOURNAL_LINES = "generaljournalentry/GeneralJournalEntryLines"
SALES_INVOICES = "salesinvoice/SalesInvoices"
PRINTED_SALES_INVOICES = "salesinvoice/PrintedSalesInvoices"
GL_ACCOUNTS = "financial/GLAccounts"
VAT_CODES = "vat/VATCodes"
CRM_ACCOUNTS = "crm/Accounts"
# Cost centres (Services.cs: Costcenter -> HRM/Costcenters; its fields Code,
# Description, Active as the SDK's HRM/Costcenter.cs declares them).
COST_CENTRES = "hrm/Costcenters"
COST_CENTRE_KIND = "CostCenter"  # TrackingOption.category_id, the lines' field

INVOICE_TYPE = 8020
# SalesInvoice.Status: 20 open (changeable, not yet in the ledger), 50
# processed ("Processing is done via printing"; it cannot be reopened).
OPEN_STATUS = 20
PROCESSED_STATUS = 50
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

    def is_vat_account(self, gl_id: str) -> bool: ...

    def sales_vat_code(self, gl_id: str, percent: Decimal) -> str | None: ...

    def vat_claim_account(self, vat_code: str) -> str: ...

    def customer(self, ref: str) -> str: ...

    def invoice_number(self, key: str) -> int | None: ...

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


# Exact's G/L account types (SDK `GLAccount.Type`) -> AccountOption.role.
ROLES = {
    10: "cash",
    12: "bank",
    14: "card",
    16: "paymentServices",
    20: "receivable",
    22: "payable",
    24: "vat",
    110: "revenue",
    111: "costOfSales",
    120: "expense",
    121: "expense",
}


def account_role(row: dict[str, Any]) -> str:
    """AccountOption.role of a GLAccount row, from its G/L type (`ROLES`); a
    VAT account (type 24) kept on the credit side (`BalanceSide` C) is where
    sales VAT is owed ("salesTax"), on the debit side VAT to claim
    ("purchaseTax")."""
    kind = int(row.get("Type") or 0)
    if kind == 24:
        return "salesTax" if str(row.get("BalanceSide") or "") == "C" else "purchaseTax"
    return ROLES.get(kind, "")


def account_option(row: dict[str, Any]) -> AccountOption:
    """A GLAccount row, identified by its code (what accountants use), with
    the role its G/L type gives (`account_role`)."""
    return AccountOption(
        id=code_of(row),
        name=str(row.get("Description") or code_of(row)),
        type=account_type(row),
        status="Archived" if row.get("IsBlocked") else "Active",
        role=account_role(row),
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


def to_process(document: dict[str, Any]) -> bool:
    """Whether a document's sales invoice is to be processed in Exact: an
    invoice or credit note that is not a Draft."""
    return is_sales_invoice(document) and document.get("status") != "Draft"


def print_request(invoice_id: str) -> dict[str, Any]:
    """The `PrintedSalesInvoices` body that processes one sales invoice and
    sends nothing to the customer (the till's customer is not to be mailed)."""
    return {
        "InvoiceID": invoice_id,
        "SendEmailToCustomer": False,
        "SendInvoiceToCustomerPostbox": False,
    }


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
    lines = journal_entry_lines(document, refs)
    if not lines:
        raise DocumentRejected(f"A {document['type']} document cannot be written to Exact Online")
    vat: dict[int, tuple[str, Decimal]] = {}
    if document["type"] == "journalEntry":
        lines, vat = vat_coded(lines, document, refs)
    day = odata_date(document["date"])
    description = str(document.get("description") or "")
    body_lines = []
    for index, entry in enumerate(lines):
        line: dict[str, Any] = {
            "GLAccount": entry.account,
            "AmountFC": entry.amount,
            "Date": day,
            "Description": (entry.description or description)[:60],
            "Notes": key,
        }
        if index in vat:
            line["VATCode"], line["AmountVATFC"] = vat[index]
        if entry.party:
            line["Account"] = entry.party
            if document["type"] == "payment":
                number = _settled_invoice_number(document, refs)
                if number:
                    line["OurRef"] = number
        if cost_centre:
            line["CostCenter"] = cost_centre
        body_lines.append(line)
    body = {
        "JournalCode": general_journal,
        "Currency": document["currency"],
        "GeneralJournalEntryLines": body_lines,
    }
    return JOURNAL_ENTRIES, body


# The rate our journal writer puts at the end of a taxed line's label
# ("Sales 20%", "Sales Drinks 5.5%"; `mapping.taxes.TaxRules.rate`).
_RATE_LABEL = re.compile(r"(?:^|\s)(\d+(?:\.\d+)?)%$")
CENT = Decimal("0.01")


def vat_share(net: Decimal, percent: Decimal) -> Decimal:
    """`net` x `percent` %, to the cent, half away from zero (signed as `net`)."""
    return (net * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def vat_coded(
    lines: list[JournalLine], document: dict[str, Any], refs: References
) -> tuple[list[JournalLine], dict[int, tuple[str, Decimal]]]:
    """A journal's lines with its VAT moved onto the taxed lines: the lines
    to send (tax lines on a VAT code's "to pay" account left out) and, by
    index into them, (VAT code, VAT amount signed as the line) of each taxed
    line. Lines unchanged when the journal has no such tax line.

    Raises DocumentRejected when a VAT account's tax cannot be carried by
    VAT codes: no taxed line has a VAT code of its rate paying to that
    account, or the lines' VAT at their rates differs from the tax by more
    than the source's per-order rounding (half a cent per order) explains."""
    currency = str(document.get("currency") or "")
    items = document["journalLines"]  # one per line of `lines`, in order
    refs_of = [[str(r) for r in (item.get("sourceRefs") or [])] for item in items]
    taxes: dict[str, Decimal] = {}
    for entry in lines:
        if refs.is_vat_account(entry.account):
            taxes[entry.account] = taxes.get(entry.account, Decimal(0)) + entry.amount
    if not taxes:
        return lines, {}
    coded: dict[int, tuple[str, Decimal]] = {}  # index in `lines` -> (code, VAT)
    for tax_account, tax in taxes.items():
        bearing: list[tuple[int, str, Decimal]] = []
        for index, entry in enumerate(lines):
            amount = entry.amount
            found = _RATE_LABEL.search(entry.description.strip())
            if index in coded or entry.account in taxes or not found or not amount:
                continue
            percent = Decimal(found.group(1))
            code = refs.sales_vat_code(tax_account, percent) if percent else None
            if code:
                stated = items[index].get("taxAmount")
                share = Decimal(str(stated)) if stated else vat_share(amount, percent)
                bearing.append((index, code, share))
        if not bearing:
            raise DocumentRejected(
                f"The journal's VAT ({tax} {currency}) cannot go on Exact Online's VAT "
                "return: no VAT code paying to its tax account has the rate of its sales "
                "lines; add the VAT code in Exact Online (or map the tax to another account)"
            )
        residual = tax - sum((share for _i, _c, share in bearing), Decimal(0))
        orders = {ref for index, _c, _s in bearing for ref in refs_of[index]}
        allowed = max(CENT, (Decimal("0.005") * len(orders)).quantize(CENT))
        if abs(residual) > allowed:
            raise DocumentRejected(
                f"The journal's VAT ({tax} {currency}) differs by {residual} from its sales "
                "lines at their rates, more than rounding explains (a discount or charge "
                "without its rate?): Exact Online's VAT return would be wrong. Post "
                "discounts net of VAT, or use the invoice format"
            )
        largest = max(bearing, key=lambda item: abs(lines[item[0]].amount))[0]
        for index, code, share in bearing:
            coded[index] = (code, share + residual if index == largest else share)
    kept = [i for i, line in enumerate(lines) if line.account not in taxes]
    return [lines[i] for i in kept], {
        new: coded[old] for new, old in enumerate(kept) if old in coded
    }


def _settled_invoice_number(document: dict[str, Any], refs: References) -> int | None:
    """The Exact invoice number of the one sales invoice or credit note a
    payment settles (its `links`), for the receivable line's `OurRef`; None
    when it settles several, or the invoice has no number yet (not
    processed)."""
    keys = {
        str(link["id"])
        for link in document.get("links") or []
        if link.get("type") in ("Invoice", "CreditNote")
    }
    return refs.invoice_number(keys.pop()) if len(keys) == 1 else None


def journal_entry_lines(document: dict[str, Any], refs: References) -> list[JournalLine]:
    """The lines of a document written as a general journal entry, with the
    customer on the receivable line and the supplier on the payable one."""
    return journal_lines(
        document,
        LedgerRefs(
            account=refs.gl_account,
            receivable=refs.receivable,
            payable=refs.payable,
            tax_paid=refs.vat_claim_account,
            customer=refs.customer,
            supplier=refs.supplier,
            tax_word="VAT",
        ),
    )


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
