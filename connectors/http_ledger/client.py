"""The HTTP layer: auth header, timeouts, and the product's error taxonomy."""

from __future__ import annotations

from typing import Any

import requests

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)


class LedgerClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.calls = 0

    def __repr__(self) -> str:  # the key never appears in logs or tracebacks
        return f"LedgerClient({self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        allow_404: bool = False,
    ) -> Any:
        self.calls += 1
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=body,
                headers={**self._headers, **(headers or {})},
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise PlatformUnavailable(
                f"The ledger at {self.base_url} did not answer ({type(error).__name__})"
            ) from None
        status = response.status_code
        if status == 404 and allow_404:
            return None
        if status < 400:
            return response.json() if response.content else None
        message = _message(response)
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            raise RateLimited(
                f"The ledger is rate limiting: {message}",
                retry_after=float(retry_after)
                if retry_after and retry_after.replace(".", "", 1).isdigit()
                else None,
            )
        if status >= 500:
            raise PlatformUnavailable(f"The ledger failed ({status}): {message}")
        if status == 401:
            raise CredentialsRevoked(f"The ledger refused our credentials: {message}")
        if status == 402:
            raise SubscriptionExpired(f"The ledger subscription has expired: {message}")
        raise DocumentRejected(f"The ledger refused the request ({status}): {message}")


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    return str(data.get("message") or data)[:500] if isinstance(data, dict) else str(data)[:500]
