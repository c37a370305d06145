"""The HTTP layer for Exact Online's REST API (OData v2, per division): the
bearer token (one refresh after a 401), the shared rate limiter around every
call, Exact's own limit headers, `__next` paging, decimals kept exact both
ways, and failures translated into the product's taxonomy.

Facts (../shared/reference/README.md "Exact Online", exactonline/ SDK
`Services.cs`, `RateLimit.cs`, samples/):

* URLs are `<host>/api/v1/<division>/<service>/<Entity>`, e.g.
  `financial/GLAccounts`, `vat/VATCodes`, `salesinvoice/SalesInvoices`,
  `generaljournalentry/GeneralJournalEntries`.
* Answers are wrapped in `{"d": ...}`: a list is `{"d": {"results": [...],
  "__next": "<url with $skiptoken>"}}`, one entity `{"d": {...}}`. Dates are
  `"/Date(<ms since the epoch, UTC>)/"`; amounts are JSON numbers (C#
  `Double`), read here as `Decimal` and written from `Decimal`.
* Every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
  `X-RateLimit-Reset` (epoch) for the app's 24-hour window per company, and
  the per-minute window as `X-RateLimit-Minutely-Limit`, `-Remaining` and
  `-Reset`; a call past either is refused with 429.
* Third-party summaries (README): 60 calls a minute and 5,000 a day per
  company, 60 rows per page on ordinary endpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
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
from connectors.retry import RetryPolicy, bearer_send, retry_after_seconds

# 429s (and an exhausted minute) are waited out here while the waits of one
# call add up to at most this many seconds; past that the call goes up as
# RateLimited for the sync engine to schedule.
THROTTLE_WAIT_SECONDS = 5.0
PAGE_MAX = 60  # rows Exact puts on one page of an ordinary endpoint


def odata_date(day: str | date) -> str:
    """`2026-11-02` as Exact writes dates: `/Date(<ms at 00:00 UTC>)/`."""
    value = date.fromisoformat(day) if isinstance(day, str) else day
    moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)})/"


def odata_date_read(value: Any) -> date | None:
    """The day of an Exact `/Date(ms)/` value (UTC); None when absent or
    not in that form."""
    text = str(value or "")
    if not (text.startswith("/Date(") and text.endswith(")/")):
        return None
    digits = text[6:-2].split("+")[0]
    try:
        return datetime.fromtimestamp(int(digits) / 1000, tz=UTC).date()
    except ValueError:
        return None


def odata_quoted(value: str) -> str:
    """A string literal for an OData `$filter` (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _epoch_seconds(raw: str | None) -> float | None:
    """An X-RateLimit-*Reset value as epoch seconds (Exact sends seconds in
    the daily header and milliseconds in the minutely one)."""
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    if value is None:
        return None
    return value / 1000 if value > 1e11 else value


class ExactClient:
    """One division's API. `calls` counts HTTP calls made; `throttled` the
    429s waited out; `limits` the last limit headers seen
    ({"daily": (remaining, reset), "minutely": (remaining, reset)})."""

    def __init__(
        self,
        *,
        base_url: str,
        division: int,
        tokens: TokenSource,
        limiter: RateLimiter,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.division = division
        self.tokens = tokens
        self.limiter = limiter
        self.timeout = timeout
        self.session = session or requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.throttle_wait = throttle_wait
        self.throttle = RetryPolicy.budgeted_throttle(wait=throttle_wait, sleep=sleep)
        self.limit_key = f"exact:{division}"
        self.calls = 0
        self.throttled = 0
        self.limits: dict[str, tuple[int, float | None]] = {}

    def __repr__(self) -> str:  # never the token
        return f"ExactClient(division={self.division!r}, base_url={self.base_url!r})"

    # -- the operations the adapter uses --

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{self.division}/{path}"

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every row of a collection, following `__next` to the last page."""
        query = urlencode(params, safe="$',()", quote_via=quote) if params else ""
        url = self.url(path) + (f"?{query}" if query else "")
        rows: list[dict[str, Any]] = []
        while url:
            answer = self.request("GET", url)
            page = answer.get("d")
            if isinstance(page, list):  # OData v2 without the results wrapper
                rows += page
                break
            page = page or {}
            rows += list(page.get("results") or [])
            url = str(page.get("__next") or "")
        return rows

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one entity; the entity Exact created (its `d`)."""
        answer = self.request("POST", self.url(path), body=body)
        created = answer.get("d")
        if not isinstance(created, dict):
            raise PlatformUnavailable("Exact Online answered a create without the entity")
        return created

    # -- one HTTP call, with auth, limits and error translation --

    def request(self, method: str, url: str, *, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else dumps(body)
        self._respect_headers()
        response = bearer_send(
            lambda token: self._send(method, url, data, token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=self._retry_after,
            revoked=lambda refused: CredentialsRevoked(
                "Exact Online no longer accepts this connection; reconnect Exact Online",
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

    def _respect_headers(self) -> None:
        """Before a call: a spent daily allowance goes up as RateLimited
        until its reset; a spent minute is waited out when short enough."""
        now = self.clock()
        remaining, reset = self.limits.get("daily", (1, None))
        if remaining <= 0 and reset is not None and reset > now:
            raise RateLimited(
                "Exact Online's daily allowance for this administration is used up",
                retry_after=reset - now,
            )
        remaining, reset = self.limits.get("minutely", (1, None))
        if remaining <= 0 and reset is not None and reset > now:
            wait = reset - now
            if wait > self.throttle_wait:
                raise RateLimited(
                    "Exact Online's per-minute allowance for this administration is used up",
                    retry_after=wait,
                )
            self.sleep(wait)

    def _read_headers(self, response: requests.Response) -> None:
        for window, prefix in (("daily", "X-RateLimit-"), ("minutely", "X-RateLimit-Minutely-")):
            remaining = response.headers.get(f"{prefix}Remaining")
            if remaining is None:
                continue
            try:
                self.limits[window] = (
                    int(remaining),
                    _epoch_seconds(response.headers.get(f"{prefix}Reset")),
                )
            except ValueError:
                continue

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds until a 429 may be sent again: Retry-After when present,
        else the reset of the window that is spent (minute first)."""
        explicit = retry_after_seconds(response.headers.get("Retry-After"))
        if explicit is not None:
            return explicit
        now = self.clock()
        for prefix in ("X-RateLimit-Minutely-", "X-RateLimit-"):
            if response.headers.get(f"{prefix}Remaining") == "0":
                reset = _epoch_seconds(response.headers.get(f"{prefix}Reset"))
                if reset is not None:
                    return max(0.0, reset - now)
        return None

    def _send(self, method: str, url: str, data: str | None, token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        response = limited_request(
            self.session, self.limiter, self.limit_key, "Exact Online", method, url,
            data=data, headers=headers, timeout=self.timeout,
        )  # fmt: skip
        self._read_headers(response)
        return response

    def translate_failure(self, response: requests.Response) -> Exception:
        status = response.status_code
        if status == 429:
            return RateLimited(
                "Exact Online is rate limiting this administration",
                retry_after=self._retry_after(response),
            )
        if status >= 500:
            return PlatformUnavailable(f"Exact Online failed ({status}); will retry")
        message = error_text(response)
        if status == 403:
            return SubscriptionExpired(
                "Exact Online refused access to this administration (subscription ended or "
                f"rights withdrawn): {message}"
            )
        return DocumentRejected(f"Exact Online rejected the request: {message}")


def error_text(response: requests.Response) -> str:
    """Exact's own words from `{"error": {"message": {"value": ...}}}`, else
    the start of the body."""
    try:
        answer = response.json()
    except ValueError:
        return (response.text or response.reason or "no reason given")[:300]
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, dict):
            message = message.get("value")
        if message:
            return str(message)[:500]
    return str(answer)[:300]
