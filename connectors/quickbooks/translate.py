"""Our documents (the `preview_sync` JSON shape) as QuickBooks entities, and
QuickBooks' rows as our options and plain-words problems. Pure: no HTTP; what
has to be looked up in the company comes in through `References`.

Field names are the element names of `Finance.xsd`. Every entity carries the
push key twice: a short digest in `DocNumber` (QuickBooks allows 21
characters there and can filter on it) and the whole key in `PrivateNote`.

Two QuickBooks rules shape the translation:
* Sales lines cannot name an income account; they name an Item, whose
  income account receives the amount. The adapter keeps one service item per
  income account ("Commerce Sync <account id>").
* A Payment cannot be negative. Money paid back against a credit note is
  posted as a JournalEntry: debit Accounts Receivable for the customer
  (which offsets the credit memo's credit), credit the clearing account. A
  RefundReceipt was rejected: it carries its own sales lines, so it would
  reverse the revenue a second time on top of the CreditMemo. The adapter
  then applies the journal's charge to the credit memo with a 0.00 Payment
  (`QuickBooksTarget.complete_document`), so neither stays open.

Locations become QuickBooks departments or classes (the connection's
`settings["locations"]`): a Department on the transaction (every entity we
write allows `DepartmentRef`), a Class on each line whose detail allows
`ClassRef` (sales, expense, deposit and journal lines) or on the transaction
where only it does (Transfer). Finance.xsd gives Payment and BillPayment no
class at all: they settle documents that carry it.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from connectors.protocols import AccountOption, TaxRateOption

DOC_NUMBER_MAX = 21
# Our account types -> the QuickBooks AccountType used when we create one.
ACCOUNT_TYPES = {
    "Asset": "Other Current Asset",
    "Liability": "Other Current Liability",
    "Equity": "Equity",
    "Income": "Income",
    "Expense": "Expense",
}
# QuickBooks' Classification -> our account type.
CLASSIFICATIONS = {"Revenue": "Income"}
# Our contact kinds -> the QuickBooks entity.
CONTACT_ENTITIES = {"customer": "Customer", "supplier": "Vendor"}
TRACKING_KINDS = ("Department", "Class")


@dataclass(frozen=True)
class TrackingOption:
    """A department or class a location can be tracked by: `category` the
    kind (one of TRACKING_KINDS), `option_id` its Id, `option` its name."""

    category_id: str
    category: str
    option_id: str
    option: str


# What check_references calls each entity in its messages.
LABELS = {"Account": "Account", "TaxCode": "Tax code", "Customer": "Customer", "Vendor": "Vendor"}

# Our document type -> the QuickBooks entity it becomes.
ENTITY_OF = {
    "journalEntry": "JournalEntry",
    "invoice": "Invoice",
    "creditNote": "CreditMemo",
    "payment": "Payment",
    "bill": "Bill",
    "billPayment": "BillPayment",
    "deposit": "Deposit",
    "transfer": "Transfer",
}


class Tracking(NamedTuple):
    """Where a document's location goes: ("Department" | "Class", its Id)."""

    by: str
    id: str


class References(Protocol):
    """What the translation needs to look up in the company."""

    def linked_id(self, key: str) -> str: ...

    def item_for(self, account_id: str) -> str: ...

    def tax_rates_of(self, tax_code_id: str) -> list[tuple[str, Decimal]]: ...

    def receivable_account(self) -> str: ...


def quoted(value: str) -> str:
    """A string literal for QuickBooks' query language (not SQL: it reads one
    company's entities; every value we put in a statement passes through here,
    which is why the S608 warnings at the statements are silenced)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def status_of(row: dict[str, Any]) -> str:
    return "Active" if row.get("Active", True) else "Archived"


def account_option(row: dict[str, Any]) -> AccountOption:
    """An Account row, identified by QuickBooks' Id."""
    return AccountOption(
        id=str(row["Id"]),
        name=row.get("Name", ""),
        type=CLASSIFICATIONS.get(row.get("Classification", ""), row.get("Classification"))
        or row.get("AccountType", ""),
        status=status_of(row),
    )


def tax_rate_option(code: dict[str, Any], rates: list[tuple[str, Decimal]]) -> TaxRateOption:
    """A TaxCode row with its sales rates' total percentage."""
    return TaxRateOption(
        id=str(code["Id"]),
        name=code.get("Name", str(code["Id"])),
        rate=str(sum((p for _, p in rates), Decimal(0))),
    )


