"""HTTP layer for the Lightspeed Restaurant K-Series financial API (read only).

Vendor facts (no machine-readable description is published outside the
vendor's docs site; these are the facts listed for K-Series in
`../shared/reference/README.md`, from api-docs.lsk.lightspeed.app):

* hosts: production `https://api.lsk.lightspeed.app`, trial
  `https://api.trial.lsk.lightspeed.app`; each API client is bound to one, so
  the host is chosen per connection (`LightspeedKSettings.environment`);
* auth: `Authorization: Bearer <access token>` from the OAuth 2
  authorisation-code flow (scope `financial-api`, see `oauth.py`);
* `GET /f/data/businesses` (`page`, `size`) answers
  `_embedded.businessList[].businessLocations[]`, each with its `blID`,
  currency and time zone;
* `GET /f/v2/business-location/{id}/sales` takes `from`, `to` (ISO 8601
  instants), `pageSize` (at most 100, default 50) and `nextPageToken`, and
  answers `{"sales": [...], "nextPageToken": ...}`: closed transactions only,
  sorted by `timeClosed`; a range may span at most 365 days;
* `GET /f/v2/business-location/{id}/lightspeed-payments` (Lightspeed
  Payments fees and payouts) pages with `offset` / `nextOffset`;
* amounts are decimal strings (`"11.00"`, tax lines up to 6 decimals): the
  JSON is read with `parse_float=Decimal`, and strings are turned into
  `Decimal` by `translate`, never float;
* no numeric rate limit is published: a 429 (with its `Retry-After`) is
  retried by the shared `RetryPolicy` like 5xx and timeouts, and one too long
  for a sync is raised as `RateLimited` for the scheduler.

A 401 refreshes the token once (`RefreshOnce`); a second 401, or a 403 (the
grant lacks `financial-api` or the location is no longer shared), means the
grant is gone: `CredentialsRevoked` (the connection becomes Deauthorized with
an alert). Tokens never reach a log line, a repr or a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Unpack

from commerce_sync.errors import (
    DataProcessingError,
)
from connectors.common import TokenSource, decimal_json
from connectors.retry import SourceClient, Transport, refreshed_get

SALES_PAGE = 100  # the most `pageSize` allows
PAYMENTS_PAGE = 100
BUSINESSES_PAGE = 1000  # the documented default `size`
MAX_PAGES = 10_000
MAX_RANGE_DAYS = 365  # the widest `from`..`to` the sales endpoint takes


class LightspeedKClient(SourceClient):
    """Read-only K-Series calls with the bearer tokens of a `TokenSource`.

    `base_url` is the connection's host (production or trial); `transport`
    are `connectors.retry.Transport`'s options (`sleep` is injected by
    tests). `calls` counts HTTP requests sent (retries included)."""

    platform = "Lightspeed"

    def __init__(
        self,
        *,
        tokens: TokenSource,
        base_url: str,
        page_size: int = SALES_PAGE,
        **transport: Unpack[Transport],
    ) -> None:
        if not 1 <= page_size <= SALES_PAGE:
            raise ValueError(f"pageSize must be 1..{SALES_PAGE}")
        super().__init__(base_url=base_url, page_size=page_size, **transport)
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"LightspeedKClient({self.base_url!r})"

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """One GET with retries of transient faults; the JSON body (numbers
        as Decimal). Raises `CredentialsRevoked`, `RateLimited`,
        `PlatformUnavailable` or `DataProcessingError` (refused, not JSON)."""

        # One refresh per logical call, across its retries. Only a 403 reaches
        # `revoked`: a 401 after the refresh is `refused`.
        return refreshed_get(
            lambda bearer: self._bearer_get(path, params, bearer),
            retries=self.retries,
            tokens=self.tokens,
            platform="Lightspeed",
            path=path,
            refused="Lightspeed refused the refreshed access token: the grant was revoked; "
            "connect Lightspeed again",
            revoked=lambda status: (
                f"Lightspeed refused {path} ({status}): the grant lacks the "
                "financial-api scope or no longer covers this business location; connect "
                "Lightspeed again"
            ),
            decode=lambda response: decimal_json(response, platform="Lightspeed", path=path),
        )

    def business_locations(self) -> list[dict[str, Any]]:
        """Every business location the grant covers, each with its
        business's fields under `business` (`businessId`, `businessName`)."""
        path = "/f/data/businesses"
        found: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            body = self.get(path, {"page": page, "size": BUSINESSES_PAGE})
            embedded = body.get("_embedded") if isinstance(body, dict) else None
            businesses = embedded.get("businessList") if isinstance(embedded, dict) else None
            if not isinstance(businesses, list):
                raise DataProcessingError(f"Lightspeed answered {path} without a businessList")
            for business in businesses:
                locations = (
                    business.get("businessLocations") if isinstance(business, dict) else None
                )
                if not isinstance(locations, list):
                    raise DataProcessingError(
                        f"Lightspeed business {business.get('businessId') if isinstance(business, dict) else '?'} "
                        "has no businessLocations list"
                    )
                info = {k: v for k, v in business.items() if k != "businessLocations"}
                found += [{**x, "business": info} for x in locations if isinstance(x, dict)]
            meta = body.get("page") or {}
            if len(businesses) < BUSINESSES_PAGE or page + 1 >= int(meta.get("totalPages", 1)):
                return found
        raise DataProcessingError(f"Lightspeed kept announcing pages of {path}")

    def sales(self, location: str, *, start: str, end: str) -> Iterator[dict[str, Any]]:
        """Sales closed in [start, end) (ISO 8601 UTC instants) at one
        business location, following `nextPageToken` to the end."""
        path = f"/f/v2/business-location/{location}/sales"
        query: dict[str, Any] = {"from": start, "to": end, "pageSize": self.page_size}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.get(path, query)
            if not isinstance(body, dict) or not isinstance(body.get("sales"), list):
                raise DataProcessingError(f"Lightspeed answered {path} without a list of sales")
            yield from body["sales"]
            token = body.get("nextPageToken")
            if not token or not body["sales"]:
                return
            if token in seen:
                raise DataProcessingError(
                    f"Lightspeed returned the same page token twice for {path}"
                )
            seen.add(token)
            query = {**query, "nextPageToken": token}
        raise DataProcessingError(f"Lightspeed kept announcing pages of {path}")

    def payments(self, location: str, *, start: str, end: str) -> Iterator[dict[str, Any]]:
        """Lightspeed Payments records (payments, refunds with their fees;
        payouts) created in [start, end), following `nextOffset`."""
        path = f"/f/v2/business-location/{location}/lightspeed-payments"
        offset = 0
        for _ in range(MAX_PAGES):
            body = self.get(
                path, {"from": start, "to": end, "offset": offset, "limit": PAYMENTS_PAGE}
            )
            if not isinstance(body, dict) or not isinstance(body.get("transactions"), list):
                raise DataProcessingError(
                    f"Lightspeed answered {path} without a list of transactions"
                )
            yield from body["transactions"]
            following = body.get("nextOffset")
            if following is None or not body["transactions"]:
                return
            if isinstance(following, bool) or not isinstance(following, int) or following <= offset:
                raise DataProcessingError(
                    f"Lightspeed gave {path} a next offset {following!r} that does not move on"
                )
            offset = following
        raise DataProcessingError(f"Lightspeed kept announcing pages of {path}")
