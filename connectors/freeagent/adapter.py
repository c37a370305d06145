"""`AccountingTarget` for FreeAgent (API v2), plus the reads the setup flow needs.

FreeAgent writes one resource per call and keeps no idempotency key, so
exactly-once rests on the push key carried in each document
(`connectors.freeagent.translate`: a description, comments or reference)
and on looking keys up before writing: a batch first lists, once per kind
and day (or bank account and day), what FreeAgent already holds, then posts
only what is missing, in waves so a payment follows the invoice, credit note
or bill it settles. A document found half done (an invoice still a draft, a
credit note not yet reconciled) is completed, not written again.

Document ids we hand back are FreeAgent's URLs for the first resource a
document made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from commerce_sync.errors import ApplicationError, DocumentRejected
from connectors.batching import SingleWrites, document_links, waves_write
from connectors.context import ConnectorContext, FreeAgentSettings
from connectors.freeagent import translate
from connectors.freeagent.client import FreeAgentClient
from connectors.freeagent.translate import TAG, Write
from connectors.protocols import AccountOption, TaxRateOption
from mapping.documents import document_account_refs, document_tax_rate_refs

Outcome = str | ApplicationError
# Where each kind of write is listed back, and under which collection.
LISTS = {
    "journal_set": ("/journal_sets", "journal_sets"),
    "invoice": ("/invoices", "invoices"),
    "credit_note": ("/credit_notes", "credit_notes"),
    "bill": ("/bills", "bills"),
    "explanation": ("/bank_transaction_explanations", "bank_transaction_explanations"),
}
# FreeAgent's UK VAT rates, offered when the company lists no sales tax periods.
UK_VAT_RATES = (Decimal(20), Decimal(5), Decimal(0))
LINK_KINDS = {"Invoice": "invoice", "CreditNote": "credit_note", "Bill": "bill"}
# Documents FreeAgent keeps in their own currency (it converts them).
NATIVE_CONVERTED = ("invoice", "creditNote", "bill")
KIND_WORDS = {
    "journalEntry": "journal entry",
    "payment": "payment",
    "billPayment": "bill payment",
    "deposit": "deposit",
    "transfer": "transfer",
}


class FreeAgentTarget:
    platform_key = "freeagent"
    writes_in_batches = True

    def __init__(
        self,
        client: FreeAgentClient,
        *,
        debtors_category: str = "681",
        creditors_category: str = "796",
        transit_category: str | None = None,
        lookback_days: int = 45,
    ) -> None:
        self.client = client
        self.debtors_category = debtors_category
        self.creditors_category = creditors_category
        self._base_currency: str | None = None
        self.transit_category = transit_category
        # Invoices and credit notes are listed by when they changed: at least
        # this far back, and back to the business day looked for (`_since`).
        self.lookback = timedelta(days=lookback_days)
        self._urls: dict[str, str] = {}  # marker -> URL of what carries it
        self._listed: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = {}
        # The updated_since each listing of invoices or credit notes was made with.
        self._listed_since: dict[tuple[str, str | None, str | None], str] = {}
        self._earliest: str | None = None  # the batch's earliest business day
        self._banks: list[AccountOption] | None = None

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- translate.Books ---------------------------------------------------------

    def url(self, collection: str, resource_id: str) -> str:
        return self.client.url(collection, resource_id)

    def linked_url(self, link_type: str, key: str) -> str:
        """The URL of the invoice, credit note or bill written with `key`.
        Raises `DocumentRejected` when FreeAgent holds none."""
        kind = LINK_KINDS.get(link_type)
        if kind is None:
            raise DocumentRejected(f"FreeAgent cannot settle a linked {link_type}")
        marker = translate.bill_reference(key) if kind == "bill" else translate.key_marker(key)
        if marker not in self._urls:
            probe = Write(kind, "", {}, marker)
            row = self._lookup(probe, translate.key_date(key))
            if row is None and translate.key_date(key):
                row = self._lookup(probe, None)
            if row is None:
                raise DocumentRejected(
                    f"The document this payment settles ({key}) is not in FreeAgent yet"
                )
        return self._urls[marker]

    # -- reads for the setup flow ----------------------------------------------------

    def list_accounts(self) -> list[AccountOption]:
        """Categories (by nominal code, typed by their group) and bank
        accounts ("bank:<id>", Asset)."""
        categories = self.client.request("GET", "/categories") or {}
        return translate.category_options(categories) + self.list_bank_accounts()

    def list_bank_accounts(self) -> list[AccountOption]:
        rows = self.client.pages("/bank_accounts", "bank_accounts")
        return [translate.bank_option(row) for row in rows]

    def list_tax_rates(self) -> list[TaxRateOption]:
        """The latest sales tax period's rates (GET /sales_tax_periods), or
        FreeAgent's UK VAT rates when the company lists none; plus EXEMPT
        and OUT_OF_SCOPE."""
        periods = (self.client.request("GET", "/sales_tax_periods") or {}).get(
            "sales_tax_periods"
        ) or []
        rates: list[Decimal] = list(UK_VAT_RATES)
        if periods:
            latest = max(periods, key=lambda p: str(p.get("effective_date", "")))
            rates = [Decimal(0)] + [
                Decimal(str(latest[f"sales_tax_rate_{n}"]))
                for n in (1, 2, 3)
                if latest.get(f"sales_tax_rate_{n}") not in (None, "")
            ]
        return translate.tax_rate_options(rates)

    def list_contacts(self) -> list[dict[str, str]]:
        """Every contact (FreeAgent does not split customers from suppliers):
        id (the number in its URL), name, status (Active / Hidden)."""
        return [
            {
                "id": self.client.id_of(row["url"]),
                "name": translate.contact_name(row),
                "status": "Active" if row.get("status", "Active") == "Active" else "Archived",
            }
            for row in self.client.pages("/contacts", "contacts")
        ]

    list_customers = list_contacts
    list_suppliers = list_contacts
    list_vendors = list_contacts

    def list_projects(self) -> list[dict[str, str]]:
        return [
            {"id": self.client.id_of(row["url"]), "name": str(row.get("name", ""))}
            for row in self.client.pages("/projects", "projects")
        ]

    def base_currency(self) -> str:
        """The company's native currency, an ISO code (GET /company)."""
        return str(self.client.request("GET", "/company")["company"]["currency"])

    def _native_currency(self) -> str:
        """`base_currency`, read once per target."""
        if self._base_currency is None:
            self._base_currency = self.base_currency()
        return self._base_currency

    def _native_only(self, documents: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Currency -> the kinds (in words) of `documents` FreeAgent would
        book in its native currency although they are in that other one:
        journal sets and bank transaction explanations have no currency of
        their own (a journal set is in the company's currency, an
        explanation in its bank account's; the Postman collection's bodies
        carry none), while invoices, credit notes and bills carry
        `currency` and FreeAgent converts them. One read of the company (cached)
        when there is any such document."""
        foreign = [
            d for d in documents if d.get("type") not in NATIVE_CONVERTED and d.get("currency")
        ]
        if not foreign:
            return {}
        base = self._native_currency()
        found: dict[str, list[str]] = {}
        for document in foreign:
            if document["currency"] != base:
                words = KIND_WORDS.get(document["type"], str(document["type"]))
                kinds = found.setdefault(str(document["currency"]), [])
                if words not in kinds:
                    kinds.append(words)
        return found

    def list_currencies(self) -> list[str]:
        """The company's native currency (FreeAgent invoices in others at
        the day's rate, but bank accounts keep one currency each)."""
        return [self.base_currency()]

    # -- creates -----------------------------------------------------------------------

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        """A category with nominal code `account_id` (POST /categories), in
        the group for `account_type`. Bank accounts are made with
        `create_bank_account`. Raises `DocumentRejected` (FreeAgent's reason,
        e.g. a code outside the group's range)."""
        group = translate.NEW_CATEGORY_GROUPS.get(account_type)
        if group is None or translate.is_bank(account_id):
            raise DocumentRejected(
                f"FreeAgent cannot create a {account_type} category {account_id!r}"
            )
        body = {
            "category": {
                "description": name,
                "nominal_code": account_id,
                "category_group": group,
                "allowable_for_tax": True,
            }
        }
        created = (self.client.request("POST", "/categories", body=body) or {}).get(
            "category"
        ) or {}
        return AccountOption(
            id=str(created.get("nominal_code", account_id)),
            name=str(created.get("description", name)),
            type=account_type,
        )

    def create_bank_account(self, *, name: str) -> AccountOption:
        """A standard bank account (e.g. a card processor's clearing
        account), opening balance 0."""
        body = {
            "bank_account": {
                "type": "StandardBankAccount",
                "name": name,
                "opening_balance": "0.0",
                "is_personal": False,
            }
        }
        created = self.client.request("POST", "/bank_accounts", body=body)["bank_account"]
        return translate.bank_option(created)

    def create_contact(self, *, name: str, kind: str = "customer") -> str:
        """The id of the contact called `name` (the sales customer or the
        fees supplier), created when the company has none."""
        if kind not in ("customer", "supplier"):
            raise ValueError(f"A contact is a customer or a supplier, not {kind!r}")
        name = name.strip()
        if not name:
            raise DocumentRejected(f"A FreeAgent {kind} needs a name")
        for contact in self.list_contacts():
            if contact["name"] == name:
                return contact["id"]
        body = {"contact": {"organisation_name": name}}
        created = self.client.request("POST", "/contacts", body=body)["contact"]
        return self.client.id_of(created["url"])

    # -- the check before a sync writes anything ----------------------------------------

    def advisories(self, documents: list[dict[str, Any]]) -> list[str]:
        """Plain words, one per category, for payments (and bill payments)
        that settle our invoices, credit notes or bills but are made on a
        category rather than a bank account. FreeAgent marks an invoice or
        bill paid only through a bank transaction explanation (`paid_invoice`,
        `paid_bill`), which needs a bank account; such a payment is a journal
        set on the debtors (creditors) control category instead, so the
        accounts balance but the documents it settles stay open in FreeAgent
        (in part or whole) where a Xero merchant's are paid. [] when every
        such payment is on a bank account. No calls."""
        sides = {
            "payment": (self.debtors_category, "invoices and credit notes"),
            "billPayment": (self.creditors_category, "bills"),
        }
        seen: dict[tuple[str, str], None] = {}
        for document in documents:
            account = str((document.get("accountRef") or {}).get("id") or "")
            settles = document.get("type") in sides and document.get("links")
            if settles and account and not translate.is_bank(account):
                seen[(document["type"], account)] = None
        advice = []
        for kind, account in seen:
            control, what = sides[kind]
            advice.append(
                f"Payments on category {account} are posted as journal sets on control category "
                f"{control}, because FreeAgent marks a document paid only from a bank account: "
                f"the {what} they settle stay open in FreeAgent for that part, although the "
                "accounts balance. To have them marked paid, choose a FreeAgent bank account "
                "for that payment type"
            )
        return advice

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the company would make these documents fail, in plain
        words: missing categories or bank accounts (and the control
        categories payments on categories need), hidden or missing contacts,
        tax rates FreeAgent does not take or would work out differently,
        journals posting to bank accounts. A few calls whatever the number
        of documents."""
        problems: list[str] = [
            f"FreeAgent keeps journals and bank transactions in {self._native_currency()}: the "
            f"day's {currency} {', '.join(kinds)} cannot be written (they would be booked as "
            f"{self._native_currency()}); nothing in {currency} of those kinds was written"
            for currency, kinds in self._native_only(documents).items()
        ]
        accounts: set[str] = set()
        contacts: set[str] = set()
        for document in documents:
            accounts |= document_account_refs(document)
            kind = document.get("type")
            if kind in ("payment", "billPayment") and not translate.is_bank(
                (document.get("accountRef") or {}).get("id", "")
            ):
                accounts.add(
                    self.creditors_category if kind == "billPayment" else self.debtors_category
                )
            for ref in ("customerRef", "supplierRef"):
                if (document.get(ref) or {}).get("id"):
                    contacts.add(str(document[ref]["id"]))
            if kind == "journalEntry":
                for line in document.get("journalLines") or []:
                    if not translate.is_bank(line["accountRef"]["id"]):
                        continue
                    if self.transit_category:
                        accounts.add(self.transit_category)
                        continue
                    problem = translate.bank_line_problem(line["accountRef"]["id"])
                    if problem not in problems:
                        problems.append(problem)
            if kind in ("invoice", "creditNote", "bill"):
                problems += [p for p in translate.tax_problems(document) if p not in problems]
        for rate in sorted(set().union(*(document_tax_rate_refs(d) for d in documents))):
            if rate not in translate.TAX_STATUSES and not translate.is_number(rate):
                problems.append(
                    f"Tax rate {rate} is not a FreeAgent rate (a percentage such as 20, "
                    "EXEMPT or OUT_OF_SCOPE)"
                )
        if accounts:
            problems += self._account_problems(accounts)
        if contacts:
            known = {c["id"]: c for c in self.list_contacts()}
            for contact in sorted(contacts):
                found = known.get(contact)
                if found is None:
                    problems.append(f"Contact {contact} does not exist in FreeAgent")
                elif found["status"] != "Active":
                    problems.append(f"Contact {found['name']} ({contact}) is hidden in FreeAgent")
        return problems

    def _account_problems(self, accounts: set[str]) -> list[str]:
        options = {option.id: option for option in self.list_accounts()}
        problems = []
        for account in sorted(accounts):
            option = options.get(account)
            what = "Bank account" if translate.is_bank(account) else "Category"
            if option is None:
                problems.append(f"{what} {account} does not exist in FreeAgent")
            elif option.status != "Active":
                problems.append(f"{what} {option.name} ({account}) is not active in FreeAgent")
        return problems

    # -- finding what was written -----------------------------------------------------

    def _since(self, date: str | None) -> str:
        """How far back invoices or credit notes are listed (FreeAgent lists
        them by when they last changed, `updated_since`; it has no filter on
        their date): the look-back window, stretched back to the day before
        the earliest business day asked for in this batch (`date`, and the
        days of the batch's documents), since a day's documents are written
        on or after that day: a re-run or a backfill of a day long past
        still finds what it wrote then."""
        since = datetime.now(UTC) - self.lookback
        for day in filter(None, (date, self._earliest)):
            try:
                start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                continue
            since = min(since, start - timedelta(days=1))  # a day's margin: time zones
        return since.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _list_params(self, write: Write, date: str | None) -> dict[str, str]:
        if write.kind == "journal_set":
            return {"tag": TAG} | ({"from_date": date, "to_date": date} if date else {})
        if write.kind in ("invoice", "credit_note"):
            return {"view": "all", "updated_since": self._since(date)}
        since = (datetime.now(UTC) - self.lookback).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"from_date": date, "to_date": date} if date else {"updated_since": since}
        if write.kind == "explanation" and write.bank:
            params["bank_account"] = self.url("bank_accounts", write.bank)
        return params

    def _scope(self, write: Write, date: str | None) -> tuple[str, str | None, str | None]:
        """The listing `write` is looked for in: invoices and credit notes
        one listing per batch (not per day), the rest per day."""
        if write.kind in ("invoice", "credit_note"):
            return (write.kind, None, None)
        return (write.kind, write.bank, date)

    def _rows(self, write: Write, date: str | None) -> list[dict[str, Any]]:
        scope = self._scope(write, date)
        params = self._list_params(write, date)
        since = params.get("updated_since")
        listed_since = self._listed_since.get(scope)
        stale = since is not None and listed_since is not None and since < listed_since
        if scope not in self._listed or stale:
            path, collection = LISTS[write.kind]
            self._listed[scope] = self.client.pages(path, collection, params)
            if since is not None:
                self._listed_since[scope] = since
        return self._listed[scope]

    def _lookup(self, write: Write, date: str | None) -> dict[str, Any] | None:
        """The row FreeAgent holds for `write` (listed once per scope and
        batch), remembered by marker; None when it holds none."""
        if write.kind == "explanation" and write.bank is None:
            if self._banks is None:
                self._banks = self.list_bank_accounts()
            rows = [
                row
                for bank in self._banks
                for row in self._rows(
                    Write(
                        write.kind, write.path, {}, write.marker, bank=translate.bank_id(bank.id)
                    ),
                    date,
                )
            ]
        else:
            rows = self._rows(write, date)
        for row in rows:
            if translate.carries(row, write):
                self._urls[write.marker] = str(row["url"])
                return row
        return None

    def find_document(self, *, key: str) -> str | None:
        """The URL of what was written with `key`: looked for on the day the
        key names (then over the look-back window) in every place a document
        can be; None when nowhere."""
        date = translate.key_date(key)
        markers = [translate.key_marker(key), translate.key_marker(f"{key}#1")]
        probes = [Write(kind, "", {}, m) for kind in LISTS for m in markers if kind != "bill"]
        probes.append(Write("bill", "", {}, translate.bill_reference(key)))
        for probe in probes:
            if probe.marker in self._urls:
                return self._urls[probe.marker]
        for when in dict.fromkeys([date, None]):
            for probe in probes:
                if self._lookup(probe, when) is not None:
                    return self._urls[probe.marker]
        return None

    # -- writing -------------------------------------------------------------------------

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """Write `document` once: each of its parts is looked up first and
        posted only when missing, a draft invoice or credit note found or
        made is marked as sent, and a credit note is reconciled with the
        invoices it links (`_reconcile`). Returns the first part's URL.
        Raises `DocumentRejected` (this document), or the connection's and
        platform's errors."""
        if self._native_only([document]):
            base = self._native_currency()
            raise DocumentRejected(
                f"FreeAgent keeps journals and bank transactions in {base}: a "
                f"{document['currency']} {KIND_WORDS.get(document['type'], document['type'])} "
                f"cannot be written (it would be booked as {base})"
            )
        writes = translate.to_writes(key, document, self)
        urls = [self._write_once(write, str(document["date"])) for write in writes]
        self._reconcile(document, urls[0])
        return urls[0]

    def _write_once(self, write: Write, date: str) -> str:
        row = self._lookup(write, date)
        if row is None:
            resource = next(iter(write.body))
            created = self.client.request("POST", write.path, body=write.body)[resource]
            row = created
            self._urls[write.marker] = str(created["url"])
            self._listed.setdefault(self._scope(write, date), []).append(created)
        if write.transition and str(row.get("status", "Draft")).lower() == "draft":
            resource_id = self.client.id_of(str(row["url"]))
            self.client.request("PUT", f"{write.path}/{resource_id}/transitions/{write.transition}")
            row["status"] = "Open"
        return self._urls[write.marker]

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Each (key, document) written once, payments after what they
        settle (waves; a payment whose document was refused is refused
        without a call). Per key: the URL, or the error that refused that
        document alone; errors of the connection or the platform are raised
        (what was written stays written and is found next time)."""
        self._listed.clear()  # a new batch sees FreeAgent afresh
        self._listed_since.clear()
        days = sorted(str(document.get("date") or "") for _, document in items)
        self._earliest = next((day for day in days if day), None)
        documents = dict(items)
        outcomes: dict[str, Outcome] = {}

        def wave(keys: list[str]) -> dict[str, Outcome]:
            results: dict[str, Outcome] = {}
            for key in keys:
                refused = [
                    link
                    for link in document_links(documents[key])
                    if isinstance(outcomes.get(link), ApplicationError)
                ]
                if refused:
                    results[key] = DocumentRejected(
                        f"The document this payment settles ({refused[0]}) was refused by FreeAgent"
                    )
            rest = [(key, documents[key]) for key in keys if key not in results]
            results |= SingleWrites.write_documents(self, rest)  # type: ignore[arg-type]
            outcomes.update(results)
            return results

        return waves_write(documents, outcomes, wave)

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        """What a document found after a crash may still need besides its
        first part (`target_id`): its further parts (a deposit's other
        explanations, a payout's explanation from the transit category), the
        sent state of a draft invoice or credit note, a credit note's
        reconciliations. Each is looked up first, so nothing is written
        twice: this is `write_document` over what is already there."""
        self.write_document(key=key, document=document)

    def _reconcile(self, document: dict[str, Any], target_id: str) -> None:
        """A sales credit note's `links` to invoices become credit note
        reconciliations (POST /credit_note_reconciliations), each once: the
        day's reconciliations are listed first and a pair already there is
        skipped. A no-op for any other document. Raises `DocumentRejected`
        when FreeAgent refuses one."""
        links = [link for link in document.get("links") or [] if link.get("type") == "Invoice"]
        if document.get("type") != "creditNote" or not links:
            return
        date = str(document["date"])
        done = {
            (str(row.get("credit_note")), str(row.get("invoice")))
            for row in self.client.pages(
                "/credit_note_reconciliations",
                "credit_note_reconciliations",
                {"from_date": date, "to_date": date},
            )
        }
        for link in links:
            invoice = self.linked_url("Invoice", str(link["id"]))
            if (target_id, invoice) in done:
                continue
            body = {
                "credit_note_reconciliation": {
                    "gross_value": translate.money(abs(Decimal(str(link["amount"])))),
                    "dated_on": date,
                    "currency": document["currency"],
                    "exchange_rate": "1.0",
                    "invoice": invoice,
                    "credit_note": target_id,
                }
            }
            self.client.request("POST", "/credit_note_reconciliations", body=body)


def freeagent_limits() -> tuple[Any, Any]:
    """Per user: 120 calls a minute and 3,600 an hour (README facts), each
    window counted a second longer than FreeAgent's (a call granted at the
    end of one window may arrive in the next)."""
    from connectors.limits import RateLimits

    return RateLimits(calls=120, window_seconds=61), RateLimits(calls=3600, window_seconds=3601)


def freeagent_target_build(context: ConnectorContext[FreeAgentSettings]) -> FreeAgentTarget:
    """The target for a linked FreeAgent connection: its stored tokens
    (refreshed under the connection's row lock, at most 5 refreshes a
    minute), and both per-user windows shared by all workers, keyed by the
    connection (one FreeAgent user)."""
    from connectors.freeagent.oauth import freeagent_oauth_client
    from connectors.limits import DatabaseRateLimiter

    minute, hour = freeagent_limits()
    user = context.connection_id
    client = FreeAgentClient(
        api_url=settings.FREEAGENT_API_URL,
        tokens=context.token_source(freeagent_oauth_client(connection_id=user)),
        user_agent=settings.FREEAGENT_USER_AGENT,
        limiters=[
            (DatabaseRateLimiter(minute), f"freeagent:{user}"),
            (DatabaseRateLimiter(hour), f"freeagent-hour:{user}"),
        ],
    )
    return FreeAgentTarget(
        client,
        debtors_category=context.settings.debtors_category,
        creditors_category=context.settings.creditors_category,
        transit_category=context.settings.transit_category,
    )