def rates_by_code(
    rates: list[dict[str, Any]], codes: list[dict[str, Any]]
) -> dict[str, list[tuple[str, Decimal]]]:
    """TaxCode Id -> its sales rates as (TaxRate Id, percentage), from the
    TaxRate and TaxCode rows."""
    percent = {str(r["Id"]): Decimal(str(r.get("RateValue", 0))) for r in rates}
    return {
        str(code["Id"]): [
            (
                str(d["TaxRateRef"]["value"]),
                percent.get(str(d["TaxRateRef"]["value"]), Decimal(0)),
            )
            for d in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail", [])
        ]
        for code in codes
    }


def inactive_problems(label: str, ids: set[str], rows: list[dict[str, Any]]) -> list[str]:
    """Plain words for the ids missing or inactive among one entity's rows."""
    found = {str(r["Id"]): r for r in rows}
    problems = []
    for entity_id in sorted(ids):
        row = found.get(entity_id)
        if row is None:
            problems.append(f"{label} {entity_id} does not exist in QuickBooks")
        elif not row.get("Active", True):
            name = row.get("DisplayName") or row.get("Name") or ""
            named = (
                f"{label} {name} ({entity_id})"
                if name and name != entity_id
                else f"{label} {entity_id}"
            )
            problems.append(f"{named} is inactive in QuickBooks")
    return problems


