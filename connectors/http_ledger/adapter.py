"""`AccountingTarget` over the HTTP ledger API.

GET  /accounts, POST /accounts, GET /tax-rates
GET  /documents/{key}   -> 200 {"id": ...} or 404
PUT  /documents/{key}   (Idempotency-Key: key) -> 200/201 {"id": ...}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connectors.batching import SingleWrites
from connectors.http_ledger.client import LedgerClient
from connectors.protocols import AccountOption, TaxRateOption


class HttpLedgerTarget(SingleWrites):
    """One document per PUT (`write_documents` loops `write_document`); the
    API has nothing to check before writing beyond the accounts."""

    platform_key = "http-ledger"

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.client = LedgerClient(base_url=base_url, api_key=api_key, timeout=timeout)

    @property
    def calls(self) -> int:
        return self.client.calls

    def list_accounts(self) -> list[AccountOption]:
        return [
            AccountOption(
                id=a["id"],
                name=a.get("name", a["id"]),
                type=a.get("type", ""),
                status=a.get("status", "Active"),
            )
            for a in self.client.request("GET", "/accounts")
        ]

    def list_tax_rates(self) -> list[TaxRateOption]:
        return [
            TaxRateOption(id=r["id"], name=r.get("name", r["id"]), rate=str(r["rate"]))
            for r in self.client.request("GET", "/tax-rates")
        ]

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        created = self.client.request(
            "POST", "/accounts", body={"id": account_id, "name": name, "type": account_type}
        )
        return AccountOption(
            id=created["id"], name=created.get("name", name), type=created.get("type", account_type)
        )

    def find_document(self, *, key: str) -> str | None:
        found = self.client.request("GET", f"/documents/{quote(key, safe='')}", allow_404=True)
        return None if found is None else str(found["id"])

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        written = self.client.request(
            "PUT",
            f"/documents/{quote(key, safe='')}",
            body=document,
            headers={"Idempotency-Key": key},
        )
        return str(written["id"])
