"""`AccountingTarget` for Exact Online.

Exact takes one document per call (no batch endpoint in the SDK material)
and keeps no idempotency key, so every write is preceded by a lookup of its
key (see `translate` for where the key is kept). To stay within Exact's 60
calls a minute, the sync hands this target whole batches
(`writes_in_batches`): `write_documents` looks up all the keys of a batch
with a few `or`-filtered reads (`LOOKUP_CHUNK` keys each) and then creates
only the missing documents, one call each; a sales invoice to be processed
costs one more call (`PrintedSalesInvoices`), and the payments settling it
one read of its invoice number. A merchant-day of ten documents costs about
eighteen calls, setup reads included.

Document ids handed back are "<Entity>:<GUID>" ("GeneralJournalEntry:…",
"SalesInvoice:…"). Accounts are offered and referenced by their G/L code,
VAT codes by their code; customers and suppliers by their GUID (a code is
accepted too and looked up).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import requests

from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    DocumentRejected,
)
from connectors.batching import chunked, create_missing
from connectors.common import RateLimiter, TokenSource
from connectors.context import ConnectorContext, ExactSettings
from connectors.exact import translate
from connectors.exact.client import THROTTLE_WAIT_SECONDS, ExactClient, odata_quoted
from connectors.exact.oauth import exact_base_url
from connectors.protocols import AccountOption, TaxRateOption, TrackingOption
from mapping.documents import document_account_refs, document_tax_rate_refs

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
GL_FIELDS = "ID,Code,Description,Type,BalanceSide,BalanceType,IsBlocked"
VAT_FIELDS = "ID,Code,Description,Percentage,IsBlocked,GLToClaim,GLToPay,Type,VATTransactionType"
CRM_FIELDS = "ID,Code,Name,Blocked,IsSales,IsSupplier,Status"
COST_CENTRE_FIELDS = "ID,Code,Description,Active"
# Keys looked up per read: ten `Notes eq '<key>'` conditions keep the URL
# near 1.5 kB, well inside what web servers take.
LOOKUP_CHUNK = 10
Outcome = str | ApplicationError


class ExactTarget:
    platform_key = "exact"
    writes_in_batches = True

    def __init__(
        self,
        *,
        division: int,
        tokens: TokenSource,
        limiter: RateLimiter,
        base_url: str,
        general_journal: str = "90",
        sales_journal: str = "70",
        cost_centres: dict[str, str] | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float | None = None,
    ) -> None:
        self.client = ExactClient(
            base_url=base_url,
            division=division,
            tokens=tokens,
            limiter=limiter,
            timeout=timeout,
            session=session,
            throttle_wait=THROTTLE_WAIT_SECONDS if throttle_wait is None else throttle_wait,
        )
        self.general_journal = general_journal
        self.sales_journal = sales_journal
        self.cost_centres = cost_centres
        self._written: dict[str, str] = {}
        # Push key -> Status of its sales invoice as last created or read.
        self._status: dict[str, int] = {}
        # Push key -> its sales invoice's InvoiceNumber as last read (None: none yet).
        self._numbers: dict[str, int | None] = {}
        self._gl: list[dict[str, Any]] | None = None
        self._vat: list[dict[str, Any]] | None = None
        self._crm: list[dict[str, Any]] | None = None

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- cached reads --

    def _gl_rows(self) -> list[dict[str, Any]]:
        if self._gl is None:
            self._gl = self.client.get_all(translate.GL_ACCOUNTS, {"$select": GL_FIELDS})
        return self._gl

    def _vat_rows(self) -> list[dict[str, Any]]:
        if self._vat is None:
            self._vat = self.client.get_all(translate.VAT_CODES, {"$select": VAT_FIELDS})
        return self._vat

    def _crm_rows(self) -> list[dict[str, Any]]:
        if self._crm is None:
            self._crm = self.client.get_all(translate.CRM_ACCOUNTS, {"$select": CRM_FIELDS})
        return self._crm

    # -- reads for the setup flow --

    def list_accounts(self) -> list[AccountOption]:
        """Every G/L account (blocked ones as "Archived"), by code, with the
        role its G/L type gives (`translate.ROLES`). One read."""
        self._gl = None  # the setup flow wants what is there now
        return [translate.account_option(row) for row in self._gl_rows()]

    def list_tax_rates(self) -> list[TaxRateOption]:
        """The VAT codes that are not blocked, with their percentage."""
        self._vat = None
        return [translate.tax_rate_option(r) for r in self._vat_rows() if not r.get("IsBlocked")]

    def _parties(self, wanted: str) -> list[dict[str, str]]:
        self._crm = None
        rows = self._crm_rows()
        if wanted == "customer":
            rows = [r for r in rows if r.get("IsSales") or r.get("Status") == "C"]
        else:
            rows = [r for r in rows if r.get("IsSupplier")]
        return [
            {
                "id": str(r["ID"]),
                "name": str(r.get("Name") or translate.code_of(r)),
                "status": "Archived" if r.get("Blocked") else "Active",
            }
            for r in rows
        ]

    def list_customers(self) -> list[dict[str, str]]:
        return self._parties("customer")

    def list_suppliers(self) -> list[dict[str, str]]:
        return self._parties("supplier")

    def list_tracking_options(self) -> list[TrackingOption]:
        """The active cost centres a location's lines can carry
        (`hrm/Costcenters`): option_id the cost centre's code (what
        `ExactSettings.cost_centres` keeps and `CostCenter` on a line
        names), option "<Code> <Description>"."""
        return [
            TrackingOption(
                translate.COST_CENTRE_KIND,
                translate.COST_CENTRE_KIND,
                str(r["Code"]).strip(),
                f"{str(r['Code']).strip()} {r.get('Description') or ''}".strip(),
            )
            for r in self._cost_centre_rows()
            if r.get("Active", True) and str(r.get("Code") or "").strip()
        ]

    def _cost_centre_rows(self) -> list[dict[str, Any]]:
        return self.client.get_all(translate.COST_CENTRES, {"$select": COST_CENTRE_FIELDS})

    def list_currencies(self) -> list[str]:
        """The currency codes the division knows (`general/Currencies`)."""
        rows = self.client.get_all("general/Currencies", {"$select": "Code"})
        return sorted({str(r["Code"]).strip() for r in rows if r.get("Code")})

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        """A G/L account with code `account_id` (Exact keeps our code)."""
        kind, balance_type, side = translate.NEW_ACCOUNT.get(account_type, (90, "B", "D"))
        created = self.client.create(
            translate.GL_ACCOUNTS,
            {
                "Code": account_id,
                "Description": name,
                "Type": kind,
                "BalanceType": balance_type,
                "BalanceSide": side,
            },
        )
        self._gl = None
        return translate.account_option({**created, "Code": created.get("Code") or account_id})

    # -- the check before a sync writes anything --

    def advisories(self, documents: list[dict[str, Any]]) -> list[str]:
        """Plain words, when payments settle our invoices, credit notes or
        bills, for what Exact will hold differently from a Xero merchant's
        books: each payment is a general journal entry on the receivable
        (payable) account with the customer (supplier) and, for one invoice,
        its number as `OurRef`; the SDK material has no way to match it to
        the invoice (see `connectors.exact.translate`), so both stay open
        items until matched in Exact, though the accounts balance. No calls."""
        kinds = {d.get("type") for d in documents if d.get("links")}
        found = [
            w for k, w in (("payment", "receivables"), ("billPayment", "payables")) if k in kinds
        ]
        if not found:
            return []
        return [
            f"Exact Online: the day's payments are booked as general journal entries on the "
            f"{' and '.join(found)} account with the customer or supplier and the invoice "
            "number, but are not matched to their invoices or credit notes: both stay open "
            "items in Exact, although the accounts balance, until matched there"
        ]

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the division would make these documents fail, in plain
        words: missing or blocked G/L accounts, VAT codes, customers and
        suppliers; no receivable or payable account where one is needed;
        locations without a cost centre when locations are mapped. Three
        or four reads, whatever the number of documents."""
        accounts: set[str] = set()
        vat_codes: set[str] = set()
        customers: set[str] = set()
        suppliers: set[str] = set()
        locations: set[str] = set()
        for document in documents:
            accounts |= document_account_refs(document)
            vat_codes |= document_tax_rate_refs(document)
            if document.get("customerRef"):
                customers.add(str(document["customerRef"]["id"]))
            if document.get("supplierRef"):
                suppliers.add(str(document["supplierRef"]["id"]))
            location = (document.get("group") or {}).get("locationId")
            if location and self.cost_centres is not None:
                locations.add(str(location))
        problems: list[str] = []
        # G/L accounts as just read by `list_accounts` (the sync asks it
        # first); VAT codes and parties read now.
        self._vat = self._crm = None
        if accounts:
            problems += translate.blocked_problems(
                "G/L account", accounts, self._gl_rows(), "IsBlocked"
            )
        if vat_codes:
            problems += translate.blocked_problems(
                "VAT code", vat_codes, self._vat_rows(), "IsBlocked"
            )
        if customers or suppliers:
            rows = self._crm_rows()
            problems += translate.blocked_problems("Customer", customers, rows, "Blocked")
            problems += translate.blocked_problems("Supplier", suppliers, rows, "Blocked")
        kinds = {d["type"] for d in documents}
        for needed, (label, gl_type) in {
            "payment": ("receivable", translate.RECEIVABLE_TYPE),
            "bill": ("payable", translate.PAYABLE_TYPE),
            "billPayment": ("payable", translate.PAYABLE_TYPE),
        }.items():
            if needed in kinds and not self._typed(gl_type, raising=False):
                problems.append(
                    f"The administration has no {label} G/L account (type {gl_type}) in Exact Online"
                )
        for document in documents:
            if document["type"] == "journalEntry":
                try:  # the journal's VAT must be expressible with VAT codes
                    translate.vat_coded(
                        translate.journal_entry_lines(document, self), document, self
                    )
                except DocumentRejected as refused:
                    problems.append(str(refused))
        centres = (
            {str(r.get("Code") or "").strip(): r for r in self._cost_centre_rows()}
            if locations
            else {}
        )
        for location in sorted(locations):
            code = (self.cost_centres or {}).get(location)
            if not code:
                problems.append(
                    f"Location {location} has no Exact Online cost centre; choose one on the "
                    "Locations page"
                )
            elif code not in centres:
                problems.append(
                    f"Cost centre {code} of location {location} does not exist in Exact Online"
                )
            elif not centres[code].get("Active", True):
                problems.append(
                    f"Cost centre {code} of location {location} is inactive in Exact Online"
                )
        return list(dict.fromkeys(problems))

    # -- what the translation looks up (translate.References) --

    def gl_account(self, code: str) -> str:
        for row in self._gl_rows():
            if translate.code_of(row) == code:
                if row.get("IsBlocked"):
                    raise DocumentRejected(f"G/L account {code} is blocked in Exact Online")
                return str(row["ID"])
        raise DocumentRejected(f"G/L account {code} does not exist in Exact Online")

    def is_vat_account(self, gl_id: str) -> bool:
        """Whether the G/L account (GUID) is where a VAT code books the VAT
        to pay (`VATCode.GLToPay`): a journal line on it is VAT."""
        return any(str(r.get("GLToPay") or "") == gl_id for r in self._vat_rows())

    def sales_vat_code(self, gl_id: str, percent: Decimal) -> str | None:
        """The code of the VAT code that books sales VAT at `percent` (%, as
        in "20") to the G/L account `gl_id` (its `GLToPay`): not blocked,
        excluding VAT (`Type` E; the journal's amounts are net), usable on
        sales (`VATTransactionType` S or B). The first by code when several
        fit; None when none does."""
        fitting = sorted(
            translate.code_of(row)
            for row in self._vat_rows()
            if str(row.get("GLToPay") or "") == gl_id
            and not row.get("IsBlocked")
            and str(row.get("Type") or "E") == "E"
            and str(row.get("VATTransactionType") or "B") in ("S", "B")
            and Decimal(str(row.get("Percentage") or 0)) * 100 == percent
        )
        return fitting[0] if fitting else None

    def _vat(self, code: str) -> dict[str, Any]:
        for row in self._vat_rows():
            if translate.code_of(row) == code:
                return row
        raise DocumentRejected(f"VAT code {code} does not exist in Exact Online")

    def vat_claim_account(self, vat_code: str) -> str:
        account = self._vat(vat_code).get("GLToClaim")
        if not account:
            raise DocumentRejected(
                f"VAT code {vat_code} has no G/L account for VAT to claim in Exact Online"
            )
        return str(account)

    def _party(self, ref: str, label: str) -> str:
        for row in self._crm_rows():
            if str(row.get("ID")) == ref or translate.code_of(row) == ref:
                if row.get("Blocked"):
                    raise DocumentRejected(f"{label} {ref} is blocked in Exact Online")
                return str(row["ID"])
        if _GUID.match(ref):
            return ref
        raise DocumentRejected(f"{label} {ref} does not exist in Exact Online")

    def customer(self, ref: str) -> str:
        return self._party(ref, "Customer")

    def supplier(self, ref: str) -> str:
        return self._party(ref, "Supplier")

    def invoice_number(self, key: str) -> int | None:
        """The InvoiceNumber of the sales invoice written under push key
        `key` (one read the first time, none after), None when there is no
        such invoice or it has no number yet."""
        if key not in self._numbers:
            self._numbers[key] = None
            self._find_invoices([key])
        return self._numbers.get(key)

    def _typed(self, gl_type: int, *, raising: bool = True) -> str:
        for row in self._gl_rows():
            if int(row.get("Type") or 0) == gl_type and not row.get("IsBlocked"):
                return str(row["ID"])
        if raising:
            label = "receivable" if gl_type == translate.RECEIVABLE_TYPE else "payable"
            raise DocumentRejected(
                f"The administration has no {label} G/L account (type {gl_type}) in Exact Online"
            )
        return ""

    def receivable(self) -> str:
        return self._typed(translate.RECEIVABLE_TYPE)

    def payable(self) -> str:
        return self._typed(translate.PAYABLE_TYPE)

    # -- idempotent writes --

    def find_document(self, *, key: str) -> str | None:
        """The document carrying `key`: sales invoices by `YourRef` (the
        key's digest) with `Remarks` equal to the key, journal entries by a
        line whose `Notes` is the key. One or two reads."""
        known = self._written.get(key)
        if known:
            return known
        segments = set(key.split(":"))
        order = [self._find_invoice, self._find_journal]
        if not segments & {"invoice", "creditNote"}:
            order.reverse()
        for finder in order:
            found = finder(key)
            if found:
                self._written[key] = found
                return found
        return None

    def _find_invoice(self, key: str) -> str | None:
        return self._find_invoices([key]).get(key)

    def _find_journal(self, key: str) -> str | None:
        return self._find_journals([key]).get(key)

    def _find_invoices(self, keys: list[str]) -> dict[str, str]:
        """Key -> "SalesInvoice:<InvoiceID>" of the sales invoices carrying
        these keys (YourRef the digest, Remarks the key itself)."""
        found: dict[str, str] = {}
        for chunk in chunked(keys, LOOKUP_CHUNK):
            wanted = {translate.your_ref(k): k for k in chunk}
            condition = " or ".join(f"YourRef eq {odata_quoted(ref)}" for ref in wanted)
            rows = self.client.get_all(
                translate.SALES_INVOICES,
                {
                    "$filter": condition,
                    "$select": "InvoiceID,YourRef,Remarks,Status,InvoiceNumber",
                },
            )
            for row in rows:
                key = wanted.get(str(row.get("YourRef") or ""))
                if key is not None and row.get("Remarks") == key:
                    found[key] = f"SalesInvoice:{row['InvoiceID']}"
                    self._status[key] = int(row.get("Status") or translate.OPEN_STATUS)
                    number = row.get("InvoiceNumber")
                    self._numbers[key] = int(number) if number else None
        return found

    def _processed(self, key: str, document: dict[str, Any], written: str) -> str:
        """`written` ("SalesInvoice:<id>"), its invoice processed first when
        the document wants it and Exact last showed it open: one
        `PrintedSalesInvoices` create. Raises what that call raises (the
        invoice then stays open and is processed when the key is tried
        again)."""
        if (
            translate.to_process(document)
            and self._status.get(key, translate.OPEN_STATUS) == translate.OPEN_STATUS
        ):
            invoice_id = written.split(":", 1)[1]
            self.client.create(
                translate.PRINTED_SALES_INVOICES, translate.print_request(invoice_id)
            )
            self._status[key] = translate.PROCESSED_STATUS
            self._numbers.pop(key, None)  # numbered by the processing: read it when needed
        return written

    def _find_journals(self, keys: list[str]) -> dict[str, str]:
        """Key -> "GeneralJournalEntry:<EntryID>" of the entries one of
        whose lines carries the key in Notes."""
        found: dict[str, str] = {}
        for chunk in chunked(keys, LOOKUP_CHUNK):
            condition = " or ".join(f"Notes eq {odata_quoted(k)}" for k in chunk)
            rows = self.client.get_all(
                translate.JOURNAL_LINES, {"$filter": condition, "$select": "EntryID,Notes"}
            )
            wanted = set(chunk)
            for row in rows:
                key = str(row.get("Notes") or "")
                if key in wanted and row.get("EntryID"):
                    found[key] = f"GeneralJournalEntry:{row['EntryID']}"
        return found

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """Look the key up where its kind of document lives, and create the
        entity only when Exact has none. Raises DocumentRejected (with
        Exact's words), CredentialsRevoked, SubscriptionExpired or a
        TransientError."""
        found = self._written.get(key)
        if found is None:
            finder = (
                self._find_invoice if translate.is_sales_invoice(document) else self._find_journal
            )
            found = finder(key)
        if found:
            self._written[key] = found
            return self._processed(key, document, found)
        return self._create(key, document)

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Each (key, document) exactly once: the keys Exact already holds
        are looked up in a few reads and answered with their ids; the others
        are created one call each, in order; a sales invoice to process that
        is found still open, or just created, is processed (`_processed`).
        Per key: the document id or the
        error that refused it alone. A transient fault after some creates
        answers the writes done and leaves the rest unanswered (tried again);
        before any, and for credentials or subscription, it is raised."""
        documents = dict(items)
        results: dict[str, Outcome] = {k: self._written[k] for k in documents if k in self._written}
        invoices = [
            k for k, d in documents.items() if k not in results and translate.is_sales_invoice(d)
        ]
        journals = [
            k
            for k, d in documents.items()
            if k not in results and not translate.is_sales_invoice(d)
        ]
        for finder, keys in ((self._find_invoices, invoices), (self._find_journals, journals)):
            if keys:
                for key, found in finder(keys).items():
                    self._written[key] = found
                    results[key] = found
        for key, document in documents.items():
            # An invoice there but still open (its processing failed or its
            # answer was lost after the create): process it now.
            found = results.get(key)
            if isinstance(found, str) and translate.is_sales_invoice(document):
                try:
                    self._processed(key, document, found)
                except DocumentRejected as refused:
                    results[key] = refused
        return create_missing(documents, results, self._create)

    def _create(self, key: str, document: dict[str, Any]) -> str:
        path, body = translate.to_entity(
            key,
            document,
            self,
            general_journal=self.general_journal,
            sales_journal=self.sales_journal,
            cost_centre=self._cost_centre(document),
        )
        created = self.client.create(path, body)
        if path == translate.SALES_INVOICES:
            written = f"SalesInvoice:{created['InvoiceID']}"
            self._written[key] = written
            self._status[key] = int(created.get("Status") or translate.OPEN_STATUS)
            return self._processed(key, document, written)
        written = f"GeneralJournalEntry:{created['EntryID']}"
        self._written[key] = written
        return written

    def _cost_centre(self, document: dict[str, Any]) -> str | None:
        location = (document.get("group") or {}).get("locationId")
        if not location or self.cost_centres is None:
            return None
        found = self.cost_centres.get(str(location))
        if not found:
            raise DocumentRejected(
                f"Location {location} has no Exact Online cost centre; choose one on the "
                "Locations page"
            )
        return str(found)


def exact_limits() -> Any:
    """The division's limits for `connectors.limits.DatabaseRateLimiter`:
    60 calls a minute and 5,000 a day per company (README, third-party
    summaries; Exact's own headers are honoured on top, `ExactClient`). The
    window is counted a second longer than Exact's minute, as for Xero: a
    call granted at the end of one window can arrive in the next."""
    from connectors.limits import RateLimits

    return RateLimits(calls=60, window_seconds=61, daily=5000, concurrent=5)


def exact_target_build(context: ConnectorContext[ExactSettings]) -> ExactTarget:
    """The target for a linked Exact Online connection: its division on its
    country's host, its stored tokens (refreshed under the connection's row
    lock within Exact's last 30 s) and a limiter shared by all workers."""
    from connectors.exact.oauth import exact_oauth_client
    from connectors.limits import DatabaseRateLimiter

    exact = context.settings
    if exact.division <= 0:
        raise ConfigurationError("This Exact Online connection has no administration chosen")
    return ExactTarget(
        division=exact.division,
        tokens=context.token_source(exact_oauth_client(exact.host)),
        limiter=DatabaseRateLimiter(exact_limits()),
        base_url=exact_base_url(exact.host),
        general_journal=exact.general_journal,
        sales_journal=exact.sales_journal,
        cost_centres=exact.cost_centres,
    )
