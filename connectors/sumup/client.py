"""HTTP layer for the SumUp REST API (read only).

Vendor facts, from SumUp's OpenAPI description in
`../shared/reference/sumup/openapi.json` and that folder's README:

* server `https://api.sumup.com`; auth `Authorization: Bearer <key>`
  (`securitySchemes.apiKey`, an API key `sup_sk_...`) or an OAuth 2
  access token (`securitySchemes.oauth2`, see `oauth.py`);
* `GET /v2.1/merchants/{merchant_code}/transactions/history` takes `limit`,
  `order` (`ascending`), `oldest_time` (created at or after) and
  `newest_time` (created before) and answers `{"items": [...], "links":
  [{"rel": "next", "href": "<query string>"}]}`: the next page is that query;
* `GET /v1.0/merchants/{merchant_code}/payouts` takes `start_date`,
  `end_date` (both inclusive dates), `limit` (1..9999), `order`, `format`
  (`json`) and answers a list of payout and deduction records;
* amounts are JSON numbers in major units: read here as `Decimal`
  (`parse_float=Decimal`), never float;
* 401 answers a `Problem`; 400 an `Error`. No rate limit is published: a 429
  is retried with the shared `RetryPolicy` like 5xx and timeouts.

A 401 or 403 means the key or grant was revoked (for OAuth, after one
refresh): `CredentialsRevoked` (the connection becomes Deauthorized). Keys
and tokens never reach a log line, a repr or a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Unpack
from urllib.parse import parse_qs

from django.conf import settings

from commerce_sync.errors import (
    CredentialsRevoked,
    DataProcessingError,
)
from connectors.common import TokenSource, decimal_json
from connectors.retry import SourceClient, Transport, refreshed_get

HISTORY_PAGE = 100
PAYOUTS_LIMIT = 9999  # the most the payouts list returns (`limit` 1..9999)
MAX_PAGES = 10_000


class SumUpClient(SourceClient):
    """Read-only SumUp calls for one merchant code, with an API key or, for
    an OAuth connection, the bearer tokens of a `TokenSource` (a 401 then
    refreshes once; a second 401 means the grant is gone). `transport` are
    `connectors.retry.Transport`'s options. `calls` counts HTTP requests
    sent (retries included)."""

    platform = "SumUp"

    def __init__(
        self,
        *,
        merchant_code: str,
        api_key: str = "",
        tokens: TokenSource | None = None,
        base_url: str | None = None,
        page_size: int = HISTORY_PAGE,
        **transport: Unpack[Transport],
    ) -> None:
        if not api_key and tokens is None:
            raise CredentialsRevoked("This SumUp connection has no API key: connect SumUp again")
        super().__init__(
            base_url=base_url or settings.SUMUP_API_URL, page_size=page_size, **transport
        )
        self.tokens = tokens
        self.merchant_code = merchant_code
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"SumUpClient({self.base_url!r}, {self.merchant_code!r})"

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """One GET with retries of transient faults; the JSON body, numbers as Decimal."""

        # OAuth: one refresh per logical call, across its retries.
        return refreshed_get(
            lambda bearer: self._bearer_get(path, params, bearer),
            retries=self.retries,
            tokens=self.tokens,
            api_key=self._api_key,
            platform="SumUp",
            path=path,
            refused="SumUp refused the refreshed access token: connect SumUp again",
            revoked=lambda status: (
                f"SumUp no longer accepts this connection's credentials "
                f"({status}): they were revoked or lack the transactions.history and payouts.read "
                "scopes; connect SumUp again"
            ),
            decode=lambda response: decimal_json(response, platform="SumUp", path=path),
        )

    def history(self, *, oldest: str, newest: str) -> Iterator[dict[str, Any]]:
        """Transactions created in [oldest, newest) (ISO 8601 UTC), oldest
        first, following `links[rel=next]` to the end."""
        path = f"/v2.1/merchants/{self.merchant_code}/transactions/history"
        query: dict[str, Any] = {
            "oldest_time": oldest,
            "newest_time": newest,
            "order": "ascending",
            "limit": self.page_size,
        }
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.get(path, query)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise DataProcessingError(f"SumUp answered {path} without a list of items")
            yield from page["items"]
            links = page.get("links") or []
            following = next(
                (x.get("href") for x in links if isinstance(x, dict) and x.get("rel") == "next"),
                None,
            )
            if not following or not page["items"]:
                return
            if following in seen:
                raise DataProcessingError(f"SumUp returned the same next page twice for {path}")
            seen.add(following)
            # The link is a query string (`limit=..&oldest_ref=..&order=..`);
            # the upper bound is kept so the read stops at the period's end.
            query = {k: v[0] for k, v in parse_qs(following.lstrip("?")).items()}
            query.setdefault("newest_time", newest)
        raise DataProcessingError(f"SumUp kept announcing pages of {path}")

    def payouts(self, *, first: str, last: str) -> list[dict[str, Any]]:
        """Payout and deduction records dated first..last (inclusive ISO dates)."""
        path = f"/v1.0/merchants/{self.merchant_code}/payouts"
        params = {
            "start_date": first,
            "end_date": last,
            "format": "json",
            "order": "asc",
            "limit": PAYOUTS_LIMIT,
        }
        records = self.get(path, params)
        if not isinstance(records, list):
            raise DataProcessingError(f"SumUp answered {path} without a list of payouts")
        if len(records) >= PAYOUTS_LIMIT:
            raise DataProcessingError(
                f"SumUp listed {len(records)} payout records for {first}..{last}, the most it "
                "returns at once: some may be missing"
            )
        return records
