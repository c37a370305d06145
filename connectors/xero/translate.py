"""Our documents (the `preview_sync` JSON shape) as Xero Accounting API
elements, and Xero's rows as our options and plain-words problems. Pure: no
HTTP; what has to be looked up in the organisation (a linked document's id,
a location's tracking option) comes in through `References`.

Field names are those of Xero's Accounting API (developer.xero.com,
"Accounting API" reference: Invoices, CreditNotes, ManualJournals, Payments,
BankTransactions, BankTransfers). Each element carries the push key: in
Reference (InvoiceNumber on a bill, where Xero keeps the supplier's
reference) or at the end of a manual journal's Narration as "[key]".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast

from commerce_sync.errors import DocumentRejected
from connectors.protocols import AccountOption, TaxRateOption
from connectors.xero.client import validation_message

# Xero's account Class -> our account type.
ACCOUNT_TYPES = {"ASSET": "Asset", "LIABILITY": "Liability", "EQUITY": "Equity"}
ACCOUNT_TYPES |= {"REVENUE": "Income", "EXPENSE": "Expense"}
# The Xero account type a new account of each of our types gets.
NEW_ACCOUNT_TYPES = {
    "Asset": "CURRENT",
    "Liability": "CURRLIAB",
    "Equity": "EQUITY",
    "Income": "REVENUE",
    "Expense": "EXPENSE",
}
# Xero applies payments only to authorised invoices, which is what Codat's
# "Submitted" means there; a draft stays a draft.
_INVOICE_STATUS = {"Draft": "DRAFT", "Submitted": "AUTHORISED", "Authorised": "AUTHORISED"}
# The document types whose lines may carry a location's tracking option.
TRACKED = ("journalEntry", "invoice", "bill", "creditNote")


@dataclass(frozen=True)
class ContactOption:
    id: str
    name: str
    status: str  # Active, Archived
    is_customer: bool
    is_supplier: bool


@dataclass(frozen=True)
class TrackingOption:
    category_id: str
    category: str
    option_id: str
    option: str


@dataclass(frozen=True)
class Endpoint:
    """Where one kind of document lives: its path, the collection its rows
    come in, the id field, and the field that carries our key."""

    path: str
    collection: str
    id_field: str
    key_field: str = "Reference"


INVOICES = Endpoint("/Invoices", "Invoices", "InvoiceID")
# On a bill (ACCPAY) Xero keeps the supplier's reference in InvoiceNumber;
# its Reference field is for sales invoices only.
BILLS = Endpoint("/Invoices", "Invoices", "InvoiceID", "InvoiceNumber")
CREDIT_NOTES = Endpoint("/CreditNotes", "CreditNotes", "CreditNoteID")
JOURNALS = Endpoint("/ManualJournals", "ManualJournals", "ManualJournalID", "Narration")
PAYMENTS = Endpoint("/Payments", "Payments", "PaymentID")
BANK_TRANSACTIONS = Endpoint("/BankTransactions", "BankTransactions", "BankTransactionID")
TRANSFERS = Endpoint("/BankTransfers", "BankTransfers", "BankTransferID")

ENDPOINT_OF = {
    "journalEntry": JOURNALS,
    "invoice": INVOICES,
    "bill": BILLS,
    "creditNote": CREDIT_NOTES,
    "payment": PAYMENTS,
    "billPayment": PAYMENTS,
    "deposit": BANK_TRANSACTIONS,
    "transfer": TRANSFERS,
}
_LINKED = {"Invoice": INVOICES, "Bill": BILLS, "CreditNote": CREDIT_NOTES}


class References(Protocol):
    """What the translation needs looked up in the organisation."""

    bank_contact_id: str | None

    def tracking_for(self, document: dict[str, Any]) -> list[dict[str, str]] | None: ...

    def find_linked(self, endpoint: Endpoint, key: str) -> str: ...


# -- Xero's rows as our options ---------------------------------------------------


def account_option(row: dict[str, Any]) -> AccountOption:
    """An account row of GET /Accounts, identified by its Code."""
    return AccountOption(
        id=row.get("Code") or row["AccountID"],
        name=row.get("Name", ""),
        type=ACCOUNT_TYPES.get(row.get("Class", ""), row.get("Type", "")),
        status="Archived" if row.get("Status") == "ARCHIVED" else "Active",
    )


def tax_rate_option(row: dict[str, Any]) -> TaxRateOption:
    """A row of GET /TaxRates, identified by its TaxType."""
    return TaxRateOption(
        id=row["TaxType"],
        name=row.get("Name", row["TaxType"]),
        rate=str(row.get("EffectiveRate", row.get("DisplayTaxRate", "0"))),
    )


def contact_option(row: dict[str, Any]) -> ContactOption:
    return ContactOption(
        id=row["ContactID"],
        name=row.get("Name", ""),
        status="Archived" if row.get("ContactStatus") == "ARCHIVED" else "Active",
        is_customer=bool(row.get("IsCustomer")),
        is_supplier=bool(row.get("IsSupplier")),
    )


# -- finding our keys ------------------------------------------------------------------


def quoted(value: str) -> str:
    """A string literal for Xero's `where` filters."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_clause(endpoint: Endpoint, key: str) -> str:
    """The `where` filter matching the document that carries `key`."""
    if endpoint.key_field == "Narration":
        return f"Narration.EndsWith({quoted(f'[{key}]')})"
    return f"{endpoint.key_field}=={quoted(key)}"


