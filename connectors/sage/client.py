"""The HTTP layer for Sage Accounting's API v3.1: the bearer token (one
refresh after a 401), the business chosen with `X-Business`, the shared
rate limiter around every call, `$next` paging, decimals kept exact both
ways, and failures translated into the product's taxonomy.

Facts and where they come from (Sage's own pages, read through the search
corpus on 2026-12-01):

* the base URL `https://api.accounting.sage.com/v3.1` (../shared/reference/README.md);
* every request carries `Authorization: Bearer <access token>`; the
  business is chosen with the optional `X-Business` header, without which
  Sage answers for the user's lead business, which is why every call here
  sends it (https://developer.sage.com/accounting/guides/authenticating/authentication/);
* status codes: 401 (credentials refused), 404, 405, 415, 422 (invalid data),
  429 (throttled), 500, 503 (retry later)
  (https://developer.sage.com/accounting/guides/concepts/response_codes/);
* errors are a list of `{"$severity", "$dataCode", "$message", "$source"}`,
  and a business whose subscription ended or whose trial expired is answered
  401 `AuthorizationFailure` "No active subscription. (MSE)": that is a
  lapsed subscription, not a withdrawn grant, so it is raised as
  `SubscriptionExpired` (reconnecting would not help)
  (https://developer.sage.com/accounting/guides/concepts/frequently_raised_errors/);
* collections take a page size, a page number and the attributes to
  expose, and dated artefacts a date range (Sage's API portal,
  https://developer.columbus.sage.com/docs/services/57c9493f00c9d3171caa8dcb/operations/getPurchaseCreditNotes,
  which shows the parameters' descriptions); their names `items_per_page`,
  `page`, `attributes`, `from_date`, `to_date` come from a third-party copy
  of Sage's reference (withone.ai, "List Sales Invoices").

Not verified against a Sage page (what v3.1 is publicly known to do):
collections answer `{"$total", "$page", "$next", "$back",
"$itemsPerPage", "$items": [...]}` with `$next` the next page's URL
(relative to the API root, or null on the last page); `items_per_page` is
at most 200; a write's body is wrapped in the singular resource name
(`{"sales_invoice": {...}}`, as every request body on Sage's API reference
shows) and the answer is the created resource; a 429 carries `Retry-After`
in seconds; 402/403 mean the rights to the business were withdrawn.
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
PAGE_MAX = 200  # items_per_page asked for (Sage's maximum is not verified)


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
            revoked=refused_401,
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


def refused_401(response: requests.Response) -> Exception:
    """What a 401 that survived a token refresh means: `SubscriptionExpired`
    when Sage says the business has no active subscription
    (`AuthorizationFailure`, "No active subscription"), else
    `CredentialsRevoked` (the grant was withdrawn: reconnect)."""
    words = error_text(response)
    if "no active subscription" in words.lower():
        return SubscriptionExpired(
            "Sage Accounting refused access to this business because it has no active "
            f"subscription (trial ended or subscription cancelled): {words}"
        )
    return CredentialsRevoked(
        "Sage Accounting no longer accepts this connection; reconnect Sage Accounting",
        detail=words,
    )


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
