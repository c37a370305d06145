"""The HTTP layer for Sage Accounting's API v3.1: the bearer token (one
refresh after a 401), the business chosen with `X-Business`, the shared
rate limiter around every call, `$next` paging, decimals kept exact both
ways, and failures translated into the product's taxonomy.

Facts from ../shared/reference/README.md ("Sage Business Cloud Accounting
v3.1"): the base URL `https://api.accounting.sage.com/v3.1`; the business is
selected with the `X-Business` header (without it Sage uses the user's lead
business, which is why every call here sends it).

Not verified against Sage's published spec (no machine-readable copy is in
the reference material; these are what the v3.1 API is publicly known to
use):

* collections answer `{"$total", "$page", "$next", "$back",
  "$itemsPerPage", "$items": [...]}`; `$next` is the next page's URL
  (relative to the API root, or null on the last page); `items_per_page`
  is at most 200;
* a write's body is wrapped in the singular resource name
  (`{"sales_invoice": {...}}`) and the answer is the created resource;
* errors are a list of `{"$severity", "$dataCode", "$message", "$source"}`;
* a throttled call is answered 429 with `Retry-After` (seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import requests

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.common import RateLimiter, TokenSource, limited_request
from connectors.quickbooks.client import dumps
from connectors.retry import ThrottledTargetClient, bearer_send, retry_after_seconds

# 429s are waited out here while the waits of one call add up to at most
# this many seconds; past that the call goes up as RateLimited for the sync
# engine to schedule.
THROTTLE_WAIT_SECONDS = 5.0
PAGE_MAX = 200  # items_per_page Sage accepts at most (not verified against Sage's spec)


class SageClient(ThrottledTargetClient):
    """One business's API. `calls` counts HTTP calls made; `throttled` the
    429s waited out."""

    def __init__(
        self,
        *,
        base_url: str,
        business_id: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            base_url=base_url,
            tokens=tokens,
            limiter=limiter,
            limit_key=f"sage:{business_id}",
            timeout=timeout,
            session=session,
            throttle_wait=throttle_wait,
            sleep=sleep,
        )
        self.business_id = business_id

    def __repr__(self) -> str:  # never the token
        return f"SageClient(business_id={self.business_id!r}, base_url={self.base_url!r})"

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection (`path` e.g. "ledger_accounts"),
        following `$next` to the last page, `PAGE_MAX` items a page."""
        query = {"items_per_page": str(PAGE_MAX), **(params or {})}
        url = f"{self.base_url}/{path}?{urlencode(query, quote_via=quote, safe=',')}"
        items: list[dict[str, Any]] = []
        while url:
            page = self.request("GET", url)
            items += list(page.get("$items") or [])
            following = str(page.get("$next") or "")
            if following and not following.startswith("http"):
                following = f"{self.base_url}/{following.lstrip('/')}"
            url = following
        return items

    def create(self, path: str, wrapper: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `{wrapper: body}` to `path`; the resource Sage created."""
        created = self.request("POST", f"{self.base_url}/{path}", body={wrapper: body})
        if not isinstance(created, dict) or not created.get("id"):
            raise PlatformUnavailable("Sage Accounting answered a create without the record")
        return created

    def request(self, method: str, url: str, *, body: dict[str, Any] | None = None) -> Any:
        """One call with auth, limits and error translation; the JSON answer
        (amounts as Decimal)."""
        data = None if body is None else dumps(body)
        response = bearer_send(
            lambda token: self._send(method, url, data, token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=lambda r: retry_after_seconds(r.headers.get("Retry-After")),
            revoked=lambda refused: CredentialsRevoked(
                "Sage Accounting no longer accepts this connection; reconnect Sage Accounting",
                detail=error_text(refused),
            ),
            on_throttle=self._count_throttle,
        )
        if response.status_code >= 400:
            raise self.translate_failure(response)
        if not response.content:
            return {}
        return response.json(parse_float=Decimal)

    def _count_throttle(self, error: BaseException, pause: float) -> None:
        self.throttled += 1

    def _send(self, method: str, url: str, data: str | None, token: str) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "X-Business": self.business_id,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        return limited_request(
            self.session, self.limiter, self.limit_key, "Sage Accounting", method, url,
            data=data, headers=headers, timeout=self.timeout,
        )  # fmt: skip

    def translate_failure(self, response: requests.Response) -> Exception:
        status = response.status_code
        if status == 429:
            return RateLimited(
                "Sage Accounting is rate limiting this business",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return PlatformUnavailable(f"Sage Accounting failed ({status}); will retry")
        message = error_text(response)
        if status in (402, 403):
            return SubscriptionExpired(
                "Sage Accounting refused access to this business (subscription ended or "
                f"rights withdrawn): {message}"
            )
        return DocumentRejected(f"Sage Accounting rejected the request: {message}")


def error_text(response: requests.Response) -> str:
    """Sage's own words from `[{"$message": ..., "$source": ...}]`, else the
    start of the body."""
    try:
        answer = response.json()
    except ValueError:
        return (response.text or response.reason or "no reason given")[:300]
    errors = answer if isinstance(answer, list) else [answer]
    words = []
    for error in errors:
        if isinstance(error, dict) and error.get("$message"):
            source = error.get("$source")
            words.append(f"{error['$message']} ({source})" if source else str(error["$message"]))
    return "; ".join(words)[:500] if words else str(answer)[:300]
