"""`AccountingTarget` for Xero, plus the reads the setup flow needs.

Accounts are identified by their Code (what bookkeepers know and what the
configuration stores). Every document carries its idempotency key twice: in
the `Idempotency-Key` header (Xero answers a repeated key with the first
result) and in the document itself (Reference, or the journal's Narration),
so that `find_document` can look it up after a crash lost our record of it.
The translation of documents into Xero's elements is `connectors.xero.translate`.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from django.conf import settings

from commerce_sync.errors import ApplicationError, ConfigurationError, DocumentRejected
from connectors.batching import chunked, document_links, waves_write
from connectors.context import ConnectorContext, XeroSettings
from connectors.protocols import AccountOption, TaxRateOption
from connectors.xero import translate
from connectors.xero.client import XeroClient, dumps
from connectors.xero.translate import (
    BILLS,
    CREDIT_NOTES,
    ENDPOINT_OF,
    INVOICES,
    TRANSFERS,
    ContactOption,
    Endpoint,
    TrackingOption,
)
from mapping.documents import document_account_refs, document_tax_rate_refs

# Xero advises at most 50 elements per PUT; each element is then answered on
# its own (summarizeErrors=false). BankTransfers take no summarizeErrors, so a
# transfer is written alone.
BATCH_MAX = 50
# How many keys one `where` filter names (the URL stays well under Xero's limit).
FIND_MAX = 25
CONTACT_KINDS = ("customer", "supplier")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
Outcome = str | ApplicationError


class XeroTarget:
    platform_key = "xero"
    writes_in_batches = True

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
        return [translate.account_option(a) for a in accounts if a.get("Status") != "DELETED"]

    def list_tax_rates(self) -> list[TaxRateOption]:
        rates = self.client.request("GET", "/TaxRates")["TaxRates"]
        return [
            translate.tax_rate_option(r) for r in rates if r.get("Status", "ACTIVE") == "ACTIVE"
        ]

    def list_contacts(self, *, suppliers: bool = False) -> list[ContactOption]:
        """Customers (or suppliers), every page of them."""
        where = "IsSupplier==true" if suppliers else "IsCustomer==true"
        rows = self.client.pages("/Contacts", "Contacts", {"where": where})
        return [translate.contact_option(c) for c in rows]

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
        xero_type = translate.NEW_ACCOUNT_TYPES.get(account_type)
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
            type=translate.ACCOUNT_TYPES.get(created.get("Class", ""), account_type),
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
            params={"where": f"Name=={translate.quoted(name)}", "includeArchived": "true"},
        )["Contacts"]
        if rows:
            return str(rows[0]["ContactID"])
        created = self.client.request(
            "PUT", "/Contacts", body={"Contacts": [{"Name": name}]}, key=f"{kind}:{name}"
        )["Contacts"][0]
        return str(created["ContactID"])

    def list_customers(self) -> list[dict[str, str]]:
        """Contacts a sales customer can be chosen from: every active contact
        but those Xero knows only as suppliers (a new contact is neither)."""
        return self._choosable("IsCustomer", "IsSupplier")

    def list_suppliers(self) -> list[dict[str, str]]:
        """Contacts a fees supplier can be chosen from (as `list_customers`)."""
        return self._choosable("IsSupplier", "IsCustomer")

    def _choosable(self, role: str, other: str) -> list[dict[str, str]]:
        return [
            {"id": c["ContactID"], "name": c.get("Name", ""), "status": "Active"}
            for c in self.client.pages("/Contacts", "Contacts", {})
            if c.get(role) or not c.get(other)
        ]

    list_vendors = list_suppliers  # the name the QuickBooks target uses

    # -- what the translation looks up (translate.References) ----------------------

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
        return translate.tracking_of(self.tracking, location, self._tracking_categories)

    def find_linked(self, endpoint: Endpoint, key: str) -> str:
        found = self._ids.get(key) or self._find(endpoint, key)
        if found is None:
            raise DocumentRejected(f"The document this payment settles ({key}) is not in Xero yet")
        return found

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
            accounts |= document_account_refs(document)
            tax_types |= document_tax_rate_refs(document)
            for ref in ("customerRef", "supplierRef"):
                if (document.get(ref) or {}).get("id"):
                    contacts.add(str(document[ref]["id"]))
            deposit = document.get("type") == "deposit" and not document.get("supplierRef")
            if deposit and self.bank_contact_id:
                contacts.add(self.bank_contact_id)
            if document.get("type") in translate.TRACKED:
                try:
                    self.tracking_for(document)
                except DocumentRejected as error:
                    if error.message not in problems:
                        problems.append(error.message)
        if accounts:
            rows = self.client.request("GET", "/Accounts")["Accounts"]
            problems += translate.account_problems(accounts, rows)
        if tax_types:
            rows = self.client.request("GET", "/TaxRates")["TaxRates"]
            problems += translate.tax_rate_problems(tax_types, rows)
        if contacts:
            problems += self._contact_problems(contacts)
        return problems

    def _contact_problems(self, ids: set[str]) -> list[str]:
        problems = [
            f"Contact {i} does not exist in Xero" for i in sorted(ids) if not _UUID.match(i)
        ]
        wanted = sorted(i for i in ids if _UUID.match(i))
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(wanted, FIND_MAX):
            params = {"IDs": ",".join(chunk), "includeArchived": "true"}
            rows = self.client.request("GET", "/Contacts", params=params)["Contacts"]
            found |= {str(c["ContactID"]).lower(): c for c in rows}
        for contact_id in wanted:
            problem = translate.contact_problem(contact_id, found.get(contact_id.lower()))
            if problem is not None:
                problems.append(problem)
        return problems

    # -- documents ---------------------------------------------------------------

    def find_document(self, *, key: str) -> str | None:
        if key in self._ids:
            return self._ids[key]
        # The key does not say which kind it is; look where it most likely is first.
        endpoints = list(dict.fromkeys(ENDPOINT_OF.values()))
        endpoints.sort(key=lambda e: e.collection.lower()[:5] not in key.lower())
        for endpoint in endpoints:
            found = self._find(endpoint, key)
            if found is not None:
                return found
        return None

    def _find(self, endpoint: Endpoint, key: str) -> str | None:
        return self._find_in(endpoint.path, [(endpoint, key)]).get(key)

    def _find_in(self, path: str, wanted: list[tuple[Endpoint, str]]) -> dict[str, str]:
        """Key -> id of the documents at one path carrying these keys: one
        GET per FIND_MAX keys (their filters joined with OR)."""
        found: dict[str, str] = {}
        for chunk in chunked(wanted, FIND_MAX):
            where = " OR ".join(translate.key_clause(endpoint, key) for endpoint, key in chunk)
            collection = chunk[0][0].collection
            rows = self.client.request("GET", path, params={"where": where}).get(collection) or []
            for endpoint, key in chunk:
                for row in rows:
                    if row.get("Status") not in ("DELETED", "VOIDED") and translate.carries(
                        endpoint, row, key
                    ):
                        found[key] = self._ids[key] = str(row[endpoint.id_field])
                        break
        return found

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Several documents in as few calls as Xero allows: one GET per
        endpoint for the keys already there, then PUTs of up to BATCH_MAX
        documents with summarizeErrors=false, in waves so a payment follows
        the invoice, credit note or bill it settles. Each key maps to its
        Xero id or to the error that refused that document alone; errors of
        the whole call (auth, limits, outage) are raised."""
        documents = dict(items)
        results: dict[str, Outcome] = {}
        by_path: dict[str, list[tuple[Endpoint, str]]] = {}
        for key, document in documents.items():
            endpoint = ENDPOINT_OF.get(document.get("type", ""))
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
        results = waves_write(
            documents, results, lambda keys: self._write_wave(keys, documents, results)
        )
        for key, outcome in results.items():
            if isinstance(outcome, str):
                try:
                    self.complete_document(key=key, document=documents[key], target_id=outcome)
                except DocumentRejected as error:
                    results[key] = error
        return results

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        """What a written document still needs besides itself: a sales credit
        note's `links` to the day's invoices become allocations
        (PUT /CreditNotes/{id}/Allocations, Xero Accounting API), so no
        invoice or credit is left open. Exactly once: the credit note is read
        first (GET /CreditNotes/{id}) and an invoice it is already allocated
        to is skipped; each PUT also carries an Idempotency-Key of its own.
        A no-op for any other document. Raises `DocumentRejected` when Xero
        refuses the allocation."""
        links = [link for link in document.get("links") or [] if link.get("type") == "Invoice"]
        if document.get("type") != "creditNote" or not links:
            return
        path = f"{CREDIT_NOTES.path}/{target_id}"
        rows = self.client.request("GET", path).get("CreditNotes") or [{}]
        done = {
            str((a.get("Invoice") or {}).get("InvoiceID", "")).lower()
            for a in rows[0].get("Allocations") or []
        }
        for link in links:
            invoice_id = self.find_linked(INVOICES, str(link["id"]))
            if invoice_id.lower() in done:
                continue
            allocation = {
                "Invoice": {"InvoiceID": invoice_id},
                "Amount": abs(Decimal(str(link["amount"]))),
                "Date": str(document["date"])[:10],
            }
            self.client.request(
                "PUT",
                f"{path}/Allocations",
                body={"Allocations": [allocation]},
                key=f"{key}:allocation:{link['id']}",
            )

    def _write_wave(
        self, keys: list[str], documents: dict[str, dict[str, Any]], earlier: dict[str, Outcome]
    ) -> dict[str, Outcome]:
        results: dict[str, Outcome] = {}
        batches: dict[Endpoint, list[tuple[str, dict[str, Any]]]] = {}
        for key in keys:
            document = documents[key]
            endpoint = ENDPOINT_OF[document["type"]]
            refused = [
                link
                for link in document_links(document)
                if isinstance(earlier.get(link), Exception)
            ]
            if refused:
                results[key] = DocumentRejected(
                    f"The document this payment settles ({refused[0]}) was refused by Xero"
                )
                continue
            try:
                elements = translate.to_elements(key, document, self)
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
            for chunk in chunked(batch, BATCH_MAX):
                results.update(self._put_batch(shared, list(chunk)))
        return results

    def _put_batch(
        self, endpoint: Endpoint, batch: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Outcome]:
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
        results: dict[str, Outcome] = {}
        for index, (key, _) in enumerate(batch):
            if index >= len(rows):
                results[key] = DocumentRejected("Xero did not answer for this document")
                continue
            refusal = translate.element_error(rows[index])
            if refusal is not None:
                results[key] = refusal
            else:
                results[key] = self._ids[key] = str(rows[index][endpoint.id_field])
        return results

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        kind = document.get("type", "")
        endpoint = ENDPOINT_OF.get(kind)
        if endpoint is None:
            raise DocumentRejected(f"Xero cannot take a document of type {kind!r}")
        written = self.client.request(
            "PUT",
            endpoint.path,
            params={"summarizeErrors": "true"} if endpoint is not TRANSFERS else None,
            body={endpoint.collection: translate.to_elements(key, document, self)},
            key=key,
        )
        rows = written.get(endpoint.collection) or []
        if not rows:
            raise DocumentRejected(f"Xero accepted the {kind} but returned nothing")
        self._ids[key] = str(rows[0][endpoint.id_field])
        self.complete_document(key=key, document=document, target_id=self._ids[key])
        return self._ids[key]


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
