"""OAuth 2 for any platform.

`OAuthClient` speaks the authorisation-code flow with PKCE (S256): it builds
the authorisation URL, exchanges the code, refreshes and revokes. A platform
is described by an `OAuthPlatform` (its endpoints and app credentials).

Keeping the tokens (stored encrypted with the connection, refreshed once
under a row lock) is the core's job: `ConnectorContext.token_source(client)`
gives an adapter a `connectors.common.TokenSource` driven by this client.

Tokens are secrets: they never appear in a repr, a log line or an exception
message.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.utils import timezone

from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable


@dataclass(frozen=True)
class OAuthPlatform:
    name: str  # shown in messages, e.g. "Xero"
    authorize_url: str
    token_url: str
    revoke_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    # Some platforms (Exact Online) take the app's id and secret as form
    # fields of the token request instead of HTTP Basic.
    credentials_in_body: bool = False
    # Refresh this many seconds before the access token expires (None: the
    # core's default margin). Exact renews a token only in its last 30 s.
    refresh_margin_seconds: float | None = None
    # The access token's lifetime, in seconds, when a token answer gives no
    # `expires_in` (Lightspeed K-Series documents 3600).
    default_lifetime_seconds: int = 1800


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime

    def as_credentials(self) -> dict[str, str]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the setup flow keeps in the merchant's session until the callback."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthClient:
    def __init__(
        self,
        platform: OAuthPlatform,
        *,
        session: requests.Session | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.platform = platform
        self.session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OAuthClient({self.platform.name!r})"

    def authorization_request(self, *, redirect_uri: str) -> AuthorizationRequest:
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters, within PKCE's 43..128
        query = {
            "response_type": "code",
            "client_id": self.platform.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.platform.scopes),
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        return AuthorizationRequest(
            # Sage's authorisation URL already has a query (`?filter=apiv3.1`).
            url=f"{self.platform.authorize_url}{'&' if '?' in self.platform.authorize_url else '?'}"
            f"{urlencode(query)}",
            state=state,
            code_verifier=verifier,
        )

    def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        state: str,
        expected_state: str,
    ) -> TokenSet:
        self._check_state(state, expected_state)
        return self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    def _check_state(self, state: str, expected_state: str, *, authentic: bool = True) -> None:
        """`CredentialsRevoked` unless the callback's `state` is the one this
        connection attempt issued (`expected_state`; an empty one matches
        nothing) and the callback is otherwise `authentic` (Shopify: its HMAC
        signature): any other may be a forged request (CSRF)."""
        if not expected_state or not secrets.compare_digest(state, expected_state) or not authentic:
            raise CredentialsRevoked(
                f"The answer from {self.platform.name} does not match this connection attempt; please connect again."
            )

    def refresh(self, refresh_token: str) -> TokenSet:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, refresh_token: str) -> None:
        """Best effort on disconnect: the platform forgets the grant."""
        self._post(self.platform.revoke_url, {"token": refresh_token})

    def _token_request(self, form: dict[str, str]) -> TokenSet:
        data = self._post(self.platform.token_url, form)
        try:
            return TokenSet(
                access_token=data["access_token"],
                refresh_token=data["refresh_token"],
                expires_at=timezone.now()
                + timedelta(
                    seconds=int(data.get("expires_in", self.platform.default_lifetime_seconds))
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PlatformUnavailable(
                f"{self.platform.name} answered the token request without tokens"
            ) from None

    def _client_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials of the token endpoints: the app's id and
        secret (Stripe Connect: its secret key alone)."""
        return self.platform.client_id, self.platform.client_secret

    def _sign_in_answer(self, url: str, **kwargs: Any) -> requests.Response:
        """POST to one of the platform's token endpoints, asking for JSON
        (`kwargs` go to `session.post`: the form or JSON body, the auth).
        `PlatformUnavailable` when it does not answer, fails (5xx) or rate
        limits (429); any other answer is the caller's to read."""
        try:
            response = self.session.post(
                url, headers={"Accept": "application/json"}, timeout=self.timeout, **kwargs
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise PlatformUnavailable(
                f"{self.platform.name}'s sign-in service did not answer ({type(error).__name__})"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PlatformUnavailable(
                f"{self.platform.name}'s sign-in service failed ({response.status_code})"
            )
        return response

    def _post(self, url: str, form: dict[str, str]) -> Any:
        in_body = self.platform.credentials_in_body
        if in_body:
            form = {
                **form,
                "client_id": self.platform.client_id,
                "client_secret": self.platform.client_secret,
            }
        response = self._sign_in_answer(
            url, data=form, auth=None if in_body else self._client_auth()
        )
        if response.status_code >= 400:
            # Only the error code is kept: the body could echo what we sent.
            error = _oauth_error(response)
            if error in ("invalid_grant", "unauthorized_client", "invalid_client"):
                raise CredentialsRevoked(
                    f"{self.platform.name} no longer accepts this connection's authorisation "
                    f"({error}); the merchant needs to connect {self.platform.name} again."
                )
            raise CredentialsRevoked(
                f"{self.platform.name} refused the token request ({response.status_code} {error})"
            )
        return response.json() if response.content else {}


def _oauth_error(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "unknown error"
    return error if isinstance(error, str) and error.isascii() and len(error) < 64 else "error"
