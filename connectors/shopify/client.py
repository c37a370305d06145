"""A small GraphQL client for the Shopify Admin API.

Shopify meters GraphQL by query cost: each shop has a bucket of points
(`maximumAvailable`) refilled at `restoreRate` points a second, and every
answer reports what is left in `extensions.cost.throttleStatus`. The client
remembers that status and the cost each document asked for last time, waits
before a query that would overdraw the bucket, and when Shopify still answers
`THROTTLED` waits exactly long enough for the missing points to come back.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from commerce_sync.errors import (
    ConfigurationError,
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.common import TokenSource
from connectors.retry import RefreshOnce, RetryPolicy, TryAgain, retry_after_seconds

log = logging.getLogger(__name__)

MAX_THROTTLE_RETRIES = 5
MAX_TRANSIENT_RETRIES = 3
MAX_WAIT_SECONDS = 60.0  # longer than this and the sync is better rescheduled
DEFAULT_QUERY_COST = 50.0  # a guess for a document not yet priced by Shopify


@dataclass
class _Bucket:
    available: float
    maximum: float
    restore_rate: float
    seen_at: float

    def now_available(self, now: float) -> float:
        refilled = self.available + (now - self.seen_at) * self.restore_rate
        return min(self.maximum, refilled)


class ShopifyClient:
    def __init__(
        self,
        *,
        api_url: str,
        tokens: TokenSource,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url
        self.tokens = tokens
        self.timeout = timeout
        self.session = session or requests.Session()
        self.sleep = sleep
        # Unreachable or 5xx: 1, 2, 4 s between tries, then PlatformUnavailable.
        self.transient = RetryPolicy(
            attempts=MAX_TRANSIENT_RETRIES + 1,
            backoff=1.0,
            cap=math.inf,
            jitter=(1.0, 1.0),
            sleep=sleep,
        )
        # 429: as long as its Retry-After says (at most MAX_WAIT_SECONDS).
        self.limited = RetryPolicy.throttle(
            wait=MAX_WAIT_SECONDS, attempts=MAX_THROTTLE_RETRIES + 1, sleep=self._nap
        )
        self.clock = clock
        self.calls = 0
        self._bucket: _Bucket | None = None
        self._costs: dict[str, float] = {}  # document -> requestedQueryCost last seen

    def __repr__(self) -> str:  # never show the token source's contents
        return f"ShopifyClient({self.api_url!r})"

    # -- one query ----------------------------------------------------------

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of one GraphQL answer, after throttling and retries."""
        for _ in range(MAX_THROTTLE_RETRIES):
            self._wait_for_budget(document)
            body = self._post(document, variables)
            self._note_cost(document, body)
            errors = body.get("errors") or []
            if any(_code(e) == "THROTTLED" for e in errors):
                self._refill(document, self._throttled_wait(document))
                continue
            if errors:
                messages = "; ".join(str(e.get("message", e)) for e in errors[:5])
                if any(_code(e) == "ACCESS_DENIED" for e in errors):
                    raise ConfigurationError(
                        "Shopify refused a query: the app lacks a scope", detail=messages
                    )
                raise DataProcessingError("Shopify rejected a query", detail=messages)
            data = body.get("data")
            if not isinstance(data, dict):
                raise DataProcessingError("Shopify answered without data")
            return data
        raise RateLimited("Shopify kept throttling the connector", retry_after=MAX_WAIT_SECONDS)

    def paginate(
        self, document: str, variables: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[dict[str, Any]]:
        """Every node of the connection at `path` in `data`, page after page."""
        after: str | None = None
        while True:
            data = self.query(document, {**variables, "after": after})
            connection: Any = data
            for key in path:
                connection = connection.get(key) if isinstance(connection, dict) else None
            if connection is None:
                return  # e.g. no Shopify Payments account: nothing to read
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")
            if not after:
                raise DataProcessingError("Shopify announced another page without a cursor")

    # -- HTTP -----------------------------------------------------------------

    def _post(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        token = RefreshOnce(self.tokens)  # one refresh: it may have expired early or rotated
        waits: list[float] = []

        def attempt() -> requests.Response:
            response = token.send(
                lambda value: self.transient.call(
                    lambda: self._send(document, variables, value),
                    retry_on=(PlatformUnavailable,),
                ),
                lambda _: CredentialsRevoked("Shopify no longer accepts this connection's grant"),
            )
            if response.status_code == 429:
                raise TryAgain(response, retry_after=_retry_after(response))
            return response

        response = self.limited.call(
            attempt, retry_on=(), on_retry=lambda error, pause: waits.append(pause)
        )
        status = response.status_code
        if status == 402:
            raise ConfigurationError("The Shopify store is frozen or unpaid")
        if status in (403, 404):
            raise ConfigurationError(f"Shopify refused access to the store (HTTP {status})")
        if status == 429:
            wait = _retry_after(response)
            if wait > MAX_WAIT_SECONDS and len(waits) < MAX_THROTTLE_RETRIES:
                raise RateLimited("Shopify's query budget is exhausted", retry_after=wait)
            raise RateLimited("Shopify kept answering 429", retry_after=wait)
        if status != 200:
            raise DataProcessingError(f"Shopify answered HTTP {status}")
        try:
            # Decimal for floats: tax rates must not pass through binary floats.
            return json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise DataProcessingError("Shopify answered with invalid JSON") from None

    def _send(self, document: str, variables: dict[str, Any], token: str) -> requests.Response:
        """One POST; unreachable or 5xx raise `PlatformUnavailable`."""
        try:
            self.calls += 1
            response = self.session.post(
                self.api_url,
                json={"query": document, "variables": variables},
                headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PlatformUnavailable(f"Shopify is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise PlatformUnavailable(f"Shopify answered HTTP {response.status_code}")
        return response

    def _nap(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    # -- cost budget --------------------------------------------------------

    def _note_cost(self, document: str, body: dict[str, Any]) -> None:
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if cost.get("requestedQueryCost") is not None:
            self._costs[document] = float(cost["requestedQueryCost"])
        if status.get("restoreRate"):
            self._bucket = _Bucket(
                available=float(status.get("currentlyAvailable", 0)),
                maximum=float(status.get("maximumAvailable", 0)) or float("inf"),
                restore_rate=float(status["restoreRate"]),
                seen_at=self.clock(),
            )

    def _wait_for_budget(self, document: str) -> None:
        bucket = self._bucket
        if bucket is None:
            return  # nothing known yet: the first answer tells us the budget
        needed = self._costs.get(document, DEFAULT_QUERY_COST)
        missing = needed - bucket.now_available(self.clock())
        if missing > 0:
            self._refill(document, missing / bucket.restore_rate)

    def _refill(self, document: str, seconds: float) -> None:
        """Wait `seconds`, then count the points that came back meanwhile,
        so the next budget check does not wait for them a second time."""
        self._wait(seconds)
        if self._bucket is not None:
            needed = self._costs.get(document, DEFAULT_QUERY_COST)
            self._bucket.available = min(self._bucket.maximum, max(self._bucket.available, needed))
            self._bucket.seen_at = self.clock()

    def _throttled_wait(self, document: str) -> float:
        bucket = self._bucket
        if bucket is None:
            return 1.0
        needed = self._costs.get(document, DEFAULT_QUERY_COST)
        return max(needed - bucket.available, 0.0) / bucket.restore_rate

    def _wait(self, seconds: float) -> None:
        if seconds > MAX_WAIT_SECONDS:
            raise RateLimited("Shopify's query budget is exhausted", retry_after=seconds)
        if seconds > 0:
            self.sleep(seconds)


def _code(error: Any) -> str | None:
    return ((error or {}).get("extensions") or {}).get("code") if isinstance(error, dict) else None


def _retry_after(response: requests.Response) -> float:
    """The answer's `Retry-After` in seconds; 2 s when it sends none we can read."""
    seconds = retry_after_seconds(response.headers.get("Retry-After"))
    return 2.0 if seconds is None else seconds
