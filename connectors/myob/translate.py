"""Our documents (the `preview_sync` JSON shape) as MYOB Business
(AccountRight v2) entities, and MYOB's rows as our options and plain-words
problems. Pure: no HTTP; what must be looked up in the company file comes
in through `References`.

Field names and types are those of MYOB's SDK contract classes
(../shared/reference/myob/sdk-contracts/Version2: `GeneralLedger/
GeneralJournal`, `GeneralJournalLine`, `Sale/ServiceInvoice`,
`ServiceInvoiceLine`, `CustomerPayment`, `CustomerPaymentLine`, `Account`,
`TaxCode`); links to other entities are `{"UID": ...}` (`BaseLink`); dates
go out as `YYYY-MM-DDT00:00:00` (the company file's own day), amounts as
exact decimals.

Which MYOB entity each document kind becomes:

* invoice -> `Sale/Invoice/Service`, one transaction line per line item
  with its account, tax code and net `Total` (`IsTaxInclusive` false);
  MYOB works each line's tax out from the code's rate (half up, per line).
  Where the sales carried another figure (a till rounds per sale), a
  labelled pair of "Tax rounding" lines per tax code makes MYOB's tax equal
  the source's to the cent: one at that code whose net MYOB's rounding
  turns into exactly the missing tax, one taking the same net back at the
  file's not-reportable code (`rounding_lines`); net sales, tax and total
  all match the day's. Tax on a 0 % code is refused.
* creditNote -> `Sale/Invoice/Service` with negative line totals (MYOB
  keeps a customer credit as a sale with a negative balance).
* payment (money in, every link an invoice) -> `Sale/CustomerPayment`
  deposited to the payment's account and applied to the invoices it links
  (found by their keys).
* a credit note applied to the day's invoices (an exchange: its links
  name them) is, once written, settled against them by a
  `Sale/CreditSettlement` (no money moving), which closes both as Xero's
  allocation does; its Memo is the credit note's key + "#settle".
* a refund (money out, one link: the credit note it pays back) ->
  `Sale/CreditRefund` paid from the payment's account against the credit
  note (found by its key), which closes the credit note in MYOB. Neither
  `Sale/CustomerPayment` (its lines apply to invoices or orders only, money
  in) nor `Sale/CreditSettlement` (a credit applied to invoices, no money
  moving) pays cash out, so the refund is its own entity (SDK contracts,
  Version2/Sale/CreditRefund.cs).
* journalEntry, bill, billPayment, deposit, transfer and any other
  negative payment -> `GeneralLedger/GeneralJournal`, one line per
  account, `Amount` positive and `IsCredit` for the credit side. Bills and
  their payments go through the connection's payable account, other money
  back through its receivable account: the purchase entities are not built
  here, so those lines are not matched to a card.

Currency: nothing carries `ForeignCurrency`; every amount is the company
file's own money, and `MyobTarget` refuses a document in any currency but
the merchant's (see `MyobTarget._currency_problem`).

Where the push key goes (MYOB has no idempotency header), so
`find_document` finds a document after a crash with one `$filter` read:

* a general journal: its `Memo` is the key (the lines keep the words);
* an invoice or credit note: its `JournalMemo` is the key, and its
  `CustomerPurchaseOrderNumber` (20 characters at most) a digest of it,
  shown to the merchant as the customer's reference;
* a customer payment or a credit refund: its `Memo` is the key.

Locations: where the connection maps each location to a MYOB category
(`MyobSettings.categories`, GeneralLedger/Category UIDs), an invoice, credit
note or general journal of that location carries it as its `Category`
(a `CategoryLink`, per Sale/Invoice.cs and GeneralLedger/GeneralJournal.cs).
MYOB keeps the category per transaction, not per line; our documents are
per location, so that is enough. `Sale/CustomerPayment` and
`Sale/CreditRefund` have no `Category` in the contracts: a payment belongs
to the invoice it settles, whose category says the location.
"""

from __future__ import annotations

import base64
import hashlib
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from commerce_sync.errors import DocumentRejected
from connectors.journal_lines import JournalLine, LedgerRefs, journal_lines
from connectors.protocols import AccountOption, TaxRateOption, TrackingOption

