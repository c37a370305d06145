"""`AccountingTarget` for Xero, plus the reads the setup flow needs.

Accounts are identified by their Code (what bookkeepers know and what the
configuration stores). Every document carries its idempotency key twice: in
the `Idempotency-Key` header (Xero answers a repeated key with the first
result) and in the document itself (Reference, or the journal's Narration),
so that `find_document` can look it up after a crash lost our record of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from commerce_sync.errors import ConfigurationError, DocumentRejected
from connectors.protocols import AccountOption, TaxRateOption
from connectors.xero.client import XeroClient

if TYPE_CHECKING:
    from commerce_sync.core.models import Connection

_TYPES = {"ASSET": "Asset", "LIABILITY": "Liability", "EQUITY": "Equity"}
_TYPES |= {"REVENUE": "Income", "EXPENSE": "Expense"}
# The Xero account type a new account of each of our types gets.
_NEW_ACCOUNT_TYPES = {
    "Asset": "CURRENT",
    "Liability": "CURRLIAB",
    "Equity": "EQUITY",
    "Income": "REVENUE",
    "Expense": "EXPENSE",
}
# Xero applies payments only to authorised invoices, which is what Codat's
# "Submitted" means there; a draft stays a draft.
_INVOICE_STATUS = {"Draft": "DRAFT", "Submitted": "AUTHORISED", "Authorised": "AUTHORISED"}


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
class _Endpoint:
    path: str
    collection: str
    id_field: str
    key_field: str = "Reference"


INVOICES = _Endpoint("/Invoices", "Invoices", "InvoiceID")
# On a bill (ACCPAY) Xero keeps the supplier's reference in InvoiceNumber;
# its Reference field is for sales invoices only.
BILLS = _Endpoint("/Invoices", "Invoices", "InvoiceID", "InvoiceNumber")
CREDIT_NOTES = _Endpoint("/CreditNotes", "CreditNotes", "CreditNoteID")
JOURNALS = _Endpoint("/ManualJournals", "ManualJournals", "ManualJournalID", "Narration")
PAYMENTS = _Endpoint("/Payments", "Payments", "PaymentID")
BANK_TRANSACTIONS = _Endpoint("/BankTransactions", "BankTransactions", "BankTransactionID")
TRANSFERS = _Endpoint("/BankTransfers", "BankTransfers", "BankTransferID")

_ENDPOINT_OF = {
    "journalEntry": JOURNALS,
    "invoice": INVOICES,
    "bill": BILLS,
    "creditNote": CREDIT_NOTES,
    "payment": PAYMENTS,
    "billPayment": PAYMENTS,
    "deposit": BANK_TRANSACTIONS,
    "transfer": TRANSFERS,
}
_BUILDERS = {
    "journalEntry": "_journal",
    "invoice": "_invoice",
    "bill": "_bill",
    "creditNote": "_credit_note",
    "payment": "_payment",
    "billPayment": "_payment",
    "deposit": "_deposit",
    "transfer": "_transfer",
}
_LINKED = {"Invoice": INVOICES, "Bill": BILLS, "CreditNote": CREDIT_NOTES}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _narration(document: dict[str, Any], key: str) -> str:
    description = str(document.get("description") or "Daily sales").strip()
    return f"{description} [{key}]"


class XeroTarget:
    platform_key = "xero"

    def __init__(self, client: XeroClient, *, bank_contact_id: str | None = None) -> None:
        self.client = client
        # Xero's bank transactions need a contact; deposits (fee refunds) carry
        # none of their own, so the connection names one (the fees supplier).
        self.bank_contact_id = bank_contact_id
        self._ids: dict[str, str] = {}  # key -> Xero id, for linking payments

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- reads for the setup flow ----------------------------------------------

    def list_accounts(self) -> list[AccountOption]:
        accounts = self.client.request("GET", "/Accounts")["Accounts"]
        return [
            AccountOption(
                id=a.get("Code") or a["AccountID"],
                name=a.get("Name", ""),
                type=_TYPES.get(a.get("Class", ""), a.get("Type", "")),
                status="Archived" if a.get("Status") == "ARCHIVED" else "Active",
            )
            for a in accounts
            if a.get("Status") != "DELETED"
        ]

    def list_tax_rates(self) -> list[TaxRateOption]:
        rates = self.client.request("GET", "/TaxRates")["TaxRates"]
        return [
            TaxRateOption(
                id=r["TaxType"],
                name=r.get("Name", r["TaxType"]),
                rate=str(r.get("EffectiveRate", r.get("DisplayTaxRate", "0"))),
            )
            for r in rates
            if r.get("Status", "ACTIVE") == "ACTIVE"
        ]

    def list_contacts(self, *, suppliers: bool = False) -> list[ContactOption]:
        """Customers (or suppliers), every page of them."""
        where = "IsSupplier==true" if suppliers else "IsCustomer==true"
        found: list[ContactOption] = []
        page = 1
        while True:
            batch = self.client.request(
                "GET", "/Contacts", params={"where": where, "page": str(page)}
            )["Contacts"]
            found += [
                ContactOption(
                    id=c["ContactID"],
                    name=c.get("Name", ""),
                    status="Archived" if c.get("ContactStatus") == "ARCHIVED" else "Active",
                    is_customer=bool(c.get("IsCustomer")),
                    is_supplier=bool(c.get("IsSupplier")),
                )
                for c in batch
            ]
            if len(batch) < 100:  # Xero's page size for contacts
                return found
            page += 1

    def list_tracking_options(self) -> list[TrackingOption]:
        categories = self.client.request("GET", "/TrackingCategories")["TrackingCategories"]
        return [
            TrackingOption(c["TrackingCategoryID"], c["Name"], o["TrackingOptionID"], o["Name"])
            for c in categories
            for o in c.get("Options") or []
            if o.get("Status", "ACTIVE") == "ACTIVE"
        ]

    def list_currencies(self) -> list[str]:
        return [c["Code"] for c in self.client.request("GET", "/Currencies")["Currencies"]]

    def base_currency(self) -> str:
        return self.client.request("GET", "/Organisation")["Organisations"][0]["BaseCurrency"]

    # -- creates -----------------------------------------------------------------

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        xero_type = _NEW_ACCOUNT_TYPES.get(account_type)
        if xero_type is None:
            raise DocumentRejected(f"Xero has no account type for {account_type!r}")
        created = self.client.request(
            "PUT",
            "/Accounts",
            body={"Code": account_id, "Name": name, "Type": xero_type},
            key=f"account:{account_id}",
        )["Accounts"][0]
        return AccountOption(
            id=created.get("Code", account_id),
            name=created.get("Name", name),
            type=_TYPES.get(created.get("Class", ""), account_type),
        )

    def create_contact(self, *, name: str, supplier: bool = False) -> ContactOption:
        created = self.client.request(
            "PUT", "/Contacts", body={"Contacts": [{"Name": name}]}, key=f"contact:{name}"
        )["Contacts"][0]
        return ContactOption(
            id=created["ContactID"],
            name=created.get("Name", name),
            status="Active",
            is_customer=not supplier,
            is_supplier=supplier,
        )

    # -- documents ---------------------------------------------------------------

    def find_document(self, *, key: str) -> str | None:
        if key in self._ids:
            return self._ids[key]
        # The key does not say which kind it is; look where it most likely is first.
        endpoints = list(dict.fromkeys(_ENDPOINT_OF.values()))
        endpoints.sort(key=lambda e: e.collection.lower()[:5] not in key.lower())
        for endpoint in endpoints:
            found = self._find(endpoint, key)
            if found is not None:
                return found
        return None

    def _find(self, endpoint: _Endpoint, key: str) -> str | None:
        if endpoint.key_field == "Narration":
            where = f"Narration.EndsWith({_quoted(f'[{key}]')})"
        else:
            where = f"{endpoint.key_field}=={_quoted(key)}"
        rows = self.client.request("GET", endpoint.path, params={"where": where})
        for row in rows.get(endpoint.collection) or []:
            if row.get("Status") not in ("DELETED", "VOIDED"):
                self._ids[key] = str(row[endpoint.id_field])
                return self._ids[key]
        return None

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        kind = document.get("type", "")
        endpoint = _ENDPOINT_OF.get(kind)
        if endpoint is None:
            raise DocumentRejected(f"Xero cannot take a document of type {kind!r}")
        items = getattr(self, _BUILDERS[kind])(key, document)
        written = self.client.request(
            "PUT",
            endpoint.path,
            params={"summarizeErrors": "true"} if endpoint is not TRANSFERS else None,
            body={endpoint.collection: items},
            key=key,
        )
        rows = written.get(endpoint.collection) or []
        if not rows:
            raise DocumentRejected(f"Xero accepted the {kind} but returned nothing")
        self._ids[key] = str(rows[0][endpoint.id_field])
        return self._ids[key]

    # One builder per document type: our JSON shape -> Xero's.

    def _journal(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        lines = [
            {
                "LineAmount": Decimal(line["netAmount"]),  # debit +, credit -, as Xero
                "AccountCode": line["accountRef"]["id"],
                "Description": line.get("description") or "",
            }
            for line in doc["journalLines"]
        ]
        return [
            {
                "Narration": _narration(doc, key),
                "Date": doc["date"],
                "Status": "POSTED",
                "LineAmountTypes": "NoTax",
                "JournalLines": lines,
            }
        ]

    def _sales_document(self, key: str, doc: dict[str, Any], xero_type: str) -> dict[str, Any]:
        contact = (doc.get("customerRef") or doc.get("supplierRef"))["id"]
        return {
            "Type": xero_type,
            "Contact": {"ContactID": contact},
            "Date": doc["date"],
            "DueDate": doc["date"],
            "Reference": key,
            "CurrencyCode": doc["currency"],
            "Status": _INVOICE_STATUS.get(doc.get("status", "Submitted"), "AUTHORISED"),
            "LineAmountTypes": "Exclusive",
            "LineItems": [_line_item(line) for line in doc["lineItems"]],
        }

    def _invoice(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._sales_document(key, doc, "ACCREC")]

    def _credit_note(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._sales_document(key, doc, "ACCRECCREDIT")]

    def _bill(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        bill = self._sales_document(key, {**doc, "status": "Authorised"}, "ACCPAY")
        bill["InvoiceNumber"] = bill.pop("Reference")
        return [bill]

    def _payment(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
        payments = []
        for link in doc.get("links") or []:
            endpoint = _LINKED.get(link["type"])
            if endpoint is None:
                raise DocumentRejected(f"Xero cannot pay a linked {link['type']}")
            target_id = self.find_linked(endpoint, link["id"])
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

    def find_linked(self, endpoint: _Endpoint, key: str) -> str:
        found = self._ids.get(key) or self._find(endpoint, key)
        if found is None:
            raise DocumentRejected(f"The document this payment settles ({key}) is not in Xero yet")
        return found

    def _deposit(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
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
        contact = (doc.get("supplierRef") or {}).get("id") or self.bank_contact_id
        if contact:
            transaction["Contact"] = {"ContactID": contact}
        return [transaction]

    def _transfer(self, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
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


def xero_target_build(connection: Connection) -> XeroTarget:
    """The target for a linked Xero connection: its tenant, its stored tokens
    (refreshed under the connection's row lock) and the shared limiter."""
    from connectors.limits import XERO_LIMITS, DatabaseRateLimiter
    from connectors.oauth import ConnectionTokenSource
    from connectors.xero.oauth import xero_oauth_client

    tenant_id = connection.settings.get("tenant_id")
    if not tenant_id:
        raise ConfigurationError("This Xero connection has no organisation (tenant) chosen")
    client = XeroClient(
        api_url=settings.XERO_API_URL,
        tenant_id=tenant_id,
        tokens=ConnectionTokenSource(connection, xero_oauth_client()),
        limiter=DatabaseRateLimiter(XERO_LIMITS),
    )
    return XeroTarget(client, bank_contact_id=connection.settings.get("bank_contact_id"))
