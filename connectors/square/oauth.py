"""Square OAuth parameters (code flow). The token exchange and storage live
in `connectors.oauth`; this module only says what Square expects.

Square access tokens last 30 days; Square recommends refreshing at least
weekly so a missed run never lets one expire. Refresh tokens of the code
flow do not expire unless the merchant revokes the app.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable
from connectors.oauth import OAuthClient, OAuthPlatform, TokenSet, _oauth_error

AUTHORIZE_PATH = "/oauth2/authorize"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/oauth2/revoke"
# Read-only: orders, payments (fees, refunds), payouts, catalog, locations.
SCOPES = (
    "ORDERS_READ",
    "PAYMENTS_READ",
    "PAYOUTS_READ",
    "ITEMS_READ",
    "MERCHANT_PROFILE_READ",
)
ACCESS_TOKEN_LIFETIME = timedelta(days=30)
REFRESH_AFTER = timedelta(days=7)


def authorize_url(*, client_id: str, state: str, redirect_uri: str) -> str:
    """Where to send the merchant to grant access. `session=false` keeps
    Square from reusing a browser session of another seller account."""
    query = {
        "client_id": client_id,
        "scope": " ".join(SCOPES),
        "session": "false",
        "state": state,
        "redirect_uri": redirect_uri,
    }
    return f"{settings.SQUARE_API_URL.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(query)}"


def token_url() -> str:
    return settings.SQUARE_API_URL.rstrip("/") + TOKEN_PATH


def token_request(*, client_id: str, client_secret: str, refresh_token: str) -> dict[str, str]:
    """The JSON body of a refresh (Square takes JSON, not a form)."""
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }


def needs_refresh(age: timedelta) -> bool:
    """Refresh a token this old: weekly, well before the 30 days run out."""
    return age >= REFRESH_AFTER


def square_platform() -> OAuthPlatform:
    base = settings.SQUARE_API_URL.rstrip("/")
    return OAuthPlatform(
        name="Square",
        authorize_url=base + AUTHORIZE_PATH,
        token_url=base + TOKEN_PATH,
        revoke_url=base + REVOKE_PATH,
        client_id=settings.SQUARE_CLIENT_ID,
        client_secret=settings.SQUARE_CLIENT_SECRET,
        scopes=SCOPES,
    )


class SquareOAuthClient(OAuthClient):
    """Square's ObtainToken takes a JSON body carrying the app's credentials
    (not a form with HTTP Basic auth) and answers with `expires_at`, an
    RFC 3339 instant, rather than `expires_in`."""

    def _token_request(self, form: dict[str, str]) -> TokenSet:
        data = self._post(self.platform.token_url, form)
        try:
            return TokenSet(
                access_token=data["access_token"],
                refresh_token=data["refresh_token"],
                expires_at=datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PlatformUnavailable("Square answered the token request without tokens") from None

    def _post(self, url: str, form: dict[str, str]) -> Any:
        credentials = {"client_id": self.platform.client_id}
        credentials["client_secret"] = self.platform.client_secret
        body = credentials | form  # e.g. token_request()'s grant_type and refresh_token
        response = self._sign_in_answer(url, json=body)
        if response.status_code >= 400:
            raise CredentialsRevoked(
                f"Square no longer accepts this connection's authorisation "
                f"({response.status_code} {_oauth_error(response)}); connect Square again."
            )
        return response.json() if response.content else {}


def square_oauth_client() -> OAuthClient:
    return SquareOAuthClient(square_platform())