GENERAL_JOURNALS = "GeneralLedger/GeneralJournal"
SERVICE_INVOICES = "Sale/Invoice/Service"
INVOICES = "Sale/Invoice"  # every layout, for lookups
CUSTOMER_PAYMENTS = "Sale/CustomerPayment"
ACCOUNTS = "GeneralLedger/Account"
TAX_CODES = "GeneralLedger/TaxCode"
CUSTOMERS = "Contact/Customer"
SUPPLIERS = "Contact/Supplier"
CREDIT_REFUNDS = "Sale/CreditRefund"
CREDIT_SETTLEMENTS = "Sale/CreditSettlement"
SETTLEMENT_SUFFIX = "#settle"  # a credit settlement's Memo: its credit note's key + this
CATEGORIES = "GeneralLedger/Category"
# The kind of tracking MYOB offers a location (TrackingOption.category_id).
CATEGORY_KIND = "Category"
PURCHASE_ORDER_MAX = 20

# MYOB's Classification -> our account types.
ACCOUNT_TYPES = {
    "Asset": "Asset",
    "Liability": "Liability",
    "Equity": "Equity",
    "Income": "Income",
    "OtherIncome": "Income",
    "CostOfSales": "Expense",
    "Expense": "Expense",
    "OtherExpense": "Expense",
}


# A new account's number as MYOB writes it: the classification digit, a
# dash, the four-digit `Number` (Account.cs: "1-1100"; Classification.cs
# gives each classification's digit).
ACCOUNT_NUMBER = re.compile(r"^([1-689])-(\d{4})$")
ACCOUNT_NAME_MAX = 60  # MYOB's Account page: Name String (60)
# Classification digit -> (Classification, the AccountType a new account of
# it gets: AccountType.cs names each type's classification).
NEW_ACCOUNTS = {
    "1": ("Asset", "OtherCurrentAsset"),
    "2": ("Liability", "OtherCurrentLiability"),
    "3": ("Equity", "Equity"),
    "4": ("Income", "Income"),
    "5": ("CostOfSales", "CostOfSales"),
    "6": ("Expense", "Expense"),
    "8": ("OtherIncome", "OtherIncome"),
    "9": ("OtherExpense", "OtherExpense"),
}
NOT_REPORTABLE = "N-T"


def new_account_level(display_id: str, rows: list[dict[str, Any]]) -> int:
    """The `Level` of a new detail account: one below the header account it
    falls under (the last header of its classification numbered before it),
    2 to 4 (Account.cs: levels 2 to 4 only for a new account; 1 is the
    classification's own header)."""
    digit = display_id[0]
    headers = [
        r
        for r in rows
        if r.get("IsHeader")
        and str(r.get("DisplayID") or "").startswith(f"{digit}-")
        and str(r["DisplayID"]) < display_id
    ]
    if not headers:
        return 2
    parent = max(headers, key=lambda r: str(r["DisplayID"]))
    return min(max(int(parent.get("Level") or 1) + 1, 2), 4)


