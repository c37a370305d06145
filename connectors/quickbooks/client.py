"""The HTTP layer for the QuickBooks Online v3 Accounting API: the bearer
token (one refresh after a 401), the shared rate limiter around every call,
`minorversion`, `requestid` on writes, paged queries, batches, decimals kept
exact on the wire, and faults translated into the product's taxonomy."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.common import RateLimiter, TokenSource, limited_request
from connectors.retry import RetryPolicy, bearer_send, retry_after_seconds

MINOR_VERSION = "75"
REQUEST_ID_MAX = 50  # Intuit keeps requestid values up to this length
BATCH_MAX = 30
PAGE_SIZE = 1000  # the most one query answer may hold
# 429s are waited out here (as their Retry-After says) while the waits of one
# call add up to at most this many seconds; past that the call goes up as
# RateLimited for the sync engine to schedule.
THROTTLE_WAIT_SECONDS = 5.0
# Fault codes meaning the company's subscription lapsed or was cancelled.
SUBSCRIPTION_CODES = {"3100", "003100", "6190"}

_SAFE_ID = re.compile(r"^[A-Za-z0-9:._-]+$")
# How `json.dumps` writes the marked decimals below (NUL never occurs in our
# documents' text, so the marker cannot collide with a real string).
_DECIMAL_MARK = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


def request_id_for(key: str) -> str:
    """The key itself when QuickBooks accepts it, else a deterministic digest
    (the same key must always give the same requestid, or a replay after a
    lost answer would write again)."""
    if len(key) <= REQUEST_ID_MAX and _SAFE_ID.match(key):
        return key
    return "cs-" + hashlib.sha256(key.encode()).hexdigest()[: REQUEST_ID_MAX - 3]


def dumps(body: Any) -> str:
    """JSON with `Decimal` written as a bare number: the standard encoder only
    knows floats, and money must never pass through one."""

    def mark(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"\x00dec:{value:f}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    return _DECIMAL_MARK.sub(r"\1", json.dumps(body, default=mark))


class QuickBooksClient:
    def __init__(
        self,
        *,
        realm_id: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        base_url: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.realm_id = realm_id
        self.throttle_wait = throttle_wait
        # A 429 is waited out exactly as its Retry-After says, for as many
        # tries as fit the budget (each counted as at least 0.1 s, so that a
        # Retry-After of 0 cannot loop for ever).
        self.throttle = RetryPolicy.throttle(
            wait=throttle_wait,
            attempts=sys.maxsize,
            budget=throttle_wait,
            budget_floor=0.1,
            sleep=sleep,
        )
        self.throttled = 0  # 429s waited out
        self.tokens = tokens
        self.limiter = limiter
        self.base_url = (base_url or settings.QUICKBOOKS_API_URL).rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.limit_key = f"quickbooks:{realm_id}"
        self.calls = 0

    def __repr__(self) -> str:  # never the token
        return f"QuickBooksClient(realm={self.realm_id!r}, base_url={self.base_url!r})"

    # -- the operations the adapter uses --

    def query(self, statement: str) -> tuple[str, list[dict[str, Any]]]:
        """Every row of a `select ... from Entity ...` statement, page by page.
        Returns the entity name QuickBooks answered with and the rows."""
        rows: list[dict[str, Any]] = []
        start = 1
        entity = ""
        while True:
            paged = f"{statement} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            answer = self.request("GET", "query", params={"query": paged})
            # The rows sit under the entity's name beside paging counters;
            # an empty result has no such list at all.
            found = answer.get("QueryResponse") or {}
            page = next(((k, v) for k, v in found.items() if isinstance(v, list)), None)
            if page is None:
                return entity, rows
            entity = page[0]
            rows.extend(page[1])
            if len(page[1]) < PAGE_SIZE:  # a short page is the last one
                return entity, rows
            start += PAGE_SIZE

    def create(self, entity: str, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        answer = self.request(
            "POST", entity.lower(), body=body, params={"requestid": request_id_for(key)}
        )
        return answer[entity]

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self.request("GET", f"{entity.lower()}/{entity_id}")[entity]

    def batch(self, operations: list[dict[str, Any]], *, key: str) -> list[dict[str, Any]]:
        """One batch request (≤ 30 operations, each with a `bId`); the answers
        in the order QuickBooks gives them. Faults of single operations stay
        in the answers for the caller to translate."""
        if len(operations) > BATCH_MAX:
            raise ValueError(f"QuickBooks takes at most {BATCH_MAX} operations per batch")
        answer = self.request(
            "POST",
            "batch",
            body={"BatchItemRequest": operations},
            params={"requestid": request_id_for(key)},
        )
        return list(answer.get("BatchItemResponse") or [])

    # -- one HTTP call, with auth, limits and error translation --

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/v3/company/{self.realm_id}/{path}"
        query = {**(params or {}), "minorversion": MINOR_VERSION}
        data = None if body is None else dumps(body)

        # A throttled call was not processed: sending it again (with the same
        # requestid) cannot write twice.
        response = bearer_send(
            lambda token: self._send(method, url, query, data, token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=_retry_after,
            revoked=lambda refused: CredentialsRevoked(
                "QuickBooks no longer accepts this connection; reconnect QuickBooks",
                detail=fault_text(refused),
            ),
            on_throttle=self._count_throttle,
        )
        if response.status_code >= 400:
            raise translate_failure(response)
        answer = response.json(parse_float=Decimal)
        fault = answer.get("Fault") or answer.get("fault")
        if fault:  # some faults come back with 200
            raise fault_error(fault)
        return answer

    def _count_throttle(self, error: BaseException, pause: float) -> None:
        self.throttled += 1

    def _send(
        self, method: str, url: str, query: dict[str, str], data: str | None, token: str
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        return limited_request(
            self.session, self.limiter, self.limit_key, "QuickBooks", method, url,
            params=query, data=data, headers=headers, timeout=self.timeout,
        )  # fmt: skip


# -- faults --


def _errors(fault: dict[str, Any]) -> list[dict[str, Any]]:
    found = fault.get("Error") or fault.get("error") or []
    return found if isinstance(found, list) else [found]


def fault_message(fault: dict[str, Any]) -> str:
    """QuickBooks' own words: the detail when it has one (it names the field
    or account), else the headline."""
    parts = []
    for error in _errors(fault):
        message = str(error.get("Message") or error.get("message") or "").strip()
        detail = str(error.get("Detail") or error.get("detail") or "").strip()
        parts.append(detail or message)
    return "; ".join(p for p in parts if p) or "no reason given"


def fault_error(fault: dict[str, Any], *, status: int = 400) -> Exception:
    codes = {str(e.get("code") or "") for e in _errors(fault)}
    kind = str(fault.get("type") or "")
    message = fault_message(fault)
    if codes & SUBSCRIPTION_CODES or status == 403 or kind == "AuthorizationFault":
        return SubscriptionExpired(
            f"QuickBooks refused access to the company (subscription ended or access withdrawn): {message}"
        )
    if kind == "AuthenticationFault":
        return CredentialsRevoked(
            "QuickBooks no longer accepts this connection; reconnect QuickBooks"
        )
    return DocumentRejected(f"QuickBooks rejected the request: {message}")


def fault_text(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    fault = answer.get("Fault") or answer.get("fault") if isinstance(answer, dict) else None
    return fault_message(fault) if fault else str(answer)[:300]


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (a number; QuickBooks does not send dates)."""
    return retry_after_seconds(response.headers.get("Retry-After"))


def translate_failure(response: requests.Response) -> Exception:
    status = response.status_code
    if status == 429:
        retry_after = _retry_after(response)
        return RateLimited("QuickBooks is rate limiting this company", retry_after=retry_after)
    if status >= 500:
        return PlatformUnavailable(f"QuickBooks failed ({status}); will retry")
    try:
        answer = response.json(parse_float=Decimal)
    except ValueError:
        answer = {}
    fault = (answer.get("Fault") or answer.get("fault")) if isinstance(answer, dict) else None
    if fault:
        return fault_error(fault, status=status)
    if status == 403:
        return SubscriptionExpired("QuickBooks refused access to the company")
    return DocumentRejected(f"QuickBooks rejected the request ({status}): {response.text[:300]}")
