"""The HTTP layer for the MYOB Business API (AccountRight v2): the bearer
token (one refresh after a 401), MYOB's `x-myobapi-*` headers, the shared
rate limiter around every call, OData paging through `NextPageLink`,
decimals kept exact both ways, and failures translated into the product's
taxonomy.

Facts (../shared/reference/README.md "MYOB Business API", myob/sdk-contracts
`PagedCollection.cs`, `BaseEntity.cs`):

* URLs are `<base>/accountright/<company file id>/<Area>/<Entity>`, e.g.
  `GeneralLedger/Account`, `Sale/Invoice/Service`.
* Every call carries `x-myobapi-key` (the app's API key, which is also the
  OAuth client id), `x-myobapi-version: v2` and the bearer token.
* A list is a `PagedCollection`: `{"Items": [...], "NextPageLink": url|null,
  "Count": n}`, queried with OData `$top`, `$skip` and `$filter`.
* A create (POST) answers 201 with the new entity's URI in `Location` (its
  last segment is the entity's UID) and no body.
* Limits are per API key: 8 calls a second and 1,000,000 a day; a spent day
  is answered `403` with an error named `RateLimitError` (a spent second
  with 429 or the same 403).
* Errors come as `{"Errors": [{"Name", "Message", "AdditionalDetails",
  "ErrorCode", "Severity"}]}`.
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
from connectors.context import myob_company_file_check
from connectors.quickbooks.client import dumps
from connectors.retry import ThrottledTargetClient, bearer_send, retry_after_seconds

# 429s are waited out here while the waits of one call add up to at most
# this many seconds; past that the call goes up as RateLimited.
THROTTLE_WAIT_SECONDS = 5.0
PAGE_SIZE = 400  # rows asked for per page ($top); MYOB answers at most 1,000
API_VERSION = "v2"


class MyobClient(ThrottledTargetClient):
    """One company file's API. `calls` counts HTTP calls made; `throttled`
    the 429s waited out."""

    def __init__(
        self,
        *,
        base_url: str,
        company_file: str,
        api_key: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # MYOB counts calls per API key, whatever the company file.
        super().__init__(
            base_url=base_url,
            tokens=tokens,
            limiter=limiter,
            limit_key=f"myob:{api_key}",
            timeout=timeout,
            session=session,
            throttle_wait=throttle_wait,
            sleep=sleep,
        )
        # A GUID or nothing: any other text would make a broken URL.
        self.company_file = myob_company_file_check(company_file)
        self.api_key = api_key

    def __repr__(self) -> str:  # never the token
        return f"MyobClient(company_file={self.company_file!r}, base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        return f"{self.base_url}/accountright/{self.company_file}/{path}"

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection, following `NextPageLink` to the last page."""
        query = {"$top": str(PAGE_SIZE), **(params or {})}
        url = self.url(path) + "?" + urlencode(query, safe="$',()", quote_via=quote)
        rows: list[dict[str, Any]] = []
        while url:
            page = self.request("GET", url) or {}
            rows += list(page.get("Items") or [])
            url = str(page.get("NextPageLink") or "")
        return rows

    def create(self, path: str, body: dict[str, Any]) -> str:
        """POST one entity; the UID MYOB gave it (from `Location`)."""
        response = self.request("POST", self.url(path), body=body, raw=True)
        location = str(response.headers.get("Location") or "").rstrip("/")
        uid = location.rsplit("/", 1)[-1]
        if not uid:
            raise PlatformUnavailable("MYOB answered a create without the new entity's location")
        return uid

    def request(
        self, method: str, url: str, *, body: dict[str, Any] | None = None, raw: bool = False
    ) -> Any:
        data = None if body is None else dumps(body)
        response = bearer_send(
            lambda token: self._send(method, url, data, token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=self._retry_after,
            revoked=lambda refused: CredentialsRevoked(
                "MYOB no longer accepts this connection; reconnect MYOB",
                detail=error_text(refused),
            ),
            on_throttle=self._count_throttle,
        )
        if response.status_code >= 400:
            raise self.translate_failure(response)
        if raw:
            return response
        if not response.content:
            return {}
        return response.json(parse_float=Decimal)

    def _count_throttle(self, error: BaseException, pause: float) -> None:
        self.throttled += 1

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        # MYOB's window is a second: without Retry-After, wait one.
        found = retry_after_seconds(response.headers.get("Retry-After"))
        return 1.0 if found is None else found

    def _send(self, method: str, url: str, data: str | None, token: str) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "x-myobapi-key": self.api_key,
            "x-myobapi-version": API_VERSION,
            "Accept": "application/json",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        return limited_request(
            self.session, self.limiter, self.limit_key, "MYOB", method, url,
            data=data, headers=headers, timeout=self.timeout,
        )  # fmt: skip

    def translate_failure(self, response: requests.Response) -> Exception:
        status = response.status_code
        names = error_names(response)
        if status == 429 or (status == 403 and "RateLimitError" in names):
            return RateLimited(
                "MYOB is rate limiting this app's API key (8 calls a second, 1,000,000 a day)",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return PlatformUnavailable(f"MYOB failed ({status}); will retry")
        message = error_text(response)
        if status == 403:
            return SubscriptionExpired(
                "MYOB refused access to this company file (subscription ended or "
                f"access withdrawn): {message}"
            )
        return DocumentRejected(f"MYOB rejected the request: {message}")


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        answer = response.json()
    except ValueError:
        return []
    errors = answer.get("Errors") if isinstance(answer, dict) else None
    return [e for e in errors or [] if isinstance(e, dict)]


def error_names(response: requests.Response) -> set[str]:
    """The `Name` of each error MYOB listed."""
    return {str(e.get("Name") or "") for e in _errors(response)}


def error_text(response: requests.Response) -> str:
    """MYOB's own words: each error's Message and AdditionalDetails, else
    the start of the body."""
    found = []
    for error in _errors(response):
        words = " ".join(
            str(error.get(k)).strip() for k in ("Message", "AdditionalDetails") if error.get(k)
        )
        if words:
            found.append(words)
    if found:
        return "; ".join(found)[:500]
    return (response.text or response.reason or "no reason given")[:300]