def carries(endpoint: Endpoint, row: dict[str, Any], key: str) -> bool:
    """Whether a row found at `endpoint` is the document written with `key`."""
    if endpoint.key_field == "Narration":
        return str(row.get("Narration") or "").endswith(f"[{key}]")
    return row.get(endpoint.key_field) == key


def element_error(row: dict[str, Any]) -> DocumentRejected | None:
    """The refusal of one element of a summarizeErrors=false answer."""
    refused = (
        row.get("ValidationErrors")
        or row.get("HasErrors")
        or row.get("HasValidationErrors")
        or row.get("StatusAttributeString") == "ERROR"
    )
    if not refused:
        return None
    return DocumentRejected(validation_message({"Elements": [row]}))


# -- locations --------------------------------------------------------------------------


def tracking_of(
    tracking: dict[str, Any], location: Any, categories: Callable[[], list[dict[str, Any]]]
) -> list[dict[str, str]]:
    """The Tracking a line carries for `location`, given the connection's
    tracking settings ({"category": TrackingCategoryID or name, "options":
    {locationId: option name}}) and the organisation's tracking categories
    (read only when the location is mapped). Raises `DocumentRejected` when
    the location is unmapped or its category or option is not active."""
    option = (tracking.get("options") or {}).get(str(location))
    if not option:
        raise DocumentRejected(
            f"Location {location} is not mapped to a Xero tracking option; "
            "map it in the connection's settings"
        )
    wanted = str(tracking["category"])
    category = next(
        (
            c
            for c in categories()
            if wanted in (c.get("TrackingCategoryID"), c.get("Name"))
            and c.get("Status", "ACTIVE") == "ACTIVE"
        ),
        None,
    )
    if category is None:
        raise DocumentRejected(f"Tracking category {wanted} does not exist in Xero")
    found = next(
        (
            o
            for o in category.get("Options") or []
            if o.get("Name") == option and o.get("Status", "ACTIVE") == "ACTIVE"
        ),
        None,
    )
    if found is None:
        raise DocumentRejected(
            f"Tracking option {option} (location {location}) does not exist in "
            f"Xero's {category['Name']} category"
        )
    return [
        {
            "TrackingCategoryID": category["TrackingCategoryID"],
            "Name": category["Name"],
            "Option": found["Name"],
        }
    ]


# -- the check before a sync writes anything ----------------------------------------------


def named(name: str | None, code: str) -> str:
    return f"{name} ({code})" if name and name != code else code


def account_problems(codes: set[str], rows: list[dict[str, Any]]) -> list[str]:
    """Plain words for the account codes missing, deleted or archived among
    the rows of GET /Accounts."""
    found = {a.get("Code"): a for a in rows}
    problems = []
    for code in sorted(codes):
        account = found.get(code)
        if account is None or account.get("Status") == "DELETED":
            problems.append(f"Account {code} does not exist in Xero")
        elif account.get("Status") == "ARCHIVED":
            problems.append(f"Account {named(account.get('Name'), code)} is archived in Xero")
    return problems


def tax_rate_problems(tax_types: set[str], rows: list[dict[str, Any]]) -> list[str]:
    """Plain words for the tax types missing or not active among the rows
    of GET /TaxRates."""
    rates = {r["TaxType"]: r for r in rows}
    problems = []
    for tax_type in sorted(tax_types):
        rate = rates.get(tax_type)
        if rate is None:
            problems.append(f"Tax rate {tax_type} does not exist in Xero")
        elif rate.get("Status", "ACTIVE") != "ACTIVE":
            status = str(rate["Status"]).lower()
            problems.append(f"Tax rate {named(rate.get('Name'), tax_type)} is {status} in Xero")
    return problems


def contact_problem(contact_id: str, contact: dict[str, Any] | None) -> str | None:
    """Plain words when the contact is missing or not active, else None."""
    if contact is None:
        return f"Contact {contact_id} does not exist in Xero"
    if contact.get("ContactStatus", "ACTIVE") != "ACTIVE":
        status = str(contact["ContactStatus"]).lower()
        return f"Contact {named(contact.get('Name'), contact_id)} is {status} in Xero"
    return None


# -- our documents as Xero elements ------------------------------------------------------


