"""HTTP layer for the Square Connect API (v2).

Every request pins `Square-Version` so a Square release cannot change the
shapes under us. Bearer token from a `TokenSource`; a 401 refreshes once,
then means the grant is gone. 429 and 5xx/timeouts are retried with backoff
(a Retry-After too long to sleep through inside a sync is raised instead).
Tokens never reach a log line or an exception message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import (
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.common import TokenSource
from connectors.retry import RefreshOnce, RetryPolicy, transient_error

SQUARE_VERSION = "2025-08-20"
ORDERS_PAGE = 1000  # the most SearchOrders returns per page
MAX_RETRY_AFTER = 30.0


class SquareClient:
    def __init__(
        self,
        *,
        tokens: TokenSource,
        base_url: str | None = None,
        timeout: float = 20.0,
        attempts: int = 4,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = (base_url or settings.SQUARE_API_URL).rstrip("/")
        self.tokens = tokens
        self.timeout = timeout
        # 429 (as long as Retry-After says, unless that is too long for a
        # sync), 5xx and timeouts: `backoff` doubled per try, with jitter.
        self.retries = RetryPolicy.transient(
            attempts=attempts, backoff=backoff, max_retry_after=MAX_RETRY_AFTER, sleep=sleep
        )
        self.session = session or requests.Session()
        self.calls = 0

    def __repr__(self) -> str:
        return f"SquareClient({self.base_url!r})"

    # -- one call --

    def _send(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Square-Version": SQUARE_VERSION,
            "Accept": "application/json",
        }
        self.calls += 1
        try:
            return self.session.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise PlatformUnavailable(
                f"Square did not answer {method} {path} ({type(error).__name__})"
            ) from None

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with refresh-once and retries; the parsed JSON body."""
        token = RefreshOnce(self.tokens)

        def once() -> dict[str, Any]:
            response = token.send(
                lambda value: self._send(method, path, value, **kwargs),
                lambda _: CredentialsRevoked(
                    "Square refused the refreshed access token: reconnect Square"
                ),
            )
            self._raise_for_status(response, path)
            return response.json()

        try:
            return self.retries.call(once, retry_on=(RateLimited, PlatformUnavailable))
        except ValueError:
            raise DataProcessingError(f"Square sent invalid JSON for {path}") from None

    @staticmethod
    def _raise_for_status(response: requests.Response, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        transient = transient_error(
            status, response.headers.get("Retry-After"), platform="Square", what=path
        )
        if transient is not None:
            raise transient
        if status == 403:
            raise CredentialsRevoked(f"Square refused access to {path} (403): check the scopes")
        raise DataProcessingError(f"Square refused the request for {path} ({status})")

    # -- paging --

    def pages(
        self,
        method: str,
        path: str,
        key: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every object under `key` across all pages, following `cursor` to the end."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            if method == "GET":
                query = dict(params or {}, **({"cursor": cursor} if cursor else {}))
                page = self.call("GET", path, params=query)
            else:
                page = self.call(
                    method, path, json=dict(body or {}, **({"cursor": cursor} if cursor else {}))
                )
            yield from page.get(key) or ()
            cursor = page.get("cursor")
            if not cursor:
                return
            if cursor in seen:  # a looping cursor would read forever
                raise DataProcessingError(f"Square returned the same cursor twice for {path}")
            seen.add(cursor)

    # -- endpoints --

    def search_orders(
        self, *, location_ids: list[str], start: str, end: str, field: str = "created_at"
    ) -> Iterator[dict[str, Any]]:
        """Completed orders whose `field` (created_at or updated_at) lies in [start, end).
        Square filters on one timestamp at a time and the sort must use the same one."""
        body = {
            "location_ids": location_ids,
            "limit": ORDERS_PAGE,
            "return_entries": False,
            "query": {
                "filter": {
                    "state_filter": {"states": ["COMPLETED"]},
                    "date_time_filter": {field: {"start_at": start, "end_at": end}},
                },
                "sort": {"sort_field": field.upper(), "sort_order": "ASC"},
            },
        }
        return self.pages("POST", "/v2/orders/search", "orders", body=body)

    def list_payments(self, *, location_id: str, start: str, end: str) -> Iterator[dict[str, Any]]:
        params = {"location_id": location_id, "begin_time": start, "end_time": end, "limit": 100}
        return self.pages("GET", "/v2/payments", "payments", params=params)

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v2/payments/{payment_id}").get("payment") or {}

    def list_refunds(self, *, location_id: str, start: str, end: str) -> Iterator[dict[str, Any]]:
        params = {"location_id": location_id, "begin_time": start, "end_time": end, "limit": 100}
        return self.pages("GET", "/v2/refunds", "refunds", params=params)

    def list_payouts(self, *, location_id: str, start: str, end: str) -> Iterator[dict[str, Any]]:
        params = {"location_id": location_id, "begin_time": start, "end_time": end, "limit": 100}
        return self.pages("GET", "/v2/payouts", "payouts", params=params)

    def list_payout_entries(self, payout_id: str) -> Iterator[dict[str, Any]]:
        return self.pages(
            "GET",
            f"/v2/payouts/{payout_id}/payout-entries",
            "payout_entries",
            params={"limit": 100},
        )

    def list_locations(self) -> list[dict[str, Any]]:
        return self.call("GET", "/v2/locations").get("locations") or []

    def search_catalog(self) -> Iterator[dict[str, Any]]:
        """Categories and items (with their variations): what products need."""
        body = {
            "object_types": ["CATEGORY", "ITEM"],
            "include_deleted_objects": False,
            "limit": 1000,
        }
        return self.pages("POST", "/v2/catalog/search", "objects", body=body)
