"""`AccountingTarget` for QuickBooks Online.

Document ids we hand back are "<Entity>:<Id>" (QuickBooks numbers each
entity type separately, so the bare Id would be ambiguous for support).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import ApplicationError, ConfigurationError, DocumentRejected
from connectors.batching import chunked, waves_write
from connectors.common import RateLimiter, TokenSource
from connectors.context import ConnectorContext, QuickBooksSettings
from connectors.protocols import AccountOption, TaxRateOption
from connectors.quickbooks import translate
from connectors.quickbooks.client import (
    BATCH_MAX,
    THROTTLE_WAIT_SECONDS,
    QuickBooksClient,
    fault_error,
)
from connectors.quickbooks.translate import ENTITY_OF, Tracking, doc_number, quoted
from mapping.documents import document_account_refs, document_tax_rate_refs

ITEM_PREFIX = "Commerce Sync "
Outcome = str | ApplicationError


class QuickBooksTarget:
    platform_key = "quickbooks"
    writes_in_batches = True

    def __init__(
        self,
        *,
        realm_id: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        base_url: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        payment_lookback_days: int = 45,
        locations: dict[str, Any] | None = None,
        throttle_wait: float | None = None,
    ) -> None:
        self.client = QuickBooksClient(
            realm_id=realm_id,
            tokens=tokens,
            limiter=limiter,
            base_url=base_url,
            timeout=timeout,
            session=session,
            throttle_wait=THROTTLE_WAIT_SECONDS if throttle_wait is None else throttle_wait,
        )
        # {"by": "Department" | "Class", "map": {locationId: QuickBooks Id}}
        self.locations = locations or None
        if self.locations is not None and self.locations.get("by") not in translate.TRACKING_KINDS:
            raise ConfigurationError(
                "Locations can be tracked in QuickBooks by Department or Class, "
                f"not {self.locations.get('by')!r}"
            )
        # Payments cannot be filtered by DocNumber: recovery scans the ones
        # changed in this window (a crash is noticed by the next run).
        self.payment_lookback = timedelta(days=payment_lookback_days)
        self._written: dict[str, tuple[str, str]] = {}  # key -> (entity, Id)
        self._items: dict[str, str] = {}
        self._tax_rates: dict[str, list[tuple[str, Decimal]]] | None = None
        self._receivable: str | None = None

    @property
    def calls(self) -> int:
        return self.client.calls

    # -- reads for the setup flow --

    def list_accounts(self) -> list[AccountOption]:
        _, rows = self.client.query("select * from Account where Active in (true, false)")
        return [translate.account_option(row) for row in rows]

    def list_tracking_options(self) -> list[translate.TrackingOption]:
        """The active departments and classes a location can be tracked by
        (`TRACKING_KINDS`): category the kind ("Department", "Class"),
        option the entity's Id and name."""
        found = []
        for kind in translate.TRACKING_KINDS:
            _, rows = self.client.query(f"select * from {kind}")  # noqa: S608 - our constant
            found += [
                translate.TrackingOption(
                    kind, kind, str(row["Id"]), str(row.get("Name") or row["Id"])
                )
                for row in rows
                if row.get("Active", True)
            ]
        return found

    def list_tax_rates(self) -> list[TaxRateOption]:
        """Tax codes (what a line names), each with its sales rates' total."""
        rates = self._rates_by_code()
        _, codes = self.client.query("select * from TaxCode")
        return [
            translate.tax_rate_option(code, rates.get(str(code["Id"]), []))
            for code in codes
            if code.get("Active", True)
        ]

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        """QuickBooks numbers accounts itself; our id becomes the account
        number (AcctNum) and the returned option carries QuickBooks' Id."""
        created = self.client.create(
            "Account",
            {
                "Name": name,
                "AcctNum": account_id,
                "AccountType": translate.ACCOUNT_TYPES.get(account_type, account_type),
            },
            key=f"account:{account_id}",
        )
        return AccountOption(
            id=str(created["Id"]), name=created.get("Name", name), type=account_type
        )

    def _named(self, entity: str, label: str = "DisplayName") -> list[dict[str, str]]:
        # QuickBooks leaves inactive names out unless asked for them.
        statement = f"select * from {entity} where Active in (true, false)"  # noqa: S608 - our constant
        _, rows = self.client.query(statement)
        return [
            {"id": str(r["Id"]), "name": r.get(label, ""), "status": translate.status_of(r)}
            for r in rows
        ]

    def list_customers(self) -> list[dict[str, str]]:
        return self._named("Customer")

    def list_vendors(self) -> list[dict[str, str]]:
        return self._named("Vendor")

    def list_classes(self) -> list[dict[str, str]]:
        return self._named("Class", "Name")

    def list_departments(self) -> list[dict[str, str]]:
        return self._named("Department", "Name")

    def company_name(self) -> str:
        """The company's name (`CompanyInfo.CompanyName`, Intuit's Finance.xsd),
        "" when it has none; shown to the merchant to say which company the
        connection posts to."""
        _, rows = self.client.query("select * from CompanyInfo")
        return str(rows[0].get("CompanyName") or "") if rows else ""

    def list_currencies(self) -> list[str]:
        _, rows = self.client.query("select * from CompanyCurrency")
        return sorted({self.home_currency(), *(r.get("Code", "") for r in rows if r.get("Code"))})

    def home_currency(self) -> str:
        """The company's base currency (Preferences.CurrencyPrefs)."""
        _, rows = self.client.query("select * from Preferences")
        prefs = rows[0].get("CurrencyPrefs") or {} if rows else {}
        return str((prefs.get("HomeCurrency") or {}).get("value", ""))

    def create_contact(self, *, name: str, kind: str = "customer") -> str:
        """The Id of the customer ("customer") or vendor ("supplier") called
        `name`, created when the company has none (QuickBooks refuses a
        second one with the same display name, active or not)."""
        entity = translate.CONTACT_ENTITIES.get(kind)
        if entity is None:
            raise ValueError(f"A contact is a customer or a supplier, not {kind!r}")
        name = name.strip()
        if not name:
            raise DocumentRejected(f"A QuickBooks {entity.lower()} needs a name")
        statement = (
            f"select * from {entity} where DisplayName = {quoted(name)} and Active in (true, false)"  # noqa: S608
        )
        _, rows = self.client.query(statement)
        if rows:
            return str(rows[0]["Id"])
        created = self.client.create(entity, {"DisplayName": name}, key=f"{kind}:{name}")
        return str(created["Id"])

    # -- the check before a sync writes anything --

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the company would make these documents fail, in plain
        words: inactive or missing accounts, customers, vendors and tax codes
        (of lines that name one), unmapped or inactive locations. Empty when
        all is well. A handful of queries, whatever the number of documents."""
        wanted: dict[str, set[str]] = {entity: set() for entity in translate.LABELS}
        locations: set[str] = set()
        for document in documents:
            wanted["Account"] |= document_account_refs(document)
            wanted["TaxCode"] |= document_tax_rate_refs(document)
            if document.get("customerRef"):
                wanted["Customer"].add(str(document["customerRef"]["id"]))
            if document.get("supplierRef"):
                wanted["Vendor"].add(str(document["supplierRef"]["id"]))
            location = (document.get("group") or {}).get("locationId")
            if location and self.locations is not None:
                locations.add(str(location))
        problems: list[str] = []
        for entity, ids in wanted.items():
            if ids:
                problems += self._inactive(entity, translate.LABELS[entity], ids)
        if locations and self.locations is not None:
            by = self.locations["by"]
            mapped = {}
            for location in sorted(locations):
                try:
                    mapped[location] = self._tracking_id(location)
                except DocumentRejected as error:
                    problems.append(error.message)
            if mapped:
                problems += self._inactive(by, by, set(mapped.values()))
        return problems

    def _inactive(self, entity: str, label: str, ids: set[str]) -> list[str]:
        statement = f"select * from {entity} where Active in (true, false)"  # noqa: S608 - our constant
        _, rows = self.client.query(statement)
        return translate.inactive_problems(label, ids, rows)

    # -- locations --

    def _tracking_id(self, location: str) -> str:
        locations = self.locations or {}
        found = (locations.get("map") or {}).get(location)
        if not found:
            raise DocumentRejected(
                f"Location {location} is not mapped to a QuickBooks "
                f"{str(locations.get('by', 'Department')).lower()}; "
                "map it in the connection's settings"
            )
        return str(found)

    def tracking_for(self, document: dict[str, Any]) -> Tracking | None:
        """Where the document's location goes, when locations are tracked."""
        location = (document.get("group") or {}).get("locationId")
        if not location or self.locations is None:
            return None
        return Tracking(self.locations["by"], self._tracking_id(str(location)))

    # -- idempotent writes --

    def find_document(self, *, key: str) -> str | None:
        known = self._written.get(key)
        if known:
            return f"{known[0]}:{known[1]}"
        segments = set(key.split(":"))
        guessed = [e for kind, e in ENTITY_OF.items() if kind in segments]
        if "Payment" in guessed:
            guessed.append("JournalEntry")  # refunds are journals
        for entity in dict.fromkeys([*guessed, *ENTITY_OF.values()]):
            found = self._find_in(entity, [key])
            if key in found:
                return f"{entity}:{found[key]}"
        return None

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """One create carrying `requestid`: QuickBooks answers a replay with
        the entity it created the first time."""
        entity, body = translate.to_entity(key, document, self, self.tracking_for(document))
        created = self.client.create(entity, body, key=key)
        self._written[key] = (entity, str(created["Id"]))
        self.complete_document(key=key, document=document, target_id=str(created["Id"]))
        return f"{entity}:{created['Id']}"

    def complete_document(self, *, key: str, document: dict[str, Any], target_id: str) -> None:
        """What a written document still needs besides itself, as QuickBooks
        closes open items: a Payment of 0.00 whose lines link both sides for
        the same amount (Finance.xsd Payment/Line/LinkedTxn; Intuit's Payment
        reference lists Invoice, CreditMemo and JournalEntry among the
        TxnTypes a customer payment may link).

        * a sales credit note's `links` to the day's invoices: each invoice
          (LinkedTxn Invoice) against the credit memo (LinkedTxn CreditMemo);
        * money paid back against a credit note (a refund payment, written as
          a JournalEntry debiting Accounts Receivable for the customer, see
          translate.py): the journal's charge (LinkedTxn JournalEntry) against
          the credit memo it refunds, so neither stays open in QuickBooks.

        That payment carries its own key (`<key>:apply`) in DocNumber and
        PrivateNote and is looked up first, so it is written once even after a
        crash; the create also carries it as `requestid`. `target_id` may be
        the "<Entity>:<Id>" this adapter returns or the bare Id. A no-op for
        any other document; raises `DocumentRejected` when refused."""
        kind = document.get("type")
        if kind == "creditNote":
            own_type, other_type = "CreditMemo", "Invoice"
        elif kind == "payment" and translate.entity_name(document) == "JournalEntry":
            own_type, other_type = "JournalEntry", "CreditMemo"
        else:
            return
        wanted = "Invoice" if own_type == "CreditMemo" else "CreditNote"
        links = [link for link in document.get("links") or [] if link.get("type") == wanted]
        if not links:
            return
        apply_key = f"{key}:apply"
        if apply_key in self._written or self._find_in("Payment", [apply_key]):
            return
        own_id = target_id.rpartition(":")[2]
        lines = []
        for link in links:
            amount = abs(Decimal(str(link["amount"])))
            other = {"TxnId": self.linked_id(str(link["id"])), "TxnType": other_type}
            lines.append({"Amount": amount, "LinkedTxn": [other]})
            lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": own_id, "TxnType": own_type}]})
        body = {
            "DocNumber": translate.doc_number(apply_key),
            "PrivateNote": apply_key,
            "TxnDate": document["date"],
            "CurrencyRef": {"value": document["currency"]},
            "CustomerRef": {"value": document["customerRef"]["id"]},
            "TotalAmt": Decimal(0),
            "Line": lines,
        }
        created = self.client.create("Payment", body, key=apply_key)
        self._written[apply_key] = ("Payment", str(created["Id"]))

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Several documents in as few calls as QuickBooks allows: one query
        per entity type for what already exists, then batches of ≤ 30, in
        waves so a payment follows the invoice it settles. Each key maps to
        its document id or to the error that refused it alone; errors of the
        whole call (auth, limits, outage) are raised."""
        documents = dict(items)
        results: dict[str, Outcome] = {}
        by_entity: dict[str, list[str]] = {}
        for key, document in documents.items():
            by_entity.setdefault(translate.entity_name(document), []).append(key)
        for entity, keys in by_entity.items():
            for key, found_id in self._find_in(entity, keys).items():
                self._written[key] = (entity, found_id)
                results[key] = f"{entity}:{found_id}"
        results = waves_write(documents, results, lambda ready: self._wave(ready, documents))
        for key, outcome in results.items():
            if isinstance(outcome, str):
                try:
                    self.complete_document(key=key, document=documents[key], target_id=outcome)
                except DocumentRejected as error:
                    results[key] = error
        return results

    def _wave(self, keys: list[str], documents: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
        results: dict[str, Outcome] = {}
        for chunk in chunked(keys, BATCH_MAX):
            results.update(self._batch(list(chunk), documents))
        return results

    def _batch(self, keys: list[str], documents: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
        results: dict[str, Outcome] = {}
        operations, entities = [], {}
        for index, key in enumerate(keys):
            try:
                document = documents[key]
                entity, body = translate.to_entity(key, document, self, self.tracking_for(document))
            except DocumentRejected as error:
                results[key] = error
                continue
            entities[str(index)] = (key, entity)
            operations.append({"bId": str(index), "operation": "create", entity: body})
        if not operations:
            return results
        # The same documents always form the same batch id, so a replay after
        # a lost answer is recognised by QuickBooks.
        batch_key = "batch:" + hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
        for answer in self.client.batch(operations, key=batch_key):
            key, entity = entities[str(answer.get("bId"))]
            if answer.get("Fault"):
                results[key] = fault_error(answer["Fault"])  # type: ignore[assignment]
            else:
                entity_id = str(answer[entity]["Id"])
                self._written[key] = (entity, entity_id)
                results[key] = f"{entity}:{entity_id}"
        return results

    def _find_in(self, entity: str, keys: list[str]) -> dict[str, str]:
        """Key -> Id of the entities of one type that carry these keys."""
        if entity == "Payment":
            since = (datetime.now(UTC) - self.payment_lookback).strftime("%Y-%m-%dT%H:%M:%SZ")
            statement = f"select * from Payment where MetaData.LastUpdatedTime >= {quoted(since)}"  # noqa: S608
        else:
            numbers = ", ".join(quoted(doc_number(k)) for k in keys)
            statement = f"select * from {entity} where DocNumber in ({numbers})"  # noqa: S608
        _, rows = self.client.query(statement)
        wanted = {doc_number(k): k for k in keys}
        found = {}
        for row in rows:
            key = wanted.get(row.get("DocNumber", ""))
            if key is not None and row.get("PrivateNote") == key:
                found[key] = str(row["Id"])
        return found

    # -- what the translation looks up (translate.References) --

    def linked_id(self, key: str) -> str:
        if key not in self._written:
            found = self.find_document(key=key)
            if found is None:
                raise DocumentRejected(
                    f"The document {key} this one settles is not in QuickBooks yet; it is written first"
                )
            entity, _, entity_id = found.partition(":")
            self._written[key] = (entity, entity_id)
        return self._written[key][1]

    def item_for(self, account_id: str) -> str:
        """The service item whose income account is `account_id`, created the
        first time it is needed."""
        if account_id not in self._items:
            name = f"{ITEM_PREFIX}{account_id}"
            _, rows = self.client.query(f"select * from Item where Name = {quoted(name)}")  # noqa: S608
            if rows:
                self._items[account_id] = str(rows[0]["Id"])
            else:
                created = self.client.create(
                    "Item",
                    {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": account_id}},
                    key=f"item:{account_id}",
                )
                self._items[account_id] = str(created["Id"])
        return self._items[account_id]

    def tax_rates_of(self, tax_code_id: str) -> list[tuple[str, Decimal]]:
        rates = self._rates_by_code().get(tax_code_id)
        if not rates:
            raise DocumentRejected(f"Tax code {tax_code_id} has no sales tax rate in QuickBooks")
        return rates

    def receivable_account(self) -> str:
        if self._receivable is None:
            _, rows = self.client.query(
                "select * from Account where AccountType = 'Accounts Receivable'"
            )
            if not rows:
                raise DocumentRejected("The QuickBooks company has no Accounts Receivable account")
            self._receivable = str(rows[0]["Id"])
        return self._receivable

    def _rates_by_code(self) -> dict[str, list[tuple[str, Decimal]]]:
        if self._tax_rates is None:
            _, rates = self.client.query("select * from TaxRate")
            _, codes = self.client.query("select * from TaxCode")
            self._tax_rates = translate.rates_by_code(rates, codes)
        return self._tax_rates


def quickbooks_target_build(context: ConnectorContext[QuickBooksSettings]) -> QuickBooksTarget:
    """The target for a linked QuickBooks connection: its company (realm, from
    `QuickBooksSettings`), its stored tokens (refreshed under the connection's
    row lock by the context's token source) and a limiter shared by all
    workers (500 calls a minute, 10 at once)."""
    from connectors.limits import DatabaseRateLimiter
    from connectors.quickbooks.oauth import quickbooks_oauth_client

    quickbooks = context.settings
    return QuickBooksTarget(
        realm_id=quickbooks.realm_id,
        tokens=context.token_source(quickbooks_oauth_client()),
        limiter=DatabaseRateLimiter(quickbooks_limits()),
        base_url=settings.QUICKBOOKS_API_URL,
        locations=quickbooks.locations,
    )


def quickbooks_limits() -> Any:
    """The company's limits for `connectors.limits.DatabaseRateLimiter`
    (imported here: the limiter's models need the app registry)."""
    from connectors.limits import RateLimits

    # 500 calls a minute and 10 at once per company. The window is counted a
    # second longer than Intuit's: a call is recorded just before it leaves,
    # and one that arrives late must not push the next window over.
    return RateLimits(calls=500, window_seconds=61, concurrent=10)
