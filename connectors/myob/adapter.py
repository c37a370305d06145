"""`AccountingTarget` for MYOB Business (AccountRight v2).

MYOB takes one document per call and keeps no idempotency key, so every
write is preceded by a lookup of its key (see `translate` for where the key
is kept). The sync hands this target whole batches (`writes_in_batches`):
`write_documents` looks the keys of a batch up with a few `or`-filtered
reads (`LOOKUP_CHUNK` keys each, per entity) and then creates only the
missing documents, one call each, invoices before the payments that settle
them.

Document ids handed back are "<Entity>:<UID>" ("GeneralJournal:…",
"Invoice:…", "CustomerPayment:…", "CreditRefund:…"). Accounts are offered and referenced by
their DisplayID ("1-1100"), tax codes by their code ("GST"), customers by
their UID or their card's DisplayID.
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
from connectors.context import ConnectorContext, MyobSettings
from connectors.exact.client import odata_quoted
from connectors.myob import translate
from connectors.myob.client import THROTTLE_WAIT_SECONDS, MyobClient
from connectors.protocols import AccountOption, TaxRateOption, TrackingOption
from mapping.documents import document_account_refs, document_tax_rate_refs

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Keys looked up per read: ten `Memo eq '<key>'` conditions keep the URL
# near 1.5 kB.
LOOKUP_CHUNK = 10
Outcome = str | ApplicationError
CENT = Decimal("0.01")
# Where each entity keeps the key, and the id prefix handed back.
KEY_FIELDS = {
    translate.GENERAL_JOURNALS: ("Memo", "GeneralJournal"),
    translate.INVOICES: ("JournalMemo", "Invoice"),
    translate.CUSTOMER_PAYMENTS: ("Memo", "CustomerPayment"),
    translate.CREDIT_REFUNDS: ("Memo", "CreditRefund"),
    translate.CREDIT_SETTLEMENTS: ("Memo", "CreditSettlement"),
}


class MyobTarget:
    platform_key = "myob"
    writes_in_batches = True

    def __init__(
        self,
        *,
        company_file: str,
        api_key: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        base_url: str,
        receivable_account: str = "1-1200",
        payable_account: str = "2-1200",
        categories: dict[str, str] | None = None,
        currency: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float | None = None,
    ) -> None:
        self.client = MyobClient(
            base_url=base_url,
            company_file=company_file,
            api_key=api_key,
            tokens=tokens,
            limiter=limiter,
            timeout=timeout,
            session=session,
            throttle_wait=THROTTLE_WAIT_SECONDS if throttle_wait is None else throttle_wait,
        )
        self.receivable_account = receivable_account
        self.payable_account = payable_account
        # {location id: category UID}; None: locations are not tracked.
        self.categories = categories
        # The company file's own (local) currency, an ISO code: the
        # merchant's home currency. None: not checked (direct use in tests).
        self.currency = currency
        self._written: dict[str, str] = {}
        self._accounts: list[dict[str, Any]] | None = None
        self._tax_codes: list[dict[str, Any]] | None = None
        self._customers: dict[str, dict[str, Any]] = {}

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- cached reads --

    def _account_rows(self) -> list[dict[str, Any]]:
        if self._accounts is None:
            self._accounts = self.client.get_all(translate.ACCOUNTS)
        return self._accounts

    def _tax_rows(self) -> list[dict[str, Any]]:
        if self._tax_codes is None:
            self._tax_codes = self.client.get_all(translate.TAX_CODES)
        return self._tax_codes

    # -- reads for the setup flow --

    def list_accounts(self) -> list[AccountOption]:
        """Every posting account (header accounts left out), by DisplayID;
        inactive ones as "Archived"."""
        self._accounts = None
        return [translate.account_option(r) for r in self._account_rows() if not r.get("IsHeader")]

    def list_tax_rates(self) -> list[TaxRateOption]:
        """Every tax code with its rate (percent)."""
        self._tax_codes = None
        return [translate.tax_rate_option(r) for r in self._tax_rows()]

    def list_customers(self) -> list[dict[str, str]]:
        """Every customer card (`Contact/Customer`, paged like the accounts):
        {"id": UID, "name", "status": "Active" | "Archived"}."""
        return [translate.contact_option(r) for r in self.client.get_all(translate.CUSTOMERS)]

    def list_suppliers(self) -> list[dict[str, str]]:
        """Every supplier card (`Contact/Supplier`), shaped as `list_customers`."""
        return [translate.contact_option(r) for r in self.client.get_all(translate.SUPPLIERS)]

    def list_tracking_options(self) -> list[TrackingOption]:
        """The active categories (`GeneralLedger/Category`) a location's
        documents can be posted under: option_id the category's UID (what
        `MyobSettings.categories` keeps), option "<DisplayID> <Name>"."""
        return [
            translate.category_option(r)
            for r in self.client.get_all(translate.CATEGORIES)
            if r.get("IsActive", True)
        ]

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        """A detail account `account_id` in MYOB's numbering ("4-1100": the
        classification digit, a dash, the four-digit `Number`), of our
        `account_type` (Asset, Liability, Equity, Income, Expense), which
        must agree with that digit. Posted to `GeneralLedger/Account` with
        the `Type` the digit gives (a member of AccountType), `Number`,
        `Level` one below the header account it falls under (2 to 4: "You
        can only assign levels 2 to 4 to a new account"), and the file's
        not-reportable tax code ("N-T", else its first 0 % code) as its
        default tax code; `Classification` and `ParentAccount` are read
        only and left to MYOB (SDK contracts, GeneralLedger/Account.cs,
        Classification.cs, AccountType.cs; MYOB's Account page gives the
        60-character name limit). Raises DocumentRejected, in plain words,
        for a malformed number, a type the digit does not allow, a number
        already used, a name empty or too long, or a file with no tax code
        to give it; and what MYOB answers."""
        match = translate.ACCOUNT_NUMBER.match(account_id.strip())
        if match is None:
            raise DocumentRejected(
                f"MYOB account number {account_id!r} is not valid: write it as MYOB does, "
                "the classification digit, a dash and four digits (e.g. 4-1100)"
            )
        digit, number = match.group(1), int(match.group(2))
        classification, myob_type = translate.NEW_ACCOUNTS[digit]
        ours = translate.ACCOUNT_TYPES[classification]
        if account_type != ours:
            starts = " or ".join(
                f"{d}-" for d, (c, _) in translate.NEW_ACCOUNTS.items()
                if translate.ACCOUNT_TYPES[c] == account_type
            )  # fmt: skip
            hint = f"; {_a(account_type)} account starts with {starts}" if starts else ""
            raise DocumentRejected(
                f"MYOB account {account_id} is {_a(classification)} number ({digit}-…), "
                f"not {account_type}{hint}"
            )
        name = name.strip()
        if not name or len(name) > translate.ACCOUNT_NAME_MAX:
            raise DocumentRejected(
                f"A MYOB account name has 1 to {translate.ACCOUNT_NAME_MAX} characters; "
                f"{name!r} has {len(name)}"
            )
        self._accounts = None
        rows = self._account_rows()
        display_id = f"{digit}-{number:04d}"
        if any(str(r.get("DisplayID") or "") == display_id for r in rows):
            raise DocumentRejected(f"MYOB account {display_id} already exists")
        tax = translate.default_account_tax_code(self._tax_rows())
        if tax is None:
            raise DocumentRejected(
                "MYOB needs a tax code on a new account and this company file has none"
            )
        body = {
            "DisplayID": display_id,
            "Name": name,
            "Number": number,
            "Type": myob_type,
            "Level": translate.new_account_level(display_id, rows),
            "IsHeader": False,
            "IsActive": True,
            "TaxCode": {"UID": str(tax["UID"])},
        }
        self.client.create(translate.ACCOUNTS, body)
        self._accounts = None
        return AccountOption(id=display_id, name=name, type=ours)

    # -- the check before a sync writes anything --

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the company file would make these documents fail, in
        plain words: accounts missing, inactive or header accounts (by
        DisplayID), tax codes missing, the receivable or payable account
        missing where needed, customers not found. Two reads, plus one per
        customer named by DisplayID."""
        accounts: set[str] = set()
        codes: set[str] = set()
        customers: set[str] = set()
        for document in documents:
            accounts |= document_account_refs(document)
            codes |= document_tax_rate_refs(document)
            if document.get("customerRef") and translate.endpoint_of(document) != (
                translate.GENERAL_JOURNALS
            ):
                customers.add(str(document["customerRef"]["id"]))
            if translate.endpoint_of(document) == translate.GENERAL_JOURNALS and (
                document["type"] == "payment"
            ):
                accounts.add(self.receivable_account)
            if document["type"] in ("bill", "billPayment"):
                accounts.add(self.payable_account)
        self._accounts = self._tax_codes = None
        problems: list[str] = list(
            dict.fromkeys(filter(None, (self._currency_problem(d) for d in documents)))
        )
        problems += self._category_problems(documents)
        rows = {str(r.get("DisplayID") or ""): r for r in self._account_rows()}
        for display_id in sorted(accounts):
            row = rows.get(display_id)
            if row is None:
                problems.append(f"Account {display_id} does not exist in MYOB")
            elif not row.get("IsActive", True):
                problems.append(f"Account {display_id} ({row.get('Name')}) is inactive in MYOB")
            elif row.get("IsHeader"):
                problems.append(
                    f"Account {display_id} ({row.get('Name')}) is a header account in MYOB; "
                    "choose a detail account under it"
                )
        known = {str(r.get("Code") or "") for r in self._tax_rows()}
        problems += [f"Tax code {c} does not exist in MYOB" for c in sorted(codes - known)]
        problems += self._tax_differences([d for d in documents if translate.is_invoice(d)])
        for ref in sorted(customers):
            try:
                self.customer(ref)
            except DocumentRejected as error:
                problems.append(str(error))
        return problems

    def _category_problems(self, documents: list[dict[str, Any]]) -> list[str]:
        """Where locations are tracked: each location whose invoices or
        journals are written needs a category, and that category must
        exist and be active in the company file (one read)."""
        if self.categories is None:
            return []
        locations = {
            str(location)
            for document in documents
            if (location := (document.get("group") or {}).get("locationId"))
            and translate.endpoint_of(document)
            in (translate.SERVICE_INVOICES, translate.GENERAL_JOURNALS)
        }
        if not locations:
            return []
        problems = []
        rows = {str(r.get("UID")): r for r in self.client.get_all(translate.CATEGORIES)}
        for location in sorted(locations):
            uid = self.categories.get(location)
            row = rows.get(str(uid))
            if not uid:
                problems.append(
                    f"Location {location} has no MYOB category; choose one on the Locations page"
                )
            elif row is None:
                problems.append(
                    f"The MYOB category of location {location} does not exist in MYOB any more; "
                    "choose another on the Locations page"
                )
            elif not row.get("IsActive", True):
                problems.append(
                    f"The MYOB category of location {location} ({row.get('DisplayID')}) is "
                    "inactive in MYOB; make it active there or choose another"
                )
        return problems

    def _category(self, document: dict[str, Any]) -> str | None:
        """The category UID a document of a tracked location carries; None
        when locations are not tracked or the document has no location.
        DocumentRejected when its location has none."""
        location = (document.get("group") or {}).get("locationId")
        if not location or self.categories is None:
            return None
        uid = self.categories.get(str(location))
        if not uid:
            raise DocumentRejected(
                f"Location {location} has no MYOB category; choose one on the Locations page"
            )
        return uid

    def _tax_differences(self, invoices: list[dict[str, Any]]) -> list[str]:
        """MYOB works an invoice line's tax out itself from its tax code's
        rate (a service line has no tax amount to send); where that differs
        from the tax the sales carried, `translate.rounding_lines` adds a
        labelled pair of lines, which needs a rate above 0 % and the file's
        untaxed code: what would stop it is named here before anything is
        written."""
        problems = []
        codes = {str(r.get("Code") or "") for r in self._tax_rows()}
        for document in invoices:
            if any(
                str((i.get("taxRateRef") or {}).get("id")) not in codes
                for i in document["lineItems"]
            ):
                continue  # the missing code is named by the reference checks
            sign = Decimal(-1) if document["type"] == "creditNote" else Decimal(1)
            try:
                translate.rounding_lines(document, self, sign)
            except DocumentRejected as refused:
                problems.append(f"{document['key']}: {refused}")
        return problems

    # -- what the translation looks up (translate.References) --

    def account(self, display_id: str) -> str:
        for row in self._account_rows():
            if str(row.get("DisplayID") or "") == display_id:
                if not row.get("IsActive", True):
                    raise DocumentRejected(f"Account {display_id} is inactive in MYOB")
                return str(row["UID"])
        raise DocumentRejected(f"Account {display_id} does not exist in MYOB")

    def _tax_row(self, code: str) -> dict[str, Any]:
        for row in self._tax_rows():
            if str(row.get("Code") or "") == code:
                return row
        raise DocumentRejected(f"Tax code {code} does not exist in MYOB")

    def tax_code(self, code: str) -> str:
        return str(self._tax_row(code)["UID"])

    def tax_rate(self, code: str) -> Decimal:
        """The code's rate as a percentage (MYOB keeps 10.0 for 10 %)."""
        return Decimal(str(self._tax_row(code).get("Rate") or 0))

    def untaxed_tax_code(self) -> str | None:
        """The UID of the file's not-reportable code (N-T), else its first
        0 % code, for the second of a pair of tax rounding lines."""
        zero = [r for r in self._tax_rows() if not Decimal(str(r.get("Rate") or 0))]
        row = translate.default_account_tax_code(zero) if zero else None
        return str(row["UID"]) if row else None

    def tax_paid_account(self, code: str) -> str:
        account = (self._tax_row(code).get("TaxPaidAccount") or {}).get("UID")
        if not account:
            raise DocumentRejected(f"Tax code {code} has no account for tax paid in MYOB")
        return str(account)

    def customer(self, ref: str) -> str:
        if _GUID.match(ref):
            return ref
        if ref not in self._customers:
            rows = self.client.get_all(
                translate.CUSTOMERS, {"$filter": f"DisplayID eq {odata_quoted(ref)}"}
            )
            if not rows:
                raise DocumentRejected(f"Customer {ref} does not exist in MYOB")
            self._customers[ref] = rows[0]
        row = self._customers[ref]
        if not row.get("IsActive", True):
            raise DocumentRejected(f"Customer {ref} is inactive in MYOB")
        return str(row["UID"])

    def receivable(self) -> str:
        return self.account(self.receivable_account)

    def payable(self) -> str:
        return self.account(self.payable_account)

    def invoice(self, key: str) -> str | None:
        found = self._written.get(key) or self._find_many(translate.INVOICES, [key]).get(key)
        if found:
            self._written[key] = found
        return found.split(":", 1)[1] if found else None

    # -- idempotent writes --

    def find_document(self, *, key: str) -> str | None:
        """The document carrying `key`: one `$filter` read per entity where
        a document of that key may live (the key's kind says where first)."""
        known = self._written.get(key)
        if known:
            return known
        segments = set(key.split(":"))
        if segments & {"invoice", "creditNote"}:
            order = [translate.INVOICES, translate.GENERAL_JOURNALS]
        elif "payment" in segments:
            order = [
                translate.CUSTOMER_PAYMENTS,
                translate.CREDIT_REFUNDS,
                translate.GENERAL_JOURNALS,
            ]
        else:
            order = [
                translate.GENERAL_JOURNALS,
                translate.CUSTOMER_PAYMENTS,
                translate.CREDIT_REFUNDS,
                translate.INVOICES,
            ]
        for path in order:
            found = self._find_many(path, [key]).get(key)
            if found:
                self._written[key] = found
                return found
        return None

    def _find_many(self, path: str, keys: list[str]) -> dict[str, str]:
        """Key -> "<Entity>:<UID>" of the entities at `path` carrying these keys."""
        field, prefix = KEY_FIELDS[path]
        found: dict[str, str] = {}
        for chunk in chunked(keys, LOOKUP_CHUNK):
            condition = " or ".join(f"{field} eq {odata_quoted(k)}" for k in chunk)
            for row in self.client.get_all(path, {"$filter": condition}):
                key = str(row.get(field) or "")
                if key in chunk and row.get("UID"):
                    found[key] = f"{prefix}:{row['UID']}"
        return found

    @staticmethod
    def _lookup_path(document: dict[str, Any]) -> str:
        path = translate.endpoint_of(document)
        return translate.INVOICES if path == translate.SERVICE_INVOICES else path

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """Look the key up where its kind of document lives, and create the
        entity only when MYOB has none. Raises DocumentRejected (with MYOB's
        words), CredentialsRevoked, SubscriptionExpired or a TransientError."""
        found = self._written.get(key)
        if found is None:
            found = self._find_many(self._lookup_path(document), [key]).get(key)
        if found:
            self._written[key] = found
            self.complete_document(key=key, document=document, target_id=found)
            return found
        return self._create(key, document)

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Each (key, document) exactly once: keys MYOB already holds are
        looked up in a few reads and answered with their ids; the others are
        created one call each, in order. Per key: the document id or the
        error that refused it alone. A transient fault after some creates
        answers the writes done and leaves the rest unanswered (tried
        again); before any, and for credentials or subscription, it is raised."""
        documents = dict(items)
        results: dict[str, Outcome] = {k: self._written[k] for k in documents if k in self._written}
        by_path: dict[str, list[str]] = {}
        for key, document in documents.items():
            if key not in results:
                by_path.setdefault(self._lookup_path(document), []).append(key)
        for path, keys in by_path.items():
            for key, found in self._find_many(path, keys).items():
                self._written[key] = found
                results[key] = found
                try:  # what a crash may have cut short after it
                    self.complete_document(key=key, document=documents[key], target_id=found)
                except DocumentRejected as error:
                    results[key] = error
        return create_missing(documents, results, self._create)

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        """A credit note applied to the day's invoices, found written
        (`target_id`, "Invoice:<UID>"): its credit settlement is looked up
        by its Memo and made only when missing. Nothing for other documents."""
        if not translate.applied_to_invoices(document):
            return
        memo = key + translate.SETTLEMENT_SUFFIX
        if self._find_many(translate.CREDIT_SETTLEMENTS, [memo]):
            return
        self._settle(key, document, target_id.split(":", 1)[1])

    def _settle(self, key: str, document: dict[str, Any], credit_note: str) -> None:
        body = translate.credit_settlement(key, document, self, credit_note)
        self.client.create(translate.CREDIT_SETTLEMENTS, body)

    def _currency_problem(self, document: dict[str, Any]) -> str | None:
        """Plain words when `document` is not in the company file's own
        currency. The MYOB contracts can carry a foreign currency
        (`ForeignCurrency` and `CurrencyExchangeRate` on Sale/Invoice,
        CustomerPayment, CreditRefund and GeneralLedger/GeneralJournal,
        ../shared/reference/myob/sdk-contracts/Version2), but this connector
        writes local amounts only and the contracts give no way to read the
        company file's local currency: it is taken to be the merchant's home
        currency, and a day in any other is refused whole rather than booked
        as that many units of local money. None when it matches or when no
        currency was given."""
        found = str(document.get("currency") or "")
        if self.currency is None or not found or found == self.currency:
            return None
        return (
            f"MYOB: the day's {found} documents cannot be written: this connection writes "
            f"amounts in {self.currency} (the company file's own currency) only, and would "
            f"book {found} amounts as {self.currency}; nothing in {found} was written"
        )

    def _create(self, key: str, document: dict[str, Any]) -> str:
        problem = self._currency_problem(document)
        if problem:
            raise DocumentRejected(problem)
        path, body = translate.to_entity(key, document, self, self._category(document))
        uid = self.client.create(path, body)
        prefix = KEY_FIELDS[self._lookup_path(document)][1]
        written = f"{prefix}:{uid}"
        self._written[key] = written
        if translate.applied_to_invoices(document):
            self._settle(key, document, uid)
        return written


def _a(word: str) -> str:
    """`word` with its indefinite article ("an Expense", "a Liability")."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def myob_limits() -> Any:
    """Limits for `connectors.limits.DatabaseRateLimiter`, per API key: 8
    calls a second and 1,000,000 a day (README: MYOB staff on
    community.myob.com). The window is counted half a second longer than
    MYOB's second (8 calls per 1.5 s, about 5.3 a second): a call granted at
    the end of one window can arrive in the next, and on a busy host that
    delay passed 0.2 s (the margin first chosen: the two-worker test saw 9
    calls in one second then)."""
    from connectors.limits import RateLimits

    return RateLimits(calls=8, window_seconds=1.5, daily=1_000_000)


def myob_target_build(context: ConnectorContext[MyobSettings]) -> MyobTarget:
    """The target for a linked MYOB connection: its company file, its stored
    tokens (refreshed under the connection's row lock 60 s before they
    expire) and a limiter shared by all workers, per API key."""
    from django.conf import settings

    from connectors.limits import DatabaseRateLimiter
    from connectors.myob.oauth import myob_oauth_client

    myob = context.settings
    if not myob.company_file:
        raise ConfigurationError("This MYOB connection has no company file chosen")
    return MyobTarget(
        company_file=myob.company_file,
        api_key=settings.MYOB_CLIENT_ID,
        tokens=context.token_source(myob_oauth_client()),
        limiter=DatabaseRateLimiter(myob_limits()),
        base_url=settings.MYOB_API_URL,
        receivable_account=myob.receivable_account,
        payable_account=myob.payable_account,
        categories=myob.categories,
        currency=context.currency,
    )
