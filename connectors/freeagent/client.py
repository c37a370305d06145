"""The thin HTTP layer over FreeAgent's API v2.

Each call takes a slot from both shared limiters (120 a minute and 3,600 an
hour per user: README facts, ../shared/reference/README.md), carries the
bearer token, `Accept`/`Content-Type: application/json` and the User-Agent
FreeAgent requires. Bodies are JSON whose money is already decimal strings
(FreeAgent's own form, e.g. "debit_value": "-123.45"), so nothing passes
through a float. Answers are turned into the product's error taxonomy here,
once, in plain words; list answers are read page by page (at most 100 rows a
page, following the `Link: rel="next"` header).
"""

from __future__ import annotations

import json
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

PAGE_SIZE = 100  # the most rows FreeAgent returns a page
THROTTLE_WAIT_SECONDS = 5.0  # a 429 waited out here at most this long, else raised
THROTTLE_RETRIES = 5


class FreeAgentClient:
    """One FreeAgent user's API. `limiters` are (limiter, key) pairs each
    call must pass (the per-minute and per-hour windows); `api_url` is the
    `/v2` root, from which resources' URLs are built and read back."""

    def __init__(
        self,
        *,
        api_url: str,
        tokens: TokenSource,
        user_agent: str,
        limiters: list[tuple[RateLimiter, str]] | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        throttle_wait: float = THROTTLE_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.user_agent = user_agent
        self.limiters = limiters or []
        self.session = session or requests.Session()
        self.timeout = timeout
        self.throttle = RetryPolicy.throttle(
            wait=throttle_wait, attempts=THROTTLE_RETRIES + 1, sleep=sleep
        )
        self.throttled = 0
        self.calls = 0

    def __repr__(self) -> str:  # never the token
        return f"FreeAgentClient(api_url={self.api_url!r})"

    # -- URLs: FreeAgent's references between resources --

    def url(self, collection: str, resource_id: str) -> str:
        """The URL naming one resource, e.g. url("contacts", "43")."""
        return f"{self.api_url}/{collection}/{resource_id}"

    @staticmethod
    def id_of(url: str) -> str:
        """The last segment of a resource URL (its id or nominal code)."""
        return str(url).rstrip("/").rsplit("/", 1)[-1]

    # -- calls --

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """One call; the decoded JSON answer (None when empty). Raises
        `RateLimited`, `PlatformUnavailable`, `CredentialsRevoked`,
        `SubscriptionExpired` or `DocumentRejected` (FreeAgent's message)."""
        response = self._send(method, path, params=params, body=body)
        return self._result(response)

    def pages(self, path: str, collection: str, params: dict[str, str] | None = None) -> list[Any]:
        """Every row of a list, page after page while FreeAgent names a next one."""
        rows: list[Any] = []
        page = 1
        while True:
            query = {**(params or {}), "page": str(page), "per_page": str(PAGE_SIZE)}
            response = self._send("GET", path, params=query, body=None)
            batch = (self._result(response) or {}).get(collection) or []
            rows += batch
            if "next" not in response.links or len(batch) < PAGE_SIZE:
                return rows
            page += 1

    def _send(
        self, method: str, path: str, *, params: dict[str, str] | None, body: Any
    ) -> requests.Response:
        return bearer_send(
            lambda token: self._attempt(method, path, params=params, body=body, token=token),
            tokens=self.tokens,
            throttle=self.throttle,
            retry_after=lambda answer: retry_after_seconds(answer.headers.get("Retry-After")),
            revoked=lambda _: CredentialsRevoked(
                "FreeAgent no longer accepts this connection's authorisation; "
                "the merchant needs to connect FreeAgent again."
            ),
            on_throttle=self._count_throttle,
        )

    def _count_throttle(self, error: BaseException, pause: float) -> None:
        self.throttled += 1

    def _attempt(
        self, method: str, path: str, *, params: dict[str, str] | None, body: Any, token: str
    ) -> requests.Response:
        data = None if body is None else json.dumps(body).encode()
        with held_slots(self.limiters):
            self.calls += 1
            return bearer_request(
                self.session,
                method,
                self.api_url + path,
                platform="FreeAgent",
                bearer=token,
                params=params,
                data=data,
                timeout=self.timeout,
                headers={"User-Agent": self.user_agent},
            )

    def _result(self, response: requests.Response) -> Any:
        status = response.status_code
        if status < 400:
            return response.json(parse_float=Decimal) if response.content else None
        if status == 429:
            raise RateLimited(
                "FreeAgent's rate limit was reached",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise PlatformUnavailable(f"FreeAgent failed to answer ({status})")
        message = error_message(response)
        if status == 402:
            raise SubscriptionExpired(
                "The FreeAgent subscription has lapsed; renew it in FreeAgent to resume syncing."
            )
        if status == 401:
            raise CredentialsRevoked(
                "FreeAgent no longer accepts this connection's authorisation; "
                "the merchant needs to connect FreeAgent again."
            )
        if status == 403:
            raise CredentialsRevoked(
                "FreeAgent refused access: the user who connected it needs full access to "
                f"invoices, banking and accounting ({message or 'forbidden'}); connect again "
                "as such a user."
            )
        if status == 404:
            raise DocumentRejected(f"FreeAgent could not find what was asked for ({message})")
        raise DocumentRejected(message or f"FreeAgent refused the request ({status})")


def error_message(response: requests.Response) -> str:
    """FreeAgent's error text in one line: its body is {"errors": {"error":
    {"message": ...}}} or {"errors": [{"message": ...}, ...]} (several
    validation messages joined with "; ")."""
    try:
        data = response.json()
    except ValueError:
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, dict):
        errors = errors.get("error", errors)
    if isinstance(errors, dict):
        errors = [errors]
    messages = []
    for error in errors if isinstance(errors, list) else []:
        text = str(error.get("message", "") if isinstance(error, dict) else error).strip()
        if text and text not in messages:
            messages.append(text)
    return "; ".join(messages)[:500]
