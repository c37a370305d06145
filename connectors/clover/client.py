"""HTTP layer for Clover's REST API v3 (read only).

Vendor facts (../shared/reference/README.md, "Clover"; docs.clover.com
"Making REST API calls", "Paginating elements", "API usage and rate
limits"; the SDK data classes in ../shared/reference/clover/sdk-v3-models):

* host per region (`connectors.clover.regions`), paths
  `/v3/merchants/{mId}/orders`, `.../orders/{orderId}/line_items`,
  `.../credits`; auth `Authorization: Bearer <access_token>` (v2 OAuth);
* lists answer `{"elements": [...]}` and page with `limit` (default 100,
  at most 1000) and `offset`: a page shorter than `limit` is the last;
* `filter=` is repeatable (`filter=modifiedTime>=<ms>&filter=modifiedTime<<ms>`);
  `expand=` inlines related collections (`lineItems`, `payments.tender` ...);
  an expanded (nested) collection is cut at 100 elements and cannot be
  paged, so an order carrying 100 line items has them read again from
  `.../line_items`, paged; 100 payments or refunds on one order is refused;
* times are epoch milliseconds, money integer cents (minor units);
* limits: 16 requests a second and 5 at once per token, 50 a second and 10
  at once per app. Calls take slots of both from the shared
  `connectors.limits.DatabaseRateLimiter` (keys `clover:token:<merchant>`
  and `clover:app`); a 429 anyway (its `retry-after` honoured) and 5xx or
  timeouts are retried with the shared `RetryPolicy`.

A 401 refreshes the token once (`RefreshOnce`); a second 401, or a 403 (the
app lost the permission), means the grant is gone: `CredentialsRevoked`,
which makes the connection Deauthorized with an alert. Tokens never reach a
log line, a repr or a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Unpack

from commerce_sync.errors import (
    CredentialsRevoked,
    DataProcessingError,
)
from connectors.common import RateLimiter, TokenSource, json_object
from connectors.limits import RateLimits
from connectors.retry import SourceClient, Transport, refreshed_get

PAGE = 1000  # Clover's maximum `limit`
NESTED_CUT = 100  # expanded collections stop here and cannot be paged
MAX_PAGES = 10_000
# One second windows, a little longer than Clover's so a call granted at the
# end of one window and arriving in the next is still counted right.
TOKEN_LIMITS = RateLimits(calls=16, window_seconds=1.1, concurrent=5, lease_seconds=60)
APP_LIMITS = RateLimits(calls=50, window_seconds=1.1, concurrent=10, lease_seconds=60)
ORDER_EXPAND = ",".join(
    [
        "lineItems",
        "lineItems.modifications",
        "lineItems.discounts",
        "lineItems.taxRates",
        "discounts",
        "serviceCharge",
        "payments",
        "payments.tender",
        "refunds",
    ]
)
LINE_EXPAND = "modifications,discounts,taxRates"


class CloverClient(SourceClient):
    """Read-only Clover calls for one merchant with the bearer tokens of a
    `TokenSource`. `limiters` are (limiter, key) pairs each call takes a slot
    of; `transport` are `connectors.retry.Transport`'s options (`sleep` is
    injected by tests). `calls` counts HTTP requests sent (retries
    included)."""

    platform = "Clover"

    def __init__(
        self,
        *,
        merchant_id: str,
        base_url: str,
        tokens: TokenSource,
        limiters: tuple[tuple[RateLimiter, str], ...] = (),
        page_size: int = PAGE,
        **transport: Unpack[Transport],
    ) -> None:
        if not merchant_id:
            raise CredentialsRevoked(
                "This Clover connection names no merchant: connect Clover again"
            )
        if not 1 <= page_size <= PAGE:
            raise ValueError(f"Clover pages hold 1..{PAGE} elements")
        super().__init__(base_url=base_url, page_size=page_size, **transport)
        self.merchant_id = merchant_id
        self.tokens = tokens
        self.limiters = limiters

    def __repr__(self) -> str:
        return f"CloverClient({self.base_url!r}, {self.merchant_id!r})"

    @property
    def root(self) -> str:
        return f"/v3/merchants/{self.merchant_id}"

    # -- one call --

    def get(self, path: str, params: list[tuple[str, Any]]) -> dict[str, Any]:
        """One GET with retries of transient faults; the JSON object."""
        return refreshed_get(
            lambda bearer: self._bearer_get(path, params, bearer, limiters=self.limiters),
            retries=self.retries,
            tokens=self.tokens,
            platform="Clover",
            path=path,
            refused="Clover refused the refreshed access token: connect Clover again",
            revoked=lambda status: (
                f"Clover no longer accepts this connection ({status}): the "
                "app was uninstalled or lost its orders and payments read permissions; connect "
                "Clover again"
            ),
            decode=lambda response: json_object(response, platform="Clover", path=path),
        )

    # -- paging --

    def elements(self, path: str, params: list[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every element of a list, `limit`/`offset` page by page to the end."""
        offset = 0
        for _ in range(MAX_PAGES):
            page = self.get(path, [*params, ("limit", self.page_size), ("offset", offset)])
            found = page.get("elements")
            if not isinstance(found, list):
                raise DataProcessingError(f"Clover answered {path} without a list of elements")
            yield from found
            if len(found) < self.page_size:
                return
            offset += len(found)
        raise DataProcessingError(f"Clover kept announcing pages of {path}")

    # -- endpoints --

    @staticmethod
    def _between(field: str, start_ms: int, end_ms: int) -> list[tuple[str, Any]]:
        return [("filter", f"{field}>={start_ms}"), ("filter", f"{field}<{end_ms}")]

    def orders(self, *, field: str, start_ms: int, end_ms: int) -> Iterator[dict[str, Any]]:
        """Orders whose `field` (`createdTime` or `modifiedTime`, epoch ms)
        lies in [start_ms, end_ms), expanded (ORDER_EXPAND); an order whose
        line items were cut at 100 gets all of them read, paged."""
        params = [*self._between(field, start_ms, end_ms), ("expand", ORDER_EXPAND)]
        for order in self.elements(f"{self.root}/orders", params):
            lines = (order.get("lineItems") or {}).get("elements")
            if isinstance(lines, list) and len(lines) >= NESTED_CUT and order.get("id"):
                order["lineItems"] = {"elements": list(self.line_items(str(order["id"])))}
            for nested in ("payments", "refunds"):
                inner = (order.get(nested) or {}).get("elements")
                if isinstance(inner, list) and len(inner) >= NESTED_CUT:
                    raise DataProcessingError(
                        f"Clover order {order.get('id')} has {NESTED_CUT} or more {nested}, more "
                        "than Clover returns inline; none of its records were read"
                    )
            yield order

    def line_items(self, order_id: str) -> Iterator[dict[str, Any]]:
        """Every line item of one order, with its modifications, discounts and tax rates."""
        return self.elements(f"{self.root}/orders/{order_id}/line_items", [("expand", LINE_EXPAND)])

    def credits(self, *, start_ms: int, end_ms: int) -> Iterator[dict[str, Any]]:
        """Credits (manual refunds, tied to no payment) created in [start_ms, end_ms)."""
        params = [*self._between("createdTime", start_ms, end_ms), ("expand", "tender,taxRates")]
        return self.elements(f"{self.root}/credits", params)

    def refunds(self, *, start_ms: int, end_ms: int) -> Iterator[dict[str, Any]]:
        """Refunds created in [start_ms, end_ms) (`orderRef` and `payment` name
        what they give back)."""
        params = [*self._between("createdTime", start_ms, end_ms), ("expand", "taxableAmountRates")]
        return self.elements(f"{self.root}/refunds", params)

    def order(self, order_id: str) -> dict[str, Any]:
        """One order with its payments and their tenders (for a refund of an
        order from an earlier period)."""
        return self.get(f"{self.root}/orders/{order_id}", [("expand", "payments.tender")])
