"""QuickBooks' OAuth 2 parameters, as plain values and functions so the shared
OAuth helper (`connectors.oauth`) can drive the flow without this module
importing it.

Intuit issues access tokens for one hour and refresh tokens that rotate (the
answer to a refresh may carry a new one, which must replace the old at once).
The company being connected (the realm id) is not in the token answer: it
comes back as the `realmId` parameter of the authorisation callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from commerce_sync.errors import ConfigurationError

PLATFORM_KEY = "quickbooks"
SCOPES = ("com.intuit.quickbooks.accounting",)
ACCESS_TOKEN_SECONDS = 3600


def authorize_url(*, redirect_uri: str, state: str) -> str:
    """Where the merchant's browser goes to grant access."""
    query = urlencode(
        {
            "client_id": settings.QUICKBOOKS_CLIENT_ID,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{settings.QUICKBOOKS_AUTHORIZE_URL}?{query}"


def token_endpoint() -> str:
    return settings.QUICKBOOKS_TOKEN_URL


def revoke_endpoint() -> str:
    return settings.QUICKBOOKS_REVOKE_URL


def client_credentials() -> tuple[str, str]:
    """Intuit authenticates the app on the token endpoint with HTTP Basic."""
    return settings.QUICKBOOKS_CLIENT_ID, settings.QUICKBOOKS_CLIENT_SECRET


def code_exchange_form(*, code: str, redirect_uri: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}


def refresh_form(*, refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def revoke_body(*, token: str) -> dict[str, str]:
    """Revoking the refresh token ends the whole grant (JSON body)."""
    return {"token": token}


def realm_from_callback(params: Mapping[str, str]) -> str:
    """The company id that the callback names; without it we cannot address
    any API call, so its absence is a configuration error, not a retry."""
    realm = (params.get("realmId") or "").strip()
    if not realm.isdigit():
        raise ConfigurationError(
            "QuickBooks did not say which company was connected (no realmId); connect again"
        )
    return realm


def is_invalid_grant(error_code: str) -> bool:
    """The token endpoint's answer meaning the merchant must reconnect."""
    return error_code == "invalid_grant"


def quickbooks_oauth_client(session: Any = None) -> Any:
    """The shared OAuth client configured for Intuit (imported lazily so this
    module stays usable without the shared helper)."""
    from connectors.oauth import OAuthClient, OAuthPlatform

    client_id, client_secret = client_credentials()
    platform = OAuthPlatform(
        name="QuickBooks",
        authorize_url=settings.QUICKBOOKS_AUTHORIZE_URL,
        token_url=token_endpoint(),
        revoke_url=revoke_endpoint(),
        client_id=client_id,
        client_secret=client_secret,
        scopes=SCOPES,
    )
    return OAuthClient(platform, session=session)