def to_elements(key: str, document: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    """The elements to PUT for one document at `ENDPOINT_OF[document["type"]]`:
    one, or one payment per document a payment settles. Raises
    `DocumentRejected` when Xero cannot take it."""
    builder = _BUILDERS.get(document.get("type", ""))
    if builder is None:
        raise DocumentRejected(f"Xero cannot take a document of type {document.get('type')!r}")
    return builder(key, document, refs)


def narration(document: dict[str, Any], key: str) -> str:
    description = str(document.get("description") or "Daily sales").strip()
    return f"{description} [{key}]"


def _journal(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    tracking = refs.tracking_for(doc)
    lines = [
        {
            "LineAmount": Decimal(line["netAmount"]),  # debit +, credit -, as Xero
            "AccountCode": line["accountRef"]["id"],
            "Description": line.get("description") or "",
        }
        | ({"Tracking": tracking} if tracking else {})
        for line in doc["journalLines"]
    ]
    return [
        {
            "Narration": narration(doc, key),
            "Date": doc["date"],
            "Status": "POSTED",
            "LineAmountTypes": "NoTax",
            "JournalLines": lines,
        }
    ]


def _sales_document(
    key: str, doc: dict[str, Any], refs: References, xero_type: str
) -> dict[str, Any]:
    party = cast(dict[str, Any], doc.get("customerRef") or doc.get("supplierRef"))
    contact = party["id"]
    tracking = refs.tracking_for(doc)
    return {
        "Type": xero_type,
        "Contact": {"ContactID": contact},
        "Date": doc["date"],
        "DueDate": doc["date"],
        "Reference": key,
        "CurrencyCode": doc["currency"],
        "Status": _INVOICE_STATUS.get(doc.get("status", "Submitted"), "AUTHORISED"),
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            _line_item(line) | ({"Tracking": tracking} if tracking else {})
            for line in doc["lineItems"]
        ],
    }


def _invoice(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    return [_sales_document(key, doc, refs, "ACCREC")]


def _credit_note(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    return [_sales_document(key, doc, refs, "ACCRECCREDIT")]


def _bill(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    bill = _sales_document(key, {**doc, "status": "Authorised"}, refs, "ACCPAY")
    bill["InvoiceNumber"] = bill.pop("Reference")
    return [bill]


def _payment(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    payments = []
    for link in doc.get("links") or []:
        endpoint = _LINKED.get(link["type"])
        if endpoint is None:
            raise DocumentRejected(f"Xero cannot pay a linked {link['type']}")
        target_id = refs.find_linked(endpoint, link["id"])
        field = "CreditNote" if endpoint is CREDIT_NOTES else "Invoice"
        payments.append(
            {
                field: {endpoint.id_field: target_id},
                "Account": {"Code": doc["accountRef"]["id"]},
                "Date": doc["date"],
                # Xero's amounts are positive; the linked document gives the direction.
                "Amount": abs(Decimal(link["amount"])),
                "Reference": key,
            }
        )
    if not payments:
        raise DocumentRejected("A payment must name the invoice or credit note it settles")
    return payments


def _deposit(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    transaction: dict[str, Any] = {
        "Type": "RECEIVE",
        "BankAccount": {"Code": doc["accountRef"]["id"]},
        "Date": doc["date"],
        "Reference": key,
        "CurrencyCode": doc["currency"],
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": line.get("description") or "",
                "Quantity": Decimal(1),
                "UnitAmount": Decimal(line["totalAmount"]),
                "LineAmount": Decimal(line["totalAmount"]),
                "AccountCode": line["accountRef"]["id"],
            }
            for line in doc["lineItems"]
        ],
    }
    contact = (doc.get("supplierRef") or {}).get("id") or refs.bank_contact_id
    if contact:
        transaction["Contact"] = {"ContactID": contact}
    return [transaction]


def _transfer(key: str, doc: dict[str, Any], refs: References) -> list[dict[str, Any]]:
    return [
        {
            "FromBankAccount": {"Code": doc["fromAccountRef"]["id"]},
            "ToBankAccount": {"Code": doc["toAccountRef"]["id"]},
            "Amount": Decimal(doc["amount"]),
            "Date": doc["date"],
            "Reference": key,
        }
    ]


def _line_item(line: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Description": line.get("description") or "Sales",
        "Quantity": Decimal(1),
        "UnitAmount": Decimal(line["subTotal"]),
        "LineAmount": Decimal(line["subTotal"]),
        "AccountCode": line["accountRef"]["id"],
        "TaxAmount": Decimal(line.get("taxAmount") or 0),
    }
    tax_rate = (line.get("taxRateRef") or {}).get("id")
    item["TaxType"] = tax_rate or "NONE"
    return item


_BUILDERS: dict[str, Callable[[str, dict[str, Any], References], list[dict[str, Any]]]] = {
    "journalEntry": _journal,
    "invoice": _invoice,
    "bill": _bill,
    "creditNote": _credit_note,
    "payment": _payment,
    "billPayment": _payment,
    "deposit": _deposit,
    "transfer": _transfer,
}
