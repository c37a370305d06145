"""The HTTP layer over Zettle's Purchase API v2 and Finance API v2.

Each call carries a Bearer token from the connection's `TokenSource`; a 401
gets one refresh (Zettle rotates refresh tokens, so the token source does it
under the connection lock) and a second 401 means the grant is gone. 429 is
handed to the scheduler as `RateLimited` with Zettle's `Retry-After`; 5xx
answers and network faults are retried here a few times with backoff, then
surface as `PlatformUnavailable`. Tokens never reach a log line or message.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    PlatformUnavailable,
    RateLimited,
)
from connectors.common import RateLimiter, TokenSource
from connectors.retry import RefreshOnce, RetryPolicy, retry_after_seconds

PURCHASE_PAGE = 1000  # the Purchase API's largest page
FINANCE_PAGE = 1000
# What the sync reads from the Finance API: fees and payouts. Payments mirror
# order payments; other types are outside a sales sync.
FINANCE_TYPES = ("PAYMENT_FEE", "PAYOUT", "FAILED_PAYOUT")
RETRIES = 3  # extra attempts after a 5xx or a network fault
BACKOFF = 0.5  # seconds, doubled on each retry


def zettle_time(moment: datetime) -> str:
    """UTC without offset, as both APIs take it (`YYYY-MM-DDThh:mm:ss`)."""
    if moment.tzinfo is None:
        raise ValueError("Zettle queries need aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class ZettleClient:
    def __init__(
        self,
        *,
        purchase_url: str,
        finance_url: str,
        tokens: TokenSource,
        organization: str = "self",
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        purchase_page: int = PURCHASE_PAGE,
        finance_page: int = FINANCE_PAGE,
    ) -> None:
        self.purchase_url = purchase_url.rstrip("/")
        self.finance_url = finance_url.rstrip("/")
        self.tokens = tokens
        self.organization = organization  # for the shared limiter's key only
        self.limiter = limiter
        self.session = session or requests.Session()
        self.timeout = timeout
        # 5xx answers and network faults: RETRIES more tries, BACKOFF doubled
        # each time, no jitter.
        self.retries = RetryPolicy(
            attempts=RETRIES + 1, backoff=BACKOFF, cap=math.inf, jitter=(1.0, 1.0), sleep=sleep
        )
        self.purchase_page = purchase_page
        self.finance_page = finance_page
        self.calls = 0

    def __repr__(self) -> str:
        return f"ZettleClient(organization={self.organization!r})"

    @property
    def limit_key(self) -> str:
        return f"zettle:{self.organization}"

    # -- reads --

    def purchases(self, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every purchase (sales and refunds) in [start, end), oldest first,
        following `lastPurchaseHash` until a short or empty page."""
        params: dict[str, Any] = {
            "startDate": zettle_time(start),
            "endDate": zettle_time(end),
            "limit": self.purchase_page,
            "descending": "false",
        }
        seen_hashes: set[str] = set()
        while True:
            page = self.get(self.purchase_url + "/purchases/v2", params)
            purchases = page.get("purchases") or []
            yield from purchases
            cursor = page.get("lastPurchaseHash")
            if len(purchases) < self.purchase_page or not cursor:
                return
            if cursor in seen_hashes:
                # A cursor that does not move would loop forever.
                raise PlatformUnavailable("Zettle repeated a purchase page cursor")
            seen_hashes.add(cursor)
            params["lastPurchaseHash"] = cursor

    def transactions(
        self, *, start: datetime, end: datetime, account: str = "LIQUID"
    ) -> Iterator[dict[str, Any]]:
        """Fee and payout transactions of the account in [start, end), paged
        with limit/offset until a short page."""
        offset = 0
        while True:
            params: dict[str, Any] = {
                "start": zettle_time(start),
                "end": zettle_time(end),
                "includeTransactionType": list(FINANCE_TYPES),
                "limit": self.finance_page,
                "offset": offset,
            }
            page = self.get(f"{self.finance_url}/v2/accounts/{account}/transactions", params)
            if not isinstance(page, list):
                raise PlatformUnavailable("Zettle answered the transactions call with no list")
            yield from page
            if len(page) < self.finance_page:
                return
            offset += len(page)

    # -- one call --

    def get(self, url: str, params: dict[str, Any]) -> Any:
        # Expired early or revoked: refresh once and try again; a second
        # refusal means the merchant has withdrawn the grant.
        response = RefreshOnce(self.tokens).send(
            lambda token: self._send(url, params, token),
            lambda _: CredentialsRevoked(
                "Zettle no longer accepts this connection's authorisation; the merchant needs to connect Zettle again."
            ),
        )
        if response.status_code == 429:
            raise RateLimited(
                "Zettle's rate limit was reached",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status_code == 403:
            raise CredentialsRevoked(
                "Zettle refused access: the authorisation lacks READ:PURCHASE or READ:FINANCE; connect Zettle again."
            )
        if response.status_code >= 400:
            # Our request is wrong: retrying would only repeat it.
            raise ApplicationError(f"Zettle refused the request ({response.status_code})")
        try:
            return response.json()
        except ValueError:
            raise PlatformUnavailable("Zettle answered with something other than JSON") from None

    def _send(self, url: str, params: dict[str, Any], token: str) -> requests.Response:
        """One request, retried on 5xx and network faults with backoff."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

        def attempt() -> requests.Response:
            if self.limiter is not None:
                self.limiter.acquire(self.limit_key)
            self.calls += 1
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout
                )
            except (requests.Timeout, requests.ConnectionError) as error:
                raise PlatformUnavailable(
                    f"Zettle did not answer ({type(error).__name__})"
                ) from None
            finally:
                if self.limiter is not None:
                    self.limiter.release(self.limit_key)
            if response.status_code >= 500:
                raise PlatformUnavailable(f"Zettle failed to answer ({response.status_code})")
            return response

        try:
            return self.retries.call(attempt, retry_on=(PlatformUnavailable,))
        except PlatformUnavailable as error:
            raise PlatformUnavailable(
                f"{error.message} after {self.retries.attempts} attempts"
            ) from None
