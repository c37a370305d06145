"""Zettle's OAuth 2 parameters (authorisation code with PKCE).

Zettle access tokens last two hours (`expires_in` 7200) and each refresh
returns a new refresh token that replaces the old one, so refreshing must go
through `connectors.oauth.ConnectionTokenSource` (one refresh under the
connection's row lock). Disconnecting removes the app's connection to the
organisation (`DELETE /application-connections/self` on the OAuth host, with
the access token); there is no form-based revocation endpoint.
"""

from __future__ import annotations

import requests
from django.conf import settings

from connectors.oauth import OAuthClient, OAuthPlatform

SCOPES = ("READ:PURCHASE", "READ:FINANCE")
ACCESS_TOKEN_SECONDS = 7200


def oauth_url() -> str:
    return settings.ZETTLE_OAUTH_URL.rstrip("/")


def authorize_url() -> str:
    return f"{oauth_url()}/authorize"


def token_url() -> str:
    return f"{oauth_url()}/token"


def disconnect_url() -> str:
    return f"{oauth_url()}/application-connections/self"


def zettle_platform() -> OAuthPlatform:
    return OAuthPlatform(
        name="Zettle",
        authorize_url=authorize_url(),
        token_url=token_url(),
        revoke_url=disconnect_url(),
        client_id=settings.ZETTLE_CLIENT_ID,
        client_secret=settings.ZETTLE_CLIENT_SECRET,
        scopes=SCOPES,
    )


def zettle_oauth_client(session: requests.Session | None = None) -> OAuthClient:
    return OAuthClient(zettle_platform(), session=session)
