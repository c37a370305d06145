"""OAuth 2 for any platform, and the token source every connector shares.

`OAuthClient` speaks the authorisation-code flow with PKCE (S256): it builds
the authorisation URL, exchanges the code, refreshes and revokes. A platform
is described by an `OAuthPlatform` (its endpoints and app credentials).

`ConnectionTokenSource` keeps the tokens in the connection's encrypted
credentials. Platforms such as Xero rotate the refresh token on every use, so
two workers refreshing at once would each spend the same refresh token and
one of them would store a token the platform has already replaced. Refreshing
therefore happens under a row lock on the connection, after re-reading it:
the first worker refreshes, the second finds the new token and uses it.

Tokens are secrets: they never appear in a repr, a log line or an exception
message.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests
from django.db import transaction
from django.utils import timezone

from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable

if TYPE_CHECKING:
    from commerce_sync.core.models import Connection

# Refresh this long before expiry, so a token never dies in the middle of a call.
REFRESH_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True)
class OAuthPlatform:
    name: str  # shown in messages, e.g. "Xero"
    authorize_url: str
    token_url: str
    revoke_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()


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
            url=f"{self.platform.authorize_url}?{urlencode(query)}",
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
        # A callback whose state we did not issue may be a forged request (CSRF).
        if not secrets.compare_digest(state, expected_state):
            raise CredentialsRevoked(
                f"The answer from {self.platform.name} does not match this connection attempt; please connect again."
            )
        return self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
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
                expires_at=timezone.now() + timedelta(seconds=int(data.get("expires_in", 1800))),
            )
        except (KeyError, TypeError, ValueError):
            raise PlatformUnavailable(
                f"{self.platform.name} answered the token request without tokens"
            ) from None

    def _post(self, url: str, form: dict[str, str]) -> Any:
        try:
            response = self.session.post(
                url,
                data=form,
                auth=(self.platform.client_id, self.platform.client_secret),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise PlatformUnavailable(
                f"{self.platform.name}'s sign-in service did not answer ({type(error).__name__})"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PlatformUnavailable(
                f"{self.platform.name}'s sign-in service failed ({response.status_code})"
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


def _expires_at(credentials: dict[str, Any]) -> datetime | None:
    raw = credentials.get("expires_at")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _fresh(credentials: dict[str, Any]) -> bool:
    expires = _expires_at(credentials)
    return (
        bool(credentials.get("access_token"))
        and expires is not None
        and expires - timezone.now() > REFRESH_MARGIN
    )


class ConnectionTokenSource:
    """`connectors.common.TokenSource` over a connection's stored credentials."""

    def __init__(self, connection: Connection, oauth: OAuthClient) -> None:
        self.connection = connection
        self.oauth = oauth
        self.refreshes = 0  # how many refreshes this source made (tests, counters)

    def __repr__(self) -> str:
        return f"ConnectionTokenSource(connection={self.connection.pk})"

    def access_token(self) -> str:
        credentials = self.connection.credentials or {}
        if _fresh(credentials):
            return credentials["access_token"]
        return self._refresh(stale=credentials.get("access_token"), force=False)

    def refresh_now(self, *, rejected: str) -> str:
        return self._refresh(stale=rejected, force=True)

    def _refresh(self, *, stale: str | None, force: bool) -> str:
        from commerce_sync.core.models import Connection

        with transaction.atomic():
            # The lock serialises refreshes of this connection across workers;
            # the re-read sees what a worker that held the lock before us stored.
            row = (
                Connection.objects.select_for_update()
                .only("credentials")
                .get(pk=self.connection.pk)
            )
            credentials = dict(row.credentials or {})
            current = credentials.get("access_token")
            replaced = current is not None and current != stale
            if (replaced or not force) and _fresh(credentials):
                self.connection.credentials = credentials
                return current
            refresh_token = credentials.get("refresh_token")
            if not refresh_token:
                raise CredentialsRevoked(
                    f"This {self.oauth.platform.name} connection holds no refresh token; connect it again."
                )
            tokens = self.oauth.refresh(refresh_token)
            credentials.update(tokens.as_credentials())
            Connection.objects.filter(pk=row.pk).update(
                credentials=credentials, updated_at=timezone.now()
            )
            self.refreshes += 1
        self.connection.credentials = credentials
        return tokens.access_token
