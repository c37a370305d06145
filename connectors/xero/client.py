"""The thin HTTP layer over Xero's Accounting API.

Each call: a slot from the shared rate limiter, a valid access token, the
tenant header, and on writes an `Idempotency-Key`. Xero's answers are turned
into the product's error taxonomy here, once, with messages in plain words.
Amounts travel as JSON numbers written from `Decimal` (never through float)
and are read back as `Decimal`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.common import RateLimiter, TokenSource, bearer_request, held_slots
from connectors.retry import RetryPolicy, bearer_send, retry_after_seconds

MAX_IDEMPOTENCY_KEY = 128
# A 429 whose Retry-After is at most this many seconds is waited out here (up
# to THROTTLE_RETRIES times); a longer one goes up as RateLimited for the sync
# engine to schedule. A throttled call was not processed, so sending it again
# (with the same Idempotency-Key) cannot write twice.
THROTTLE_WAIT_SECONDS = 5.0
THROTTLE_RETRIES = 5
CONTACTS_PAGE = 100  # Xero's page size for contacts


def idempotency_key(key: str) -> str:
    """Xero takes at most 128 characters; longer keys are hashed (stably)."""
    if len(key) <= MAX_IDEMPOTENCY_KEY:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def dumps(body: Any) -> str:
    """JSON with each Decimal written as the number it is, not via float."""
    decimals: list[Decimal] = []

    def mark(value: Any) -> str:
        if isinstance(value, Decimal):
            decimals.append(value)
            return f"\x00{len(decimals) - 1}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = json.dumps(body, default=mark, separators=(",", ":"))
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: str(decimals[int(m.group(1))]), text)


class XeroClient:
    def __init__(
        self,
        *,
        api_url: str,
        tenant_id: str,
        tokens: TokenSource,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.throttle_wait = throttle_wait
        # A 429 is waited out exactly as its Retry-After says (no backoff of
        # our own), while that is at most `throttle_wait`.
        self.throttle = RetryPolicy.throttle(
            wait=throttle_wait, attempts=THROTTLE_RETRIES + 1, sleep=sleep
        )
        self.throttled = 0  # 429s waited out
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.limiter = limiter
        self.session = session or requests.Session()
        self.timeout = timeout
        self.calls = 0

    def __repr__(self) -> str:
        return f"XeroClient(tenant={self.tenant_id!r})"

    @property
    def limit_key(self) -> str:
        return f"xero:{self.tenant_id}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        key: str | None = None,
    ) -> Any:
        # Expired early or revoked: one refresh (under the connection lock) and
        # one more try; a second refusal means the grant is gone.
        response = bearer_send(
            lambda token: self._send(method, path, params=params, body=body, key=key, token=token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=lambda answer: _seconds(answer.headers),
            revoked=lambda _: CredentialsRevoked(
                "Xero no longer accepts this connection's authorisation; the merchant needs to connect Xero again."
            ),
            on_throttle=self._count_throttle,
        )
        return self._result(response)

    def pages(self, path: str, collection: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every row of a paged GET (contacts), page after page until one
        comes back shorter than Xero's page of `CONTACTS_PAGE`."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.request("GET", path, params={**params, "page": str(page)})[collection]
            rows += batch
            if len(batch) < CONTACTS_PAGE:
                return rows
            page += 1

    def _count_throttle(self, error: BaseException, pause: float) -> None:
        self.throttled += 1

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        body: Any,
        key: str | None,
        token: str,
    ) -> requests.Response:
        headers = {"xero-tenant-id": self.tenant_id}
        data = None if body is None else dumps(body).encode()
        if key is not None:
            headers["Idempotency-Key"] = idempotency_key(key)
        with held_slots(() if self.limiter is None else ((self.limiter, self.limit_key),)):
            self.calls += 1
            return bearer_request(
                self.session,
                method,
                self.api_url + path,
                platform="Xero",
                bearer=token,
                params=params,
                data=data,
                timeout=self.timeout,
                headers=headers,
            )

    def _result(self, response: requests.Response) -> Any:
        status = response.status_code
        if status < 400:
            return response.json(parse_float=Decimal) if response.content else None
        if status == 429:
            raise RateLimited(
                "Xero's rate limit was reached", retry_after=_seconds(response.headers)
            )
        if status >= 500:
            raise PlatformUnavailable(f"Xero failed to answer ({status})")
        data = _json(response)
        if status == 403:
            detail = str(data.get("Detail") or data.get("Message") or data.get("Title") or "")
            if re.search(r"subscription|expired|organisation.*(suspended|cancel)", detail, re.I):
                raise SubscriptionExpired(
                    "The Xero organisation's subscription has expired; renew it in Xero to resume syncing."
                )
            raise CredentialsRevoked(
                "Xero refused access to this organisation; the merchant needs to connect Xero again."
            )
        if status == 404:
            raise DocumentRejected("Xero could not find what was asked for")
        raise DocumentRejected(validation_message(data))


def _seconds(headers: Any) -> float | None:
    return retry_after_seconds(headers.get("Retry-After"))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_ARCHIVED = re.compile(r"account(?:\s*code)?\s*'?([\w.-]+)'?\s+(?:has been|is)\s+archived", re.I)
_MISSING = re.compile(r"account code\s*'([\w.-]+)'\s+is not a valid code", re.I)


def _plain(message: str) -> str:
    """Xero's wording, shortened where we know a clearer one."""
    if found := _ARCHIVED.search(message):
        return f"Account {found.group(1)} is archived in Xero"
    if found := _MISSING.search(message):
        return f"Account {found.group(1)} does not exist in Xero"
    return message.strip()


def validation_message(data: dict[str, Any]) -> str:
    """One sentence from a ValidationException: the element errors, deduplicated."""
    messages: list[str] = []
    for element in data.get("Elements") or []:
        for error in element.get("ValidationErrors") or []:
            text = _plain(str(error.get("Message", "")))
            if text and text not in messages:
                messages.append(text)
    if not messages:
        messages.append(_plain(str(data.get("Message") or "Xero refused the request")))
    return "; ".join(messages)[:500]