def default_account_tax_code(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The tax code a new account gets as its default: "N-T" (not
    reportable) where the file has it, else its first 0 % code, else its
    first code. Our documents name a tax code on every line, so this only
    pre-fills MYOB's own forms."""
    for row in rows:
        if str(row.get("Code") or "") == NOT_REPORTABLE:
            return row
    zero = [r for r in rows if not Decimal(str(r.get("Rate") or 0))]
    return (zero or rows or [None])[0]


class References(Protocol):
    """What the translation looks up in the company file (UIDs as strings)."""

    def account(self, display_id: str) -> str: ...

    def tax_code(self, code: str) -> str: ...

    def tax_paid_account(self, code: str) -> str: ...

    def tax_rate(self, code: str) -> Decimal: ...

    def untaxed_tax_code(self) -> str | None: ...

    def customer(self, ref: str) -> str: ...

    def receivable(self) -> str: ...

    def payable(self) -> str: ...

    def invoice(self, key: str) -> str | None: ...


def day(value: str) -> str:
    """`2026-11-02` as MYOB's DateTime: midnight of that day, no zone."""
    return f"{value}T00:00:00"


def account_option(row: dict[str, Any]) -> AccountOption:
    """An Account row, identified by its DisplayID ("1-1100")."""
    return AccountOption(
        id=str(row.get("DisplayID") or ""),
        name=str(row.get("Name") or row.get("DisplayID") or ""),
        type=ACCOUNT_TYPES.get(str(row.get("Classification") or ""), "Asset"),
        status="Active" if row.get("IsActive", True) else "Archived",
    )


def tax_rate_option(row: dict[str, Any]) -> TaxRateOption:
    """A TaxCode row; MYOB keeps the rate as a percentage (10.0)."""
    rate = Decimal(str(row.get("Rate") or 0))
    text = f"{rate.normalize():f}" if rate else "0"
    return TaxRateOption(
        id=str(row.get("Code") or ""), name=str(row.get("Description") or row["Code"]), rate=text
    )


def contact_option(row: dict[str, Any]) -> dict[str, str]:
    """A Contact/Customer or Contact/Supplier row as a setup-flow choice:
    id is its UID (what `MyobTarget.customer` takes), name its company name,
    or first and last name for an individual, else its card's DisplayID.
    These field names come from MYOB's published Contact resource
    (developer.myob.com); the SDK contracts in ../shared/reference lack the
    Contact classes."""
    person = " ".join(str(row.get(k) or "") for k in ("FirstName", "LastName")).strip()
    name = str(row.get("CompanyName") or "") or person or str(row.get("DisplayID") or "")
    return {
        "id": str(row["UID"]),
        "name": name,
        "status": "Active" if row.get("IsActive", True) else "Archived",
    }


def category_option(row: dict[str, Any]) -> TrackingOption:
    """A GeneralLedger/Category row as what a location can be posted
    under: its UID kept, shown as "<DisplayID> <Name>"."""
    shown = " ".join(str(row.get(k) or "") for k in ("DisplayID", "Name")).strip()
    return TrackingOption(CATEGORY_KIND, CATEGORY_KIND, str(row["UID"]), shown or str(row["UID"]))


def purchase_order_number(key: str) -> str:
    """A deterministic 20-character stand-in for the key (SHA-256, base32)."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()
    return ("CS" + digest)[:PURCHASE_ORDER_MAX]


def is_invoice(document: dict[str, Any]) -> bool:
    return document["type"] in ("invoice", "creditNote")


def is_customer_payment(document: dict[str, Any]) -> bool:
    links = document.get("links") or []
    return (
        document["type"] == "payment"
        and Decimal(document["totalAmount"]) > 0
        and bool(links)
        and all(link.get("type") == "Invoice" for link in links)
    )


def is_credit_refund(document: dict[str, Any]) -> bool:
    """Money paid back (a negative payment) against exactly one credit note,
    for the whole amount."""
    links = document.get("links") or []
    return (
        document["type"] == "payment"
        and Decimal(document["totalAmount"]) < 0
        and len(links) == 1
        and links[0].get("type") == "CreditNote"
        and Decimal(links[0]["amount"]) == -Decimal(document["totalAmount"])
    )


def endpoint_of(document: dict[str, Any]) -> str:
    """Where a document of this kind is written."""
    if is_invoice(document):
        return SERVICE_INVOICES
    if is_customer_payment(document):
        return CUSTOMER_PAYMENTS
    if is_credit_refund(document):
        return CREDIT_REFUNDS
    return GENERAL_JOURNALS


def to_entity(
    key: str, document: dict[str, Any], refs: References, category: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The endpoint (relative to the company file) and body to create for
    one document; `category` the UID of the MYOB category of its location
    (set on invoices, credit notes and general journals). Raises
    DocumentRejected for what MYOB cannot take."""
    tracked = {"Category": {"UID": category}} if category else {}
    if is_invoice(document):
        return SERVICE_INVOICES, {**_invoice(key, document, refs), **tracked}
    if is_customer_payment(document):
        return CUSTOMER_PAYMENTS, _customer_payment(key, document, refs)
    if is_credit_refund(document):
        return CREDIT_REFUNDS, _credit_refund(key, document, refs)
    lines = _journal_lines(document, refs)
    if not lines:
        raise DocumentRejected(f"A {document['type']} document cannot be written to MYOB")
    description = str(document.get("description") or "")
    body_lines = [
        {
            "Account": {"UID": line.account},
            "Memo": (line.description or description)[:255],
            "Amount": abs(line.amount),
            "IsCredit": line.amount < 0,
        }
        for line in lines
        if line.amount
    ]
    body = {
        "DateOccurred": day(document["date"]),
        "IsTaxInclusive": False,
        "IsYearEndAdjustment": False,
        "GSTReportingMethod": "Purchase" if document["type"] == "bill" else "Sale",
        "Memo": key,
        "Lines": body_lines,
        **tracked,
    }
    return GENERAL_JOURNALS, body


CENT = Decimal("0.01")


def worked_tax(net: Decimal, rate: Decimal) -> Decimal:
    """The tax MYOB works out for a line of `net` at `rate` % (half up to
    the cent; the material does not state MYOB's rounding)."""
    return (net * rate / 100).quantize(CENT, ROUND_HALF_UP)


def rounding_net(gap: Decimal, rate: Decimal) -> Decimal:
    """The smallest net (in cents) whose `worked_tax` at `rate` % (> 0) is
    exactly `gap`: a 0.01 gap at 20 % is 0.05."""
    net = (gap * 100 / rate).quantize(CENT, ROUND_HALF_UP)
    for step in range(200):
        for candidate in (net + step * CENT, net - step * CENT):
            if worked_tax(candidate, rate) == gap:
                return candidate
    raise DocumentRejected(f"No MYOB line at {rate}% carries a tax of {gap}")  # pragma: no cover


def rounding_lines(
    document: dict[str, Any], refs: References, sign: Decimal
) -> list[dict[str, Any]]:
    """For each tax code whose lines' tax (as the sales carried it) differs
    from what MYOB works out line by line, two labelled lines on the first
    such line's account: net n at that code (MYOB's tax on it is the gap)
    and -n at the not-reportable code. Raises DocumentRejected for tax on a
    0 % code, or a file with no untaxed code to balance the pair."""
    gaps: dict[str, tuple[Decimal, str]] = {}
    for item in document["lineItems"]:
        code = str((item.get("taxRateRef") or {}).get("id"))
        rate = refs.tax_rate(code)
        net, tax = Decimal(item["subTotal"]), Decimal(item.get("taxAmount") or 0)
        gap, account = gaps.get(code, (Decimal(0), item["accountRef"]["id"]))
        gaps[code] = (gap + tax - worked_tax(net, rate), account)
    lines: list[dict[str, Any]] = []
    for code, (gap, account) in gaps.items():
        if not gap:
            continue
        rate = refs.tax_rate(code)
        if not rate:
            raise DocumentRejected(
                f"Lines at tax code {code} (0 %) carry tax {gap}; map that rate to a "
                "MYOB tax code with its percentage"
            )
        untaxed = refs.untaxed_tax_code()
        if untaxed is None:
            raise DocumentRejected(
                "MYOB works tax out per line and the sales rounded it otherwise; the "
                "company file needs a 0 % tax code (N-T) for the rounding lines"
            )
        net = rounding_net(gap, rate)
        words = f"Tax rounding at {code}: the sales' tax differs by {gap} from MYOB's per line"
        lines += [
            {
                "Type": "Transaction",
                "Description": words[:255],
                "Account": {"UID": refs.account(account)},
                "Total": sign * net,
                "TaxCode": {"UID": refs.tax_code(code)},
            },
            {
                "Type": "Transaction",
                "Description": "Tax rounding: takes back the net of the line above",
                "Account": {"UID": refs.account(account)},
                "Total": -sign * net,
                "TaxCode": {"UID": untaxed},
            },
        ]
    return lines


def _invoice(key: str, document: dict[str, Any], refs: References) -> dict[str, Any]:
    sign = Decimal(-1) if document["type"] == "creditNote" else Decimal(1)
    lines = []
    for item in document["lineItems"]:
        code = (item.get("taxRateRef") or {}).get("id")
        if not code:
            raise DocumentRejected(
                f"Line {item.get('description')!r} has no tax code; MYOB needs one on every line"
            )
        lines.append(
            {
                "Type": "Transaction",
                "Description": str(item.get("description") or "")[:255],
                "Account": {"UID": refs.account(item["accountRef"]["id"])},
                "Total": sign * Decimal(item["subTotal"]),
                "TaxCode": {"UID": refs.tax_code(code)},
            }
        )
    return {
        "Date": day(document["date"]),
        "Customer": {"UID": refs.customer(document["customerRef"]["id"])},
        "CustomerPurchaseOrderNumber": purchase_order_number(key),
        "JournalMemo": key,
        "Comment": str(document.get("description") or "")[:255],
        "IsTaxInclusive": False,
        "Lines": lines + rounding_lines(document, refs, sign),
    }


def _customer_payment(key: str, document: dict[str, Any], refs: References) -> dict[str, Any]:
    applied = []
    for link in document["links"]:
        invoice = refs.invoice(str(link["id"]))
        if invoice is None:
            raise DocumentRejected(
                f"The invoice this payment settles ({link['id']}) is not in MYOB yet; "
                "it is written first, so try the sync again"
            )
        applied.append(
            {"UID": invoice, "AmountApplied": Decimal(link["amount"]), "Type": "Invoice"}
        )
    return {
        "DepositTo": "Account",
        "Account": {"UID": refs.account(document["accountRef"]["id"])},
        "Customer": {"UID": refs.customer(document["customerRef"]["id"])},
        "Date": day(document["date"]),
        "AmountReceived": Decimal(document["totalAmount"]),
        "Memo": key,
        "Invoices": applied,
    }


def _credit_refund(key: str, document: dict[str, Any], refs: References) -> dict[str, Any]:
    """A `Sale/CreditRefund` (amount positive, paid from the payment's
    account) against the credit note its one link names."""
    link = document["links"][0]
    credit_note = refs.invoice(str(link["id"]))
    if credit_note is None:
        raise DocumentRejected(
            f"The credit note this refund pays back ({link['id']}) is not in MYOB yet; "
            "it is written first, so try the sync again"
        )
    return {
        "Account": {"UID": refs.account(document["accountRef"]["id"])},
        "Invoice": {"UID": credit_note},
        "Customer": {"UID": refs.customer(document["customerRef"]["id"])},
        "Date": day(document["date"]),
        "Amount": -Decimal(document["totalAmount"]),
        "Memo": key,
    }


def applied_to_invoices(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The links of a credit note applied to the day's invoices (an
    exchange: type Invoice, amount applied > 0); [] for anything else."""
    if document.get("type") != "creditNote":
        return []
    return [
        link
        for link in document.get("links") or []
        if link.get("type") == "Invoice" and Decimal(str(link.get("amount") or 0)) > 0
    ]


def credit_settlement(
    key: str, document: dict[str, Any], refs: References, credit_note: str
) -> dict[str, Any]:
    """A `Sale/CreditSettlement` applying credit note `credit_note` (its
    UID; `key` its push key) to the invoices its links name, no money
    moving (SDK contracts, Version2/Sale/CreditSettlement.cs and
    CreditSettlementLine.cs: `CreditFromInvoice`, `Customer`, `Date`,
    `CreditAmount`, `Memo`, `Lines` of `Type` Invoice, `Sale`,
    `AmountApplied`). Its Memo is the key plus `SETTLEMENT_SUFFIX`.
    DocumentRejected when an invoice is not in MYOB yet."""
    lines = []
    for link in applied_to_invoices(document):
        invoice = refs.invoice(str(link["id"]))
        if invoice is None:
            raise DocumentRejected(
                f"The invoice this credit note is applied to ({link['id']}) is not in MYOB yet; "
                "it is written first, so try the sync again"
            )
        lines.append(
            {"Type": "Invoice", "Sale": {"UID": invoice}, "AmountApplied": Decimal(link["amount"])}
        )
    return {
        "CreditFromInvoice": {"UID": credit_note},
        "Customer": {"UID": refs.customer(document["customerRef"]["id"])},
        "Date": day(document["date"]),
        "CreditAmount": sum((line["AmountApplied"] for line in lines), Decimal(0)),
        "Memo": key + SETTLEMENT_SUFFIX,
        "Lines": lines,
    }


def _journal_lines(document: dict[str, Any], refs: References) -> list[JournalLine]:
    """The lines of a document written as a general journal; bills and their
    payments through the connection's payable account, other money back
    through its receivable account, no cards on the lines."""
    return journal_lines(
        document,
        LedgerRefs(
            account=refs.account,
            receivable=refs.receivable,
            payable=refs.payable,
            tax_paid=refs.tax_paid_account,
        ),
    )
