"""The HTTP layer for a partner's Codat-shaped commerce API.

Auth is an API key header or an OAuth client-credentials token; every URL
(token URL and redirects included) passes the SSRF check first; transient
faults are retried here with backoff so one hiccup does not fail a day;
what remains is raised in the product's error taxonomy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from commerce_sync.errors import (
    ConfigurationError,
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.partner.ssrf import call_deadline, safe_session, url_check, url_shape_check
from connectors.retry import RefreshOnce, RetryPolicy, transient_error

MAX_REDIRECTS = 3
# A Retry-After longer than this is not slept through inside a sync (it holds
# the merchant's lock): the error goes up and the next run tries again.
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class PartnerAuth:
    """How to authenticate; the secrets come from the connection's credentials."""

    kind: str  # "api_key" | "client_credentials"
    header: str = "Authorization"
    api_key: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""

    def __repr__(self) -> str:  # no secret in logs or tracebacks
        return f"PartnerAuth({self.kind!r})"


class PartnerClient:
    def __init__(
        self,
        *,
        base_url: str,
        auth: PartnerAuth,
        timeout: float = 15.0,
        deadline: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
        page_size: int = 500,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if auth.kind not in ("api_key", "client_credentials"):
            raise ConfigurationError(f"Unknown partner API auth {auth.kind!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth
        self.timeout = timeout
        self.deadline = deadline  # seconds for a whole request, body included
        # 429 (as long as Retry-After says, unless that is too long for a
        # sync), 5xx and timeouts: `backoff` doubled per try, with jitter.
        self.retries = RetryPolicy.transient(
            attempts=attempts, backoff=backoff, max_retry_after=MAX_RETRY_AFTER, sleep=sleep
        )
        self.page_size = page_size
        # Connects to the address it checked (no DNS rebinding), no proxies.
        self._pinned = session is None
        self.session = session or safe_session()
        self.session.trust_env = False
        self.calls = 0
        self._token: str | None = None
        self._token_expires = 0.0

    def __repr__(self) -> str:
        return f"PartnerClient({self.base_url!r})"

    # -- auth --

    def access_token(self) -> str:
        """The client-credentials token (`TokenSource`), fetched when missing
        or about to expire."""
        if self._token is None or time.monotonic() >= self._token_expires:
            self._fetch_token()
        return str(self._token)

    def refresh_now(self, *, rejected: str) -> str:
        """After a 401: the token may have been revoked early, fetch a new one."""
        self._token = None
        return self.access_token()

    def _fetch_token(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.auth.scope:
            form["scope"] = self.auth.scope
        response = self._send(
            "POST",
            self.auth.token_url,
            data=form,
            auth=(self.auth.client_id, self.auth.client_secret),
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401, 403):
            # invalid_client / unauthorized_client: the grant is gone, not a blip.
            raise CredentialsRevoked(
                f"The partner's token endpoint refused our client credentials ({response.status_code})"
            )
        self._raise_for_status(response, "token endpoint")
        try:
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise DataProcessingError(
                "The partner's token endpoint answered without a token"
            ) from None
        self._token_expires = time.monotonic() + max(lifetime - 60, lifetime / 2)

    # -- requests --

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, following redirects by hand so each hop is checked."""
        for _ in range(MAX_REDIRECTS + 1):
            # The session's adapter resolves and checks the address it connects
            # to; a session passed in (tests) gets the separate check.
            url_shape_check(url) if self._pinned else url_check(url)
            self.calls += 1
            try:
                with call_deadline(self.deadline):
                    response = self.session.request(
                        method, url, timeout=self.timeout, allow_redirects=False, **kwargs
                    )
            except (requests.Timeout, requests.ConnectionError) as error:
                raise PlatformUnavailable(
                    f"The partner API at {urlsplit(url).netloc} did not answer ({type(error).__name__})"
                ) from None
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers["Location"])
            if urlsplit(target)[:2] != urlsplit(url)[:2]:
                # Never hand our credentials to another origin.
                kwargs = {k: v for k, v in kwargs.items() if k not in ("headers", "auth")}
            url = target
        raise PlatformUnavailable(f"The partner API redirected more than {MAX_REDIRECTS} times")

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """GET base_url + path, retrying transient faults; the body parsed with Decimal amounts."""
        url = urljoin(self.base_url, path.lstrip("/")) + "?" + urlencode(params)
        bearer: RefreshOnce | None = None

        def once() -> Any:
            nonlocal bearer
            if self.auth.kind == "api_key":
                value = self.auth.api_key
                if self.auth.header.lower() == "authorization" and " " not in value:
                    value = f"Bearer {value}"
                response = self._send("GET", url, headers=_accept(self.auth.header, value))
            else:
                bearer = bearer or RefreshOnce(self)  # the token is fetched inside the retries
                response = bearer.send(
                    lambda token: self._send(
                        "GET", url, headers=_accept("Authorization", f"Bearer {token}")
                    ),
                    lambda refused: CredentialsRevoked(
                        f"The partner API refused our credentials ({refused.status_code})"
                    ),
                )
            self._raise_for_status(response, path)
            return json.loads(response.content, parse_float=Decimal)

        try:
            return self.retries.call(once, retry_on=(RateLimited, PlatformUnavailable))
        except ValueError:
            raise DataProcessingError(f"The partner API sent invalid JSON for {path}") from None

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        transient = transient_error(
            status, response.headers.get("Retry-After"), platform="The partner API", what=what
        )
        if transient is not None:
            raise transient
        if status in (401, 403):
            raise CredentialsRevoked(f"The partner API refused our credentials ({status})")
        raise DataProcessingError(f"The partner API refused the request for {what} ({status})")

    def list_all(self, data_type: str, *, query: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of `data_type` (e.g. "commerce-orders"), page by page
        until `totalResults` is reached (or a page comes back short)."""
        page, seen = 1, 0
        while True:
            params: dict[str, Any] = {"page": page, "pageSize": self.page_size}
            if query:
                params["query"] = query
            body = self.get(data_type, params)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise DataProcessingError(
                    f"The partner API's {data_type} page {page} has no results list"
                )
            yield from results
            seen += len(results)
            total = body.get("totalResults")
            if (
                not results
                or (isinstance(total, int) and seen >= total)
                or (not isinstance(total, int) and len(results) < self.page_size)
            ):
                return
            page += 1


def _accept(header: str, value: str) -> dict[str, str]:
    return {"Accept": "application/json", header: value}
