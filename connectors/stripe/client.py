"""HTTP layer for the Stripe API v1 (list endpoints, read only).

Vendor facts, from Stripe's OpenAPI description kept in
`../shared/reference/stripe/stripe-subset.spec3.json` (API version
2023-08-16) and that folder's README:

* server `https://api.stripe.com/`; auth `Authorization: Bearer <api_key>`
  (`securitySchemes.bearerAuth`): a secret or restricted key;
* lists answer `{"object": "list", "data": [...], "has_more": bool, "url"}`
  and page with `starting_after=<last id>`, `limit` 1..100 (parameter
  descriptions of `GET /v1/charges`, `/v1/refunds`, `/v1/payouts`,
  `/v1/balance_transactions`);
* `created` is a deepObject range: `created[gte]=<unix>&created[lt]=<unix>`;
* `GET /v1/balance_transactions?payout=<po_...>` lists what an automatic
  payout settled ("For automatic Stripe payouts only");
* errors answer the `error` schema (`{"error": {"type", "code", "message"}}`).

429 (rate limited) and 5xx/timeouts go through the shared `RetryPolicy`
(`Retry-After` honoured when sent; one too long for a sync is raised as
`RateLimited` for the scheduler). 401 means the key was revoked or rolled:
`CredentialsRevoked` (the connection becomes Deauthorized). 403 means a
restricted key lacks a permission: also `CredentialsRevoked`, naming the
resource. The key never reaches a log line, a repr or a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Unpack

import requests
from django.conf import settings

from commerce_sync.errors import (
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.common import json_object
from connectors.retry import SourceClient, Transport, transient_error

PAGE = 100  # the most a Stripe list returns per page (`limit` 1..100)
MAX_RETRY_AFTER = 30.0


class StripeClient(SourceClient):
    """Read-only Stripe calls with one secret or restricted key, or, for a
    Stripe Connect account (`account`, `acct_...`), the platform's secret
    key sent with the `Stripe-Account` header (see `oauth.py`).

    `base_url` defaults to `settings.STRIPE_API_URL`; `transport` are
    `connectors.retry.Transport`'s options (`sleep` is injected by tests).
    `calls` counts HTTP requests sent (retries included)."""

    platform = "Stripe"

    def __init__(
        self,
        *,
        api_key: str,
        account: str = "",
        base_url: str | None = None,
        page_size: int = PAGE,
        **transport: Unpack[Transport],
    ) -> None:
        if not api_key:
            raise CredentialsRevoked("This Stripe connection has no API key: connect Stripe again")
        super().__init__(
            base_url=base_url or settings.STRIPE_API_URL,
            page_size=page_size,
            max_retry_after=MAX_RETRY_AFTER,
            **transport,
        )
        self._api_key = api_key
        self.account = account

    def __repr__(self) -> str:
        return f"StripeClient({self.base_url!r}, {self.account!r})"

    # -- one call --

    def _send(self, path: str, params: dict[str, Any]) -> requests.Response:
        return self._bearer_get(
            path,
            params,
            self._api_key,
            headers={"Stripe-Account": self.account} if self.account else None,
        )

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One GET with retries of transient faults; the parsed JSON object."""

        def once() -> dict[str, Any]:
            response = self._send(path, params)
            self._raise_for_status(response, path)
            return json_object(response, platform="Stripe", path=path)

        return self.retries.call(once, retry_on=(RateLimited, PlatformUnavailable))

    def _raise_for_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        transient = transient_error(
            status, response.headers.get("Retry-After"), platform="Stripe", what=path
        )
        if transient is not None:
            raise transient
        if status == 401:
            raise CredentialsRevoked(
                "Stripe no longer accepts this connection's API key (401): it was revoked or "
                "rolled; give a new restricted key"
            )
        if status == 403 and self.account:
            raise CredentialsRevoked(
                f"Stripe refused {path} for account {self.account} (403): the account was "
                "disconnected from the platform; connect Stripe again"
            )
        if status == 403:
            raise CredentialsRevoked(
                f"Stripe refused {path} (403): the restricted key lacks read access to it; "
                "give a key with read access to charges, refunds, balance and payouts"
            )
        raise DataProcessingError(
            f"Stripe refused the request for {path} ({status} {_error_code(response)})"
        )

    # -- paging --

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, following `starting_after` while
        `has_more` is true. Raises `DataProcessingError` on a list without
        `data`, or a page that would repeat the previous cursor."""
        after: str | None = None
        while True:
            query = {**params, "limit": self.page_size}
            if after:
                query["starting_after"] = after
            page = self.get(path, query)
            data = page.get("data")
            if not isinstance(data, list):
                raise DataProcessingError(f"Stripe answered {path} without a list of data")
            yield from data
            if not page.get("has_more"):
                return
            last = data[-1].get("id") if data and isinstance(data[-1], dict) else None
            if not last or last == after:
                raise DataProcessingError(
                    f"Stripe announced more of {path} but gave no new object to continue after"
                )
            after = last

    # -- endpoints --

    @staticmethod
    def _created(start: int, end: int) -> dict[str, Any]:
        return {"created[gte]": start, "created[lt]": end}

    def charges(self, *, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Charges created in [start, end) (unix seconds)."""
        return self.pages("/v1/charges", self._created(start, end))

    def refunds(self, *, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Refunds created in [start, end)."""
        return self.pages("/v1/refunds", self._created(start, end))

    def balance_transactions(self, *, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Balance transactions created in [start, end): fees, adjustments,
        disputes, payout failures ..."""
        return self.pages("/v1/balance_transactions", self._created(start, end))

    def payouts(self, *, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Payouts created in [start, end)."""
        return self.pages("/v1/payouts", self._created(start, end))

    def payout_transactions(self, payout_id: str) -> Iterator[dict[str, Any]]:
        """The balance transactions an automatic payout settled (its own included)."""
        return self.pages("/v1/balance_transactions", {"payout": payout_id})


def _error_code(response: requests.Response) -> str:
    """Stripe's error `code` or `type` only: the message could echo what we sent."""
    try:
        error = response.json().get("error") or {}
        code = error.get("code") or error.get("type") or "error"
    except (ValueError, AttributeError):
        return "error"
    return code if isinstance(code, str) and code.isascii() and len(code) < 64 else "error"
