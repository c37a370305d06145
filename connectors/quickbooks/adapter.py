"""`AccountingTarget` for QuickBooks Online.

Document ids we hand back are "<Entity>:<Id>" (QuickBooks numbers each
entity type separately, so the bare Id would be ambiguous for support).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings

from commerce_sync.errors import ApplicationError, ConfigurationError, DocumentRejected
from connectors.common import RateLimiter, TokenSource
from connectors.protocols import AccountOption, TaxRateOption
from connectors.quickbooks.client import BATCH_MAX, QuickBooksClient, fault_error
from connectors.quickbooks.entities import (
    ENTITY_OF,
    doc_number,
    entity_name,
    links_of,
    to_entity,
)

if TYPE_CHECKING:
    from commerce_sync.core.models import Connection

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
ITEM_PREFIX = "Commerce Sync "


def _quoted(value: str) -> str:
    """A string literal for QuickBooks' query language (not SQL: it reads one
    company's entities; every value we put in a statement passes through here,
    which is why the S608 warnings below are silenced)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksTarget:
    platform_key = "quickbooks"

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
    ) -> None:
        self.client = QuickBooksClient(
            realm_id=realm_id,
            tokens=tokens,
            limiter=limiter,
            base_url=base_url,
            timeout=timeout,
            session=session,
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
        return [
            AccountOption(
                id=str(row["Id"]),
                name=row.get("Name", ""),
                type=CLASSIFICATIONS.get(row.get("Classification", ""), row.get("Classification"))
                or row.get("AccountType", ""),
                status="Active" if row.get("Active", True) else "Archived",
            )
            for row in rows
        ]

    def list_tax_rates(self) -> list[TaxRateOption]:
        """Tax codes (what a line names), each with its sales rates' total."""
        rates = self._rates_by_code()
        _, codes = self.client.query("select * from TaxCode")
        return [
            TaxRateOption(
                id=str(code["Id"]),
                name=code.get("Name", str(code["Id"])),
                rate=str(sum((p for _, p in rates.get(str(code["Id"]), [])), Decimal(0))),
            )
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
                "AccountType": ACCOUNT_TYPES.get(account_type, account_type),
            },
            key=f"account:{account_id}",
        )
        return AccountOption(
            id=str(created["Id"]), name=created.get("Name", name), type=account_type
        )

    def _named(self, entity: str, label: str = "DisplayName") -> list[dict[str, str]]:
        _, rows = self.client.query(f"select * from {entity}")  # noqa: S608 - our constant
        return [{"id": str(r["Id"]), "name": r.get(label, ""), "status": _status(r)} for r in rows]

    def list_customers(self) -> list[dict[str, str]]:
        return self._named("Customer")

    def list_vendors(self) -> list[dict[str, str]]:
        return self._named("Vendor")

    def list_classes(self) -> list[dict[str, str]]:
        return self._named("Class", "Name")

    def list_departments(self) -> list[dict[str, str]]:
        return self._named("Department", "Name")

    def list_currencies(self) -> list[str]:
        _, rows = self.client.query("select * from CompanyCurrency")
        return sorted({self.home_currency(), *(r.get("Code", "") for r in rows if r.get("Code"))})

    def home_currency(self) -> str:
        """The company's base currency (Preferences.CurrencyPrefs)."""
        _, rows = self.client.query("select * from Preferences")
        prefs = rows[0].get("CurrencyPrefs") or {} if rows else {}
        return str((prefs.get("HomeCurrency") or {}).get("value", ""))

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
        entity, body = to_entity(key, document, self)
        created = self.client.create(entity, body, key=key)
        self._written[key] = (entity, str(created["Id"]))
        return f"{entity}:{created['Id']}"

    def write_documents(
        self, items: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, str | ApplicationError]:
        """Several documents in as few calls as QuickBooks allows: one query
        per entity type for what already exists, then batches of ≤ 30, in
        waves so a payment follows the invoice it settles. Each key maps to
        its document id or to the error that refused it alone; errors of the
        whole call (auth, limits, outage) are raised."""
        documents = dict(items)
        results: dict[str, str | ApplicationError] = {}
        by_entity: dict[str, list[str]] = {}
        for key, document in documents.items():
            by_entity.setdefault(entity_name(document), []).append(key)
        for entity, keys in by_entity.items():
            for key, found_id in self._find_in(entity, keys).items():
                self._written[key] = (entity, found_id)
                results[key] = f"{entity}:{found_id}"
        pending = [k for k in documents if k not in results]
        while pending:
            waiting = set(pending)
            ready = [k for k in pending if not waiting & set(links_of(documents[k]))]
            if not ready:  # links that can never resolve within this call
                for key in pending:
                    results[key] = DocumentRejected("The documents link to each other in a cycle")
                break
            for start in range(0, len(ready), BATCH_MAX):
                results.update(self._batch(ready[start : start + BATCH_MAX], documents))
            pending = [k for k in pending if k not in results]
        return results

    def _batch(
        self, keys: list[str], documents: dict[str, dict[str, Any]]
    ) -> dict[str, str | ApplicationError]:
        results: dict[str, str | ApplicationError] = {}
        operations, entities = [], {}
        for index, key in enumerate(keys):
            try:
                entity, body = to_entity(key, documents[key], self)
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
            statement = f"select * from Payment where MetaData.LastUpdatedTime >= {_quoted(since)}"  # noqa: S608
        else:
            numbers = ", ".join(_quoted(doc_number(k)) for k in keys)
            statement = f"select * from {entity} where DocNumber in ({numbers})"  # noqa: S608
        _, rows = self.client.query(statement)
        wanted = {doc_number(k): k for k in keys}
        found = {}
        for row in rows:
            key = wanted.get(row.get("DocNumber", ""))
            if key is not None and row.get("PrivateNote") == key:
                found[key] = str(row["Id"])
        return found

    # -- what the translation looks up (entities.References) --

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
            _, rows = self.client.query(f"select * from Item where Name = {_quoted(name)}")  # noqa: S608
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
            percent = {str(r["Id"]): Decimal(str(r.get("RateValue", 0))) for r in rates}
            _, codes = self.client.query("select * from TaxCode")
            self._tax_rates = {
                str(code["Id"]): [
                    (
                        str(d["TaxRateRef"]["value"]),
                        percent.get(str(d["TaxRateRef"]["value"]), Decimal(0)),
                    )
                    for d in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail", [])
                ]
                for code in codes
            }
        return self._tax_rates


def _status(row: dict[str, Any]) -> str:
    return "Active" if row.get("Active", True) else "Archived"


def quickbooks_target_build(connection: Connection) -> QuickBooksTarget:
    """The target for a linked QuickBooks connection: its company (realm),
    its stored tokens (refreshed under the connection's row lock) and a
    limiter shared by all workers (500 calls a minute, 10 at once)."""
    from connectors.limits import DatabaseRateLimiter, RateLimits
    from connectors.oauth import ConnectionTokenSource
    from connectors.quickbooks.oauth import quickbooks_oauth_client

    realm_id = str(connection.settings.get("realm_id") or "")
    if not realm_id:
        raise ConfigurationError("This QuickBooks connection has no company (realm id)")
    return QuickBooksTarget(
        realm_id=realm_id,
        tokens=ConnectionTokenSource(connection, quickbooks_oauth_client()),
        limiter=DatabaseRateLimiter(RateLimits(calls=500, window_seconds=60, concurrent=10)),
        base_url=settings.QUICKBOOKS_API_URL,
    )
