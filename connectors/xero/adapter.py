"""`AccountingTarget` for Xero, plus the reads the setup flow needs.

Accounts are identified by their Code (what bookkeepers know and what the
configuration stores). Every document carries its idempotency key twice: in
the `Idempotency-Key` header (Xero answers a repeated key with the first
result) and in the document itself (Reference, or the journal's Narration),
so that `find_document` can look it up after a crash lost our record of it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from commerce_sync.errors import ApplicationError, ConfigurationError, DocumentRejected
from connectors.context import ConnectorContext, XeroSettings
from connectors.protocols import AccountOption, TaxRateOption
from connectors.xero.client import XeroClient, dumps, validation_message

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
# Xero advises at most 50 elements per PUT; each element is then answered on
# its own (summarizeErrors=false). BankTransfers take no summarizeErrors, so a
# transfer is written alone.
BATCH_MAX = 50
# How many keys one `where` filter names (the URL stays well under Xero's limit).
FIND_MAX = 25
_TRACKED = ("journalEntry", "invoice", "bill", "creditNote")
CONTACT_KINDS = ("customer", "supplier")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _links(document: dict[str, Any]) -> list[str]:
    return [str(link["id"]) for link in document.get("links") or []]


def _clause(endpoint: _Endpoint, key: str) -> str:
    if endpoint.key_field == "Narration":
        return f"Narration.EndsWith({_quoted(f'[{key}]')})"
    return f"{endpoint.key_field}=={_quoted(key)}"


def _carries(endpoint: _Endpoint, row: dict[str, Any], key: str) -> bool:
    if endpoint.key_field == "Narration":
        return str(row.get("Narration") or "").endswith(f"[{key}]")
    return row.get(endpoint.key_field) == key


def _element_error(row: dict[str, Any]) -> DocumentRejected | None:
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


def _narration(document: dict[str, Any], key: str) -> str:
    description = str(document.get("description") or "Daily sales").strip()
    return f"{description} [{key}]"


class XeroTarget:
    platform_key = "xero"

    def __init__(
        self,
        client: XeroClient,
        *,
        bank_contact_id: str | None = None,
        tracking: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        # Xero's bank transactions need a contact; deposits (fee refunds) carry
        # none of their own, so the connection names one (the fees supplier).
        self.bank_contact_id = bank_contact_id
        # {"category": TrackingCategoryID or name, "options": {locationId: option name}}
        self.tracking = tracking or None
        if self.tracking is not None and not self.tracking.get("category"):
            raise ConfigurationError("Xero location tracking needs a tracking category")
        self._ids: dict[str, str] = {}  # key -> Xero id, for linking payments
        self._categories: list[dict[str, Any]] | None = None

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

    def create_contact(self, *, name: str, kind: str = "customer") -> str:
        """The ContactID of the contact called `name` (the sales customer or
        the fees supplier), created when the organisation has none: Xero
        refuses a second contact with the same name, archived or not. Xero
        marks a contact customer or supplier itself once it has a sale or a
        bill, so `kind` only names the idempotency key."""
        if kind not in CONTACT_KINDS:
            raise ValueError(f"A contact is a customer or a supplier, not {kind!r}")
        name = name.strip()
        if not name:
            raise DocumentRejected(f"A Xero {kind} needs a name")
        rows = self.client.request(
            "GET",
            "/Contacts",
            params={"where": f"Name=={_quoted(name)}", "includeArchived": "true"},
        )["Contacts"]
        if rows:
            return str(rows[0]["ContactID"])
        created = self.client.request(
            "PUT", "/Contacts", body={"Contacts": [{"Name": name}]}, key=f"{kind}:{name}"
        )["Contacts"][0]
        return str(created["ContactID"])

    def _all_contacts(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.client.request("GET", "/Contacts", params={"page": str(page)})["Contacts"]
            rows += batch
            if len(batch) < 100:  # Xero's page size for contacts
                return rows
            page += 1

    def list_customers(self) -> list[dict[str, str]]:
        """Contacts a sales customer can be chosen from: every active contact
        but those Xero knows only as suppliers (a new contact is neither)."""
        return [
            {"id": c["ContactID"], "name": c.get("Name", ""), "status": "Active"}
            for c in self._all_contacts()
            if c.get("IsCustomer") or not c.get("IsSupplier")
        ]

    def list_suppliers(self) -> list[dict[str, str]]:
        """Contacts a fees supplier can be chosen from (as `list_customers`)."""
        return [
            {"id": c["ContactID"], "name": c.get("Name", ""), "status": "Active"}
            for c in self._all_contacts()
            if c.get("IsSupplier") or not c.get("IsCustomer")
        ]

    list_vendors = list_suppliers  # the name the QuickBooks target uses

    # -- locations (tracking) ------------------------------------------------------

    def _tracking_categories(self) -> list[dict[str, Any]]:
        if self._categories is None:
            self._categories = self.client.request("GET", "/TrackingCategories")[
                "TrackingCategories"
            ]
        return self._categories

    def tracking_for(self, document: dict[str, Any]) -> list[dict[str, str]] | None:
        """The Tracking a line of this document carries, when the connection
        maps its location to an option of a tracking category."""
        location = (document.get("group") or {}).get("locationId")
        if not location or self.tracking is None:
            return None
        option = (self.tracking.get("options") or {}).get(str(location))
        if not option:
            raise DocumentRejected(
                f"Location {location} is not mapped to a Xero tracking option; "
                "map it in the connection's settings"
            )
        wanted = str(self.tracking["category"])
        category = next(
            (
                c
                for c in self._tracking_categories()
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

    # -- the check before a sync writes anything -------------------------------------

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the organisation would make these documents fail, in plain
        words: archived or missing accounts, deleted or archived tax rates
        (of lines with tax), archived or missing contacts, unmapped
        locations. Empty when all is well; a few calls whatever the number
        of documents."""
        accounts: set[str] = set()
        tax_types: set[str] = set()
        contacts: set[str] = set()
        problems: list[str] = []
        for document in documents:
            for ref in ("accountRef", "fromAccountRef", "toAccountRef"):
                if document.get(ref):
                    accounts.add(str(document[ref]["id"]))
            for line in document.get("journalLines", []) + document.get("lineItems", []):
                accounts.add(str(line["accountRef"]["id"]))
                if (line.get("taxRateRef") or {}).get("id"):
                    tax_types.add(str(line["taxRateRef"]["id"]))
            for ref in ("customerRef", "supplierRef"):
                if (document.get(ref) or {}).get("id"):
                    contacts.add(str(document[ref]["id"]))
            deposit = document.get("type") == "deposit" and not document.get("supplierRef")
            if deposit and self.bank_contact_id:
                contacts.add(self.bank_contact_id)
            if document.get("type") in _TRACKED:
                try:
                    self.tracking_for(document)
                except DocumentRejected as error:
                    if error.message not in problems:
                        problems.append(error.message)
        if accounts:
            found = {a.get("Code"): a for a in self.client.request("GET", "/Accounts")["Accounts"]}
            for code in sorted(accounts):
                account = found.get(code)
                if account is None or account.get("Status") == "DELETED":
                    problems.append(f"Account {code} does not exist in Xero")
                elif account.get("Status") == "ARCHIVED":
                    problems.append(
                        f"Account {_named(account.get('Name'), code)} is archived in Xero"
                    )
        if tax_types:
            rates = {r["TaxType"]: r for r in self.client.request("GET", "/TaxRates")["TaxRates"]}
            for tax_type in sorted(tax_types):
                rate = rates.get(tax_type)
                if rate is None:
                    problems.append(f"Tax rate {tax_type} does not exist in Xero")
                elif rate.get("Status", "ACTIVE") != "ACTIVE":
                    status = str(rate["Status"]).lower()
                    problems.append(
                        f"Tax rate {_named(rate.get('Name'), tax_type)} is {status} in Xero"
                    )
        if contacts:
            problems += self._contact_problems(contacts)
        return problems

    def _contact_problems(self, ids: set[str]) -> list[str]:
        problems = [
            f"Contact {i} does not exist in Xero" for i in sorted(ids) if not _UUID.match(i)
        ]
        wanted = sorted(i for i in ids if _UUID.match(i))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), FIND_MAX):
            rows = self.client.request(
                "GET",
                "/Contacts",
                params={
                    "IDs": ",".join(wanted[start : start + FIND_MAX]),
                    "includeArchived": "true",
                },
            )["Contacts"]
            found |= {str(c["ContactID"]).lower(): c for c in rows}
        for contact_id in wanted:
            contact = found.get(contact_id.lower())
            if contact is None:
                problems.append(f"Contact {contact_id} does not exist in Xero")
            elif contact.get("ContactStatus", "ACTIVE") != "ACTIVE":
                status = str(contact["ContactStatus"]).lower()
                problems.append(
                    f"Contact {_named(contact.get('Name'), contact_id)} is {status} in Xero"
                )
        return problems

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
        return self._find_in(endpoint.path, [(endpoint, key)]).get(key)

    def _find_in(self, path: str, wanted: list[tuple[_Endpoint, str]]) -> dict[str, str]:
        """Key -> id of the documents at one path carrying these keys: one
        GET per FIND_MAX keys (their filters joined with OR)."""
        found: dict[str, str] = {}
        for start in range(0, len(wanted), FIND_MAX):
            chunk = wanted[start : start + FIND_MAX]
            where = " OR ".join(_clause(endpoint, key) for endpoint, key in chunk)
            collection = chunk[0][0].collection
            rows = self.client.request("GET", path, params={"where": where}).get(collection) or []
            for endpoint, key in chunk:
                for row in rows:
                    if row.get("Status") not in ("DELETED", "VOIDED") and _carries(
                        endpoint, row, key
                    ):
                        found[key] = self._ids[key] = str(row[endpoint.id_field])
                        break
        return found

    def write_documents(
        self, items: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, str | ApplicationError]:
        """Several documents in as few calls as Xero allows: one GET per
        endpoint for the keys already there, then PUTs of up to BATCH_MAX
        documents with summarizeErrors=false, in waves so a payment follows
        the invoice, credit note or bill it settles. Each key maps to its
        Xero id or to the error that refused that document alone; errors of
        the whole call (auth, limits, outage) are raised."""
        documents = dict(items)
        results: dict[str, str | ApplicationError] = {}
        by_path: dict[str, list[tuple[_Endpoint, str]]] = {}
        for key, document in documents.items():
            endpoint = _ENDPOINT_OF.get(document.get("type", ""))
            if endpoint is None:
                results[key] = DocumentRejected(
                    f"Xero cannot take a document of type {document.get('type')!r}"
                )
            elif key in self._ids:
                results[key] = self._ids[key]
            else:
                by_path.setdefault(endpoint.path, []).append((endpoint, key))
        for path, wanted in by_path.items():
            results.update(self._find_in(path, wanted))
        pending = [k for k in documents if k not in results]
        while pending:
            waiting = set(pending)
            ready = [k for k in pending if not waiting & set(_links(documents[k]))]
            if not ready:  # links that can never resolve within this call
                for key in pending:
                    results[key] = DocumentRejected("The documents link to each other in a cycle")
                break
            results.update(self._write_wave(ready, documents, results))
            pending = [k for k in pending if k not in results]
        return results

    def _write_wave(
        self,
        keys: list[str],
        documents: dict[str, dict[str, Any]],
        earlier: dict[str, str | ApplicationError],
    ) -> dict[str, str | ApplicationError]:
        results: dict[str, str | ApplicationError] = {}
        batches: dict[_Endpoint, list[tuple[str, dict[str, Any]]]] = {}
        for key in keys:
            document = documents[key]
            kind = document["type"]
            endpoint = _ENDPOINT_OF[kind]
            refused = [
                link for link in _links(document) if isinstance(earlier.get(link), Exception)
            ]
            if refused:
                results[key] = DocumentRejected(
                    f"The document this payment settles ({refused[0]}) was refused by Xero"
                )
                continue
            try:
                elements = getattr(self, _BUILDERS[kind])(key, document)
                if endpoint is TRANSFERS or len(elements) != 1:
                    # No summarizeErrors there, or a payment of several
                    # documents: written alone, all or nothing.
                    results[key] = self.write_document(key=key, document=document)
                    continue
            except DocumentRejected as error:
                results[key] = error
                continue
            # Bills and sales invoices share /Invoices: one batch for both.
            shared = INVOICES if endpoint is BILLS else endpoint
            batches.setdefault(shared, []).append((key, elements[0]))
        for shared, batch in batches.items():
            for start in range(0, len(batch), BATCH_MAX):
                results.update(self._put_batch(shared, batch[start : start + BATCH_MAX]))
        return results

    def _put_batch(
        self, endpoint: _Endpoint, batch: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, str | ApplicationError]:
        body = {endpoint.collection: [element for _, element in batch]}
        # The same documents always make the same key, so a replay after a
        # lost answer is recognised; a corrected document makes a new one.
        digest = hashlib.sha256((endpoint.path + dumps(body)).encode()).hexdigest()
        try:
            answer = self.client.request(
                "PUT",
                endpoint.path,
                params={"summarizeErrors": "false"},
                body=body,
                key=f"batch:{digest}",
            )
        except DocumentRejected as error:  # the request as a whole was refused
            return {key: error for key, _ in batch}
        rows = (answer or {}).get(endpoint.collection) or []
        results: dict[str, str | ApplicationError] = {}
        for index, (key, _) in enumerate(batch):
            if index >= len(rows):
                results[key] = DocumentRejected("Xero did not answer for this document")
                continue
            row = rows[index]
            error = _element_error(row)
            if error is not None:
                results[key] = error
            else:
                results[key] = self._ids[key] = str(row[endpoint.id_field])
        return results

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
        tracking = self.tracking_for(doc)
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
                "Narration": _narration(doc, key),
                "Date": doc["date"],
                "Status": "POSTED",
                "LineAmountTypes": "NoTax",
                "JournalLines": lines,
            }
        ]

    def _sales_document(self, key: str, doc: dict[str, Any], xero_type: str) -> dict[str, Any]:
        contact = (doc.get("customerRef") or doc.get("supplierRef"))["id"]
        tracking = self.tracking_for(doc)
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


def _named(name: str | None, code: str) -> str:
    return f"{name} ({code})" if name and name != code else code


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


def xero_target_build(context: ConnectorContext[XeroSettings]) -> XeroTarget:
    """The target for a linked Xero connection: its tenant (`XeroSettings`),
    its stored tokens (refreshed under the connection's row lock by the
    context's token source) and the shared limiter."""
    from connectors.limits import XERO_LIMITS, DatabaseRateLimiter
    from connectors.xero.oauth import xero_oauth_client

    xero = context.settings
    client = XeroClient(
        api_url=settings.XERO_API_URL,
        tenant_id=xero.tenant_id,
        tokens=context.token_source(xero_oauth_client()),
        limiter=DatabaseRateLimiter(XERO_LIMITS),
    )
    return XeroTarget(
        client,
        bank_contact_id=xero.bank_contact_id,
        tracking=xero.tracking,
    )
