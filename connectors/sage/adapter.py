"""`AccountingTarget` for Sage Accounting (API v3.1).

Sage takes one record per call and keeps no idempotency key, so every
write is preceded by a lookup of its key (`translate` says where the key is
kept). The sync hands this target whole batches (`writes_in_batches`):
`write_documents` lists each resource's records of the batch's days once
(`from_date`/`to_date`) and creates only the missing documents, one call
each. A merchant-day of twelve documents costs 22 calls, setup
reads included.

Document ids handed back are "<Resource>:<Sage id>" ("SalesInvoice:…",
"SalesCreditNote:…", "ContactPayment:…", "Journal:…"). Ledger accounts are
offered and referenced by their nominal code, tax rates by their id,
contacts by their id or their Sage `reference`.

Only documents in the business's base currency are written; others are
refused in plain words (by `check_references` before anything is written,
so the sync refuses the whole day, and by each write), never booked at the
wrong amount; see `SageTarget._currency_problem`.

Where each Sage fact used here comes from is in the docstrings of
`connectors.sage.client`, `connectors.sage.oauth`, `connectors.sage.translate`
and the methods below.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import requests

from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    CredentialsRevoked,
    DocumentRejected,
    SubscriptionExpired,
)
from connectors.batching import create_missing
from connectors.common import RateLimiter, TokenSource, credit_applied_advice
from connectors.context import ConnectorContext, SageSettings
from connectors.exact.translate import your_ref
from connectors.protocols import AccountOption, TaxRateOption
from connectors.sage import translate
from connectors.sage.client import THROTTLE_WAIT_SECONDS, SageClient
from mapping.documents import document_account_refs, document_tax_rate_refs

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
LEDGER_FIELDS = "nominal_code,name,ledger_account_type,included_in_chart"
TAX_FIELDS = "name,percentage,is_visible"
CONTACT_FIELDS = "name,reference"
Outcome = str | ApplicationError


def journal_vat_advice(documents: list[dict[str, Any]]) -> list[str]:
    """Plain words (one message, or []) when journal entries carry VAT
    (lines with a `taxAmount`): this connector writes their tax line as a
    plain journal line, and Sage's own help says a journal to VAT on Sales
    reaches the VAT return only when "include on VAT return" is chosen on it
    ("Control account warnings when posting journals",
    https://help.sbc.sage.com/en-ie/accounting/adjustments/accounting-journal-warning-control-accounts.html);
    the v3.1 field for that is not verified here, so it is not sent."""
    vat: dict[str, Decimal] = {}
    for document in documents:
        if document.get("type") != "journalEntry":
            continue
        currency = str(document.get("currency") or "")
        for line in document.get("journalLines") or []:
            amount = Decimal(str(line.get("taxAmount") or 0))
            vat[currency] = vat.get(currency, Decimal(0)) - amount
    money = ", ".join(f"{v} {k}".strip() for k, v in sorted(vat.items()) if v)
    if not money:
        return []
    return [
        f"The day's journals carry VAT ({money}) as plain journal lines: Sage Accounting puts "
        'a journal\'s VAT on the VAT return only when "include on VAT return" is chosen on '
        "it, which this connection does not set. Check those journals before filing, or "
        "choose the invoice format, whose VAT Sage reports itself"
    ]


class SageTarget:
    platform_key = "sage"
    writes_in_batches = True

    def __init__(
        self,
        *,
        business_id: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        base_url: str,
        debtors_account: str = "1100",
        creditors_account: str = "2100",
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float | None = None,
    ) -> None:
        self.client = SageClient(
            base_url=base_url,
            business_id=business_id,
            tokens=tokens,
            limiter=limiter,
            timeout=timeout,
            session=session,
            throttle_wait=THROTTLE_WAIT_SECONDS if throttle_wait is None else throttle_wait,
        )
        self.debtors_account = debtors_account
        self.creditors_account = creditors_account
        self._written: dict[str, str] = {}
        self._cache: dict[str, list[dict[str, Any]]] = {}
        self._base_currency: str | None = None

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- cached reads --

    def _rows(self, path: str, fields: str = "", fresh: bool = False) -> list[dict[str, Any]]:
        if fresh or path not in self._cache:
            params = {"attributes": fields} if fields else {}
            self._cache[path] = self.client.get_all(path, params)
        return self._cache[path]

    def _ledger(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        rows = self._rows(translate.LEDGER_ACCOUNTS, LEDGER_FIELDS, fresh)
        return {translate.code_of(r): r for r in rows}

    def _taxes(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        return {str(r["id"]): r for r in self._rows(translate.TAX_RATES, TAX_FIELDS, fresh)}

    def _contacts(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        rows = self._rows(translate.CONTACTS, CONTACT_FIELDS, fresh)
        found = {str(r.get("reference") or ""): r for r in rows if r.get("reference")}
        return found | {str(r["id"]): r for r in rows}

    def _banks(self) -> dict[str, str]:
        """Ledger account id -> bank account id."""
        rows = self._rows(translate.BANK_ACCOUNTS, "ledger_account")
        return {
            str((r.get("ledger_account") or {}).get("id") or ""): str(r["id"])
            for r in rows
            if r.get("ledger_account")
        }

    def base_currency(self) -> str:
        """The business's base currency, an ISO code such as "GBP" ("" when
        Sage names none): `GET /financial_settings` answers one object whose
        `base_currency.id` is it (Sage's API portal, "Returns all Financial
        Settings",
        https://developer.columbus.sage.com/docs/services/5788e8e1e3907f1e8009e814/operations/getfinancialsettings).
        Read once."""
        if self._base_currency is None:
            answer = self.client.request("GET", f"{self.client.base_url}/financial_settings")
            self._base_currency = str((answer.get("base_currency") or {}).get("id") or "")
        return self._base_currency

    def _currency_problem(self, document: dict[str, Any]) -> str | None:
        """Plain words when the document is not in the base currency: this
        target writes base-currency documents only. Sage can hold sales
        invoices, credit notes and contact payments in a foreign currency
        (`currency_id`, `exchange_rate` on Sage Accounting Plus, the
        currency following the contact's), but posts journals in the base
        currency only (Sage's knowledge base, "How to invoice in another
        currency",
        https://ca-kb.sage.com/portal/app/portlets/results/viewsolution.jsp?solutionid=250409201323443):
        a day in another currency is refused whole rather than booked at the
        wrong amount. A business whose base currency Sage does not name is
        refused too."""
        base = self.base_currency()
        if not base:
            return (
                "Sage Accounting did not say which currency this business keeps its books in, "
                f"so {document['currency']} documents cannot be checked against it; nothing "
                "was written"
            )
        if document["currency"] != base:
            return (
                f"This Sage Accounting business keeps its books in {base}; {document['currency']} "
                "documents cannot be written to it by this connection"
            )
        return None

    # -- reads for the setup flow --

    def list_accounts(self) -> list[AccountOption]:
        """Every ledger account (left out of the chart: "Archived"), by nominal code."""
        return [translate.account_option(r) for r in self._ledger(fresh=True).values()]

    def list_tax_rates(self) -> list[TaxRateOption]:
        """The visible tax rates, with their percentage."""
        rates = self._taxes(fresh=True).values()
        return [translate.tax_rate_option(r) for r in rates if r.get("is_visible", True)]

    def _parties(self, kind: str) -> list[dict[str, str]]:
        rows = self.client.get_all(
            translate.CONTACTS, {"contact_type_id": kind, "attributes": CONTACT_FIELDS}
        )
        return [
            {"id": str(r["id"]), "name": str(r.get("name") or r["id"]), "status": "Active"}
            for r in rows
        ]

    def list_customers(self) -> list[dict[str, str]]:
        return self._parties("CUSTOMER")

    def list_suppliers(self) -> list[dict[str, str]]:
        return self._parties("VENDOR")

    def list_currencies(self) -> list[str]:
        """The currency codes Sage knows (`currencies`, ids such as "GBP")."""
        return sorted({str(r["id"]) for r in self.client.get_all("currencies")})

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        """A ledger account with nominal code `account_id` (digits, 1 to
        99999999). Sage requires `ledger_account_type_id`,
        `included_in_chart`, `name`, `display_name` and an integer
        `nominal_code` of at most 99999999 (Sage's API portal, "Creates a
        Ledger Account",
        https://developer.columbus.sage.com/docs/services/585005bf00c9d314bc8e1d30/operations/postLedgerAccounts).
        Raises DocumentRejected for another code."""
        if not (account_id.isdigit() and 1 <= int(account_id) <= 99_999_999):
            raise DocumentRejected(
                f"Sage Accounting nominal codes are whole numbers from 1 to 99999999; "
                f"{account_id!r} cannot be one"
            )
        created = self.client.create(
            translate.LEDGER_ACCOUNTS,
            "ledger_account",
            {
                "ledger_account_type_id": translate.NEW_ACCOUNT_TYPES.get(
                    account_type, "CURRENT_ASSETS"
                ),
                "included_in_chart": True,
                "name": name,
                "display_name": name,
                "nominal_code": int(account_id),
            },
        )
        self._cache.pop(translate.LEDGER_ACCOUNTS, None)
        return translate.account_option(created)

    # -- the check before a sync writes anything --

    def advisories(self, documents: list[dict[str, Any]]) -> list[str]:
        """Plain words, one per account, for payments (and bill payments)
        that settle our invoices, credit notes or bills but go to a ledger
        account that is not one of the business's bank accounts. Sage takes
        a contact payment, the only record it allocates to an invoice, into
        a bank account only (`bank_account_id` is required), so such a
        payment is a journal on the debtors (creditors) control account: the
        accounts balance, but Sage's own help says a journal to Trade Debtors
        is not reflected on the Aged Debtors report ("Control account
        warnings when posting journals",
        https://help.sbc.sage.com/en-ie/accounting/adjustments/accounting-journal-warning-control-accounts.html),
        so the documents stay outstanding there where a Xero merchant's are
        paid. [] when every such payment goes to a bank account. One read
        (bank accounts) and the chart, both cached."""
        sides = {
            "payment": ("debtors", "Aged Debtors", "invoices and credit notes"),
            "billPayment": ("creditors", "Aged Creditors", "bills"),
        }
        advice = credit_applied_advice(documents, "Sage Accounting", "a customer allocation")
        advice += journal_vat_advice(documents)
        settling = [d for d in documents if d.get("type") in sides and (d.get("links") or [])]
        if not settling:
            return advice
        banks, ledger = self._banks(), self._ledger()
        seen: dict[tuple[str, str], None] = {}
        for document in settling:
            code = str(document["accountRef"]["id"])
            if str((ledger.get(code) or {}).get("id")) not in banks:
                seen[(document["type"], code)] = None
        for kind, code in seen:
            control, report, what = sides[kind]
            name = (ledger.get(code) or {}).get("name")
            label = f"{code} ({name})" if name else code
            advice.append(
                f"Payments to ledger account {label} are posted as journals on the {control} "
                f"control account, because Sage Accounting allocates payments only from a bank "
                f"account: the {what} they settle stay outstanding on Sage's {report} report, "
                "although the accounts balance. To have them marked paid, choose a Sage bank "
                "account for that payment type (a clearing account can be a bank account of "
                "type Cash in hand or Other)"
            )
        return advice

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the business would make these documents fail, in plain
        words: missing or hidden ledger accounts and tax rates, missing
        contacts, and the control accounts (debtors, creditors, VAT) the
        journals need. Three or four reads, whatever the number of documents."""
        accounts: set[str] = set()
        taxes: set[str] = set()
        contacts: set[str] = set()
        for document in documents:
            accounts |= document_account_refs(document)
            taxes |= document_tax_rate_refs(document)
            for ref in ("customerRef", "supplierRef"):
                if document.get(ref):
                    contacts.add(str(document[ref]["id"]))
        kinds = {d["type"] for d in documents}
        # A payment or bill payment to an account that is not a bank account
        # is a journal against the debtors or creditors control account.
        controls = {"payment": self.debtors_account, "billPayment": self.creditors_account}
        if kinds & set(controls):
            banks = self._banks()
            ledger = self._ledger()
            for document in documents:
                control = controls.get(document["type"])
                account = ledger.get(str(document["accountRef"]["id"])) if control else None
                if control and str((account or {}).get("id")) not in banks:
                    accounts.add(control)
        problems: list[str] = list(
            dict.fromkeys(filter(None, (self._currency_problem(d) for d in documents)))
        )
        self._cache.pop(translate.TAX_RATES, None)
        self._cache.pop(translate.CONTACTS, None)
        if accounts:
            problems += translate.missing_problems(
                "Ledger account", accounts, self._ledger(), "included_in_chart"
            )
        if taxes:
            problems += translate.missing_problems("Tax rate", taxes, self._taxes(), "is_visible")
        if contacts:
            problems += translate.missing_problems("Contact", contacts, self._contacts())
        return list(dict.fromkeys(problems))

    # -- what the translation looks up (translate.References) --

    def ledger_account(self, code: str) -> str:
        row = self._ledger().get(code)
        if row is None:
            raise DocumentRejected(f"Ledger account {code} does not exist in Sage Accounting")
        if row.get("included_in_chart") is False:
            raise DocumentRejected(f"Ledger account {code} is no longer in use in Sage Accounting")
        return str(row["id"])

    def tax_rate(self, code: str) -> str:
        if code not in self._taxes():
            raise DocumentRejected(f"Tax rate {code} does not exist in Sage Accounting")
        return code

    def contact(self, ref: str) -> str:
        row = self._contacts().get(ref)
        if row is None:
            raise DocumentRejected(f"Contact {ref} does not exist in Sage Accounting")
        return str(row["id"])

    def bank_account(self, code: str) -> str | None:
        row = self._ledger().get(code)
        return self._banks().get(str(row["id"])) if row else None

    def debtors(self) -> str:
        return self.ledger_account(self.debtors_account)

    def creditors(self) -> str:
        return self.ledger_account(self.creditors_account)

    def written(self, key: str) -> str | None:
        """The id of the document written under `key` (a payment's invoice
        or credit note): remembered, else looked up in Sage (written by an
        earlier run), else None (the payment is then left unallocated)."""
        return self._written.get(key) or self.find_document(key=key)

    # -- idempotent writes --

    def _find(self, resource: tuple[str, str, str], day: str, keys: list[str]) -> dict[str, str]:
        """Key -> "<Resource>:<id>" of the records of `resource` dated `day`
        whose `reference` is one of these keys' digests. One read (paged)."""
        wanted = {your_ref(k): k for k in keys}
        path, _, prefix = resource
        rows = self.client.get_all(
            path, {"from_date": day, "to_date": day, "attributes": "reference"}
        )
        found = {}
        for row in rows:
            key = wanted.get(str(row.get("reference") or ""))
            if key is not None:
                found[key] = f"{prefix}:{row['id']}"
        return found

    def find_document(self, *, key: str) -> str | None:
        """The document carrying `key`, looked up among the records of its
        business day (the key's date segment, "<merchant>:<YYYY-MM-DD>:…",
        `mapping.keys.document_key`) of every resource kind, the likeliest
        first. At most five reads; None for a key without a day."""
        known = self._written.get(key)
        if known:
            return known
        parts = key.split(":")
        day = next((p for p in parts if _DAY.fullmatch(p)), "")
        if not day:
            return None
        likely = [translate.LIKELY[s] for s in parts if s in translate.LIKELY][:1]
        order = likely + [r for r in translate.RESOURCES if r not in likely]
        for resource in order:
            found = self._find(resource, day, [key]).get(key)
            if found:
                self._written[key] = found
                return found
        return None

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """Look the key up among the day's records of its resource and create
        the record only when Sage has none. Raises DocumentRejected (with
        Sage's words), CredentialsRevoked, SubscriptionExpired or a
        TransientError."""
        outcome = self.write_documents([(key, document)])[key]
        if isinstance(outcome, ApplicationError):
            raise outcome
        return outcome

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Each (key, document) exactly once: the keys Sage already holds are
        found with one read per resource and day; the others are created one
        call each, in order (invoices before the payments allocated to
        them). Per key: the document id or the error that refused it alone.
        A transient fault after some creates answers the writes done and
        leaves the rest unanswered (tried again); before any, and for
        credentials or subscription, it is raised."""
        documents = dict(items)
        results: dict[str, Outcome] = {k: self._written[k] for k in documents if k in self._written}
        groups: dict[tuple[tuple[str, str, str], str], list[str]] = defaultdict(list)
        for key, document in documents.items():
            if key in results:
                continue
            try:
                resource = translate.resource_for(document, self)
            except (CredentialsRevoked, SubscriptionExpired):
                raise
            except ApplicationError as error:
                if error.transient:
                    raise
                results[key] = error
                continue
            groups[(resource, str(document["date"]))].append(key)
        for (resource, day), keys in groups.items():
            for key, found in self._find(resource, day, keys).items():
                self._written[key] = found
                results[key] = found
        create_missing(documents, results, self._create)
        return {k: results[k] for k in documents if k in results}

    def _create(self, key: str, document: dict[str, Any]) -> str:
        problem = self._currency_problem(document)
        if problem:
            raise DocumentRejected(problem)
        (path, wrapper, prefix), body = translate.to_resource(key, document, self)
        created = self.client.create(path, wrapper, body)
        written = f"{prefix}:{created['id']}"
        self._written[key] = written
        return written


def sage_limits() -> Any:
    """The business's limits for `connectors.limits.DatabaseRateLimiter`.
    Sage publishes no figure in the reference material: 60 calls a minute
    (counted over 61 s) and 5 at once are this product's own cautious
    choice; Sage's 429s with Retry-After are honoured on top (`SageClient`)."""
    from connectors.limits import RateLimits

    return RateLimits(calls=60, window_seconds=61, concurrent=5)


def sage_target_build(context: ConnectorContext[SageSettings]) -> SageTarget:
    """The target for a linked Sage connection: its business (`X-Business`),
    its stored tokens (refreshed under the connection's row lock) and a
    limiter shared by all workers."""
    from django.conf import settings

    from connectors.limits import DatabaseRateLimiter
    from connectors.sage.oauth import sage_oauth_client

    sage = context.settings
    if not sage.business_id:
        raise ConfigurationError("This Sage Accounting connection has no business chosen")
    return SageTarget(
        business_id=sage.business_id,
        tokens=context.token_source(sage_oauth_client()),
        limiter=DatabaseRateLimiter(sage_limits()),
        base_url=settings.SAGE_API_URL,
        debtors_account=sage.debtors_account,
        creditors_account=sage.creditors_account,
    )