def doc_number(key: str) -> str:
    """A deterministic 21-character stand-in for the key (~95 bits of a
    SHA-256 digest: no two keys of one company will share it)."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()
    return ("CS" + digest)[:DOC_NUMBER_MAX]


def entity_name(document: dict[str, Any]) -> str:
    if document["type"] == "payment" and Decimal(document["totalAmount"]) < 0:
        return "JournalEntry"
    return ENTITY_OF[document["type"]]


def _ref(value: str) -> dict[str, str]:
    return {"value": value}


def _header(key: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "DocNumber": doc_number(key),
        "PrivateNote": key,
        "TxnDate": document["date"],
        "CurrencyRef": _ref(document["currency"]),
    }


def to_entity(
    key: str, document: dict[str, Any], refs: References, tracking: Tracking | None = None
) -> tuple[str, dict[str, Any]]:
    """The entity name and body to create for one document (its location
    tracked as `tracking` says, when given)."""
    name = entity_name(document)
    kind = document["type"]
    body = _header(key, document)
    if kind == "journalEntry":
        body["Line"] = [
            _journal_line(line["accountRef"]["id"], Decimal(line["netAmount"]), line["description"])
            for line in document["journalLines"]
        ]
    elif kind in ("invoice", "creditNote"):
        body.update(_sales(document, refs))
    elif kind == "payment" and name == "JournalEntry":
        body.update(_refund_journal(document, refs))
    elif kind == "payment":
        body.update(
            CustomerRef=_ref(document["customerRef"]["id"]),
            DepositToAccountRef=_ref(document["accountRef"]["id"]),
            TotalAmt=Decimal(document["totalAmount"]),
            Line=_links(document, refs, "Invoice"),
        )
    elif kind == "bill":
        body.update(_bill(document, refs))
    elif kind == "billPayment":
        body.update(
            VendorRef=_ref(document["supplierRef"]["id"]),
            PayType="Check",
            CheckPayment={"BankAccountRef": _ref(document["accountRef"]["id"])},
            TotalAmt=Decimal(document["totalAmount"]),
            Line=_links(document, refs, "Bill"),
        )
    elif kind == "deposit":
        body["DepositToAccountRef"] = _ref(document["accountRef"]["id"])
        body["Line"] = [
            {
                "Amount": Decimal(line["totalAmount"]),
                "Description": line["description"],
                "DetailType": "DepositLineDetail",
                "DepositLineDetail": {"AccountRef": _ref(line["accountRef"]["id"])},
            }
            for line in document["lineItems"]
        ]
    elif kind == "transfer":
        amount = Decimal(document["amount"])
        source, target = document["fromAccountRef"]["id"], document["toAccountRef"]["id"]
        if amount < 0:  # a transfer's amount must be positive: swap the direction
            source, target, amount = target, source, -amount
        body.update(FromAccountRef=_ref(source), ToAccountRef=_ref(target), Amount=amount)
    if tracking is not None:
        _track(name, body, tracking)
    return name, body


# The line details that may carry a ClassRef (Finance.xsd).
CLASS_DETAILS = (
    "SalesItemLineDetail",
    "JournalEntryLineDetail",
    "AccountBasedExpenseLineDetail",
    "DepositLineDetail",
)


def _track(entity: str, body: dict[str, Any], tracking: Tracking) -> None:
    if tracking.by == "Department":
        body["DepartmentRef"] = _ref(tracking.id)
        return
    if entity == "Transfer":
        body["ClassRef"] = _ref(tracking.id)
    for line in body.get("Line", []):
        detail = line.get(line.get("DetailType", ""))
        if line.get("DetailType") in CLASS_DETAILS and detail is not None:
            detail["ClassRef"] = _ref(tracking.id)


def _journal_line(
    account_id: str, net: Decimal, description: str, entity: dict[str, Any] | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "PostingType": "Debit" if net >= 0 else "Credit",
        "AccountRef": _ref(account_id),
    }
    if entity is not None:
        detail["Entity"] = entity
    return {
        "Amount": abs(net),
        "Description": description,
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": detail,
    }


def _refund_journal(document: dict[str, Any], refs: References) -> dict[str, Any]:
    amount = -Decimal(document["totalAmount"])
    customer = {"Type": "Customer", "EntityRef": _ref(document["customerRef"]["id"])}
    return {
        "Line": [
            _journal_line(refs.receivable_account(), amount, document["description"], customer),
            _journal_line(document["accountRef"]["id"], -amount, document["description"]),
        ]
    }


def _links(document: dict[str, Any], refs: References, txn_type: str) -> list[dict[str, Any]]:
    return [
        {
            "Amount": Decimal(link["amount"]),
            "LinkedTxn": [{"TxnId": refs.linked_id(link["id"]), "TxnType": txn_type}],
        }
        for link in document["links"]
    ]


def _tax_detail(
    lines: list[dict[str, Any]], refs: References
) -> tuple[dict[str, Any] | None, Decimal]:
    """TxnTaxDetail from our lines' tax amounts (the source's figures, never
    recomputed). A code with several rates (e.g. GST + QST) has its amount
    shared by rate, the last rate taking the rounding remainder."""
    taxable: dict[str, Decimal] = defaultdict(Decimal)
    tax: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        code = (line.get("taxRateRef") or {}).get("id")
        if code and Decimal(line.get("taxAmount") or 0):
            taxable[code] += Decimal(line["subTotal"])
            tax[code] += Decimal(line["taxAmount"])
    tax_lines: list[dict[str, Any]] = []
    for code, amount in tax.items():
        rates = refs.tax_rates_of(code)
        total_percent = sum((percent for _, percent in rates), Decimal(0))
        left = amount
        for index, (rate_id, percent) in enumerate(rates):
            share = (
                left
                if index == len(rates) - 1
                else (amount * percent / total_percent).quantize(amount)
            )
            left -= share
            tax_lines.append(
                {
                    "Amount": share,
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": _ref(rate_id),
                        "PercentBased": True,
                        "TaxPercent": percent,
                        "NetAmountTaxable": taxable[code],
                    },
                }
            )
    total = sum(tax.values(), Decimal(0))
    if not tax_lines:
        return None, total
    return {"TotalTax": total, "TaxLine": tax_lines}, total


def _sales(document: dict[str, Any], refs: References) -> dict[str, Any]:
    lines = []
    for line in document["lineItems"]:
        amount = Decimal(line["subTotal"])
        detail: dict[str, Any] = {
            "ItemRef": _ref(refs.item_for(line["accountRef"]["id"])),
            "Qty": Decimal(1),
            "UnitPrice": amount,
        }
        if line.get("taxRateRef"):
            detail["TaxCodeRef"] = _ref(line["taxRateRef"]["id"])
        lines.append(
            {
                "Amount": amount,
                "Description": line["description"],
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )
    return _taxed_body({"CustomerRef": _ref(document["customerRef"]["id"])}, lines, document, refs)


def _bill(document: dict[str, Any], refs: References) -> dict[str, Any]:
    lines = []
    for line in document["lineItems"]:
        detail: dict[str, Any] = {"AccountRef": _ref(line["accountRef"]["id"])}
        if line.get("taxRateRef"):
            detail["TaxCodeRef"] = _ref(line["taxRateRef"]["id"])
        lines.append(
            {
                "Amount": Decimal(line["subTotal"]),
                "Description": line["description"],
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": detail,
            }
        )
    return _taxed_body({"VendorRef": _ref(document["supplierRef"]["id"])}, lines, document, refs)


def _taxed_body(
    party: dict[str, Any], lines: list[dict[str, Any]], document: dict[str, Any], refs: References
) -> dict[str, Any]:
    """An itemised entity (invoice, credit memo, bill): its party, lines, and
    the source's tax amounts by tax code (tax-exclusive, never recomputed)."""
    body: dict[str, Any] = {**party, "Line": lines, "GlobalTaxCalculation": "TaxExcluded"}
    tax, _ = _tax_detail(document["lineItems"], refs)
    if tax:
        body["TxnTaxDetail"] = tax
    return body
