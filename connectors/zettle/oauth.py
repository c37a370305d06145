"""Zettle's OAuth 2 parameters (authorisation code with PKCE).

Zettle access tokens last two hours (`expires_in` 7200) and each refresh
returns a new refresh token that replaces the old one, so refreshing must go
through the token source the core passes down (one refresh under the
connection's row lock). Disconnecting removes the app's connection to the
organisation (`DELETE /application-connections/self` on the OAuth host, with
the access token); there is no form-based revocation endpoint, so that is
`zettle_disconnect()`, and `ZettleOAuthClient.revoke` refuses to post a form.
"""

from __future__ import annotations

from http import HTTPStatus

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, PlatformUnavailable
from connectors.common import bearer_request
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
        revoke_url="",  # no form revocation: see zettle_disconnect()
        client_id=settings.ZETTLE_CLIENT_ID,
        client_secret=settings.ZETTLE_CLIENT_SECRET,
        scopes=SCOPES,
    )


def zettle_disconnect(
    access_token: str, *, session: requests.Session | None = None, timeout: float = 15.0
) -> None:
    """Remove the app's connection to the organisation. A 401 means Zettle no
    longer knows this token's grant: already disconnected, which is done too."""
    response = bearer_request(
        session or requests.Session(),
        "DELETE",
        disconnect_url(),
        platform="Zettle's sign-in service",
        bearer=access_token,
        timeout=timeout,
    )
    status = response.status_code
    if status < 300 or status == HTTPStatus.UNAUTHORIZED:
        return
    if status >= 500 or status == HTTPStatus.TOO_MANY_REQUESTS:
        raise PlatformUnavailable(f"Zettle's sign-in service failed ({status})")
    raise ConfigurationError(f"Zettle refused to disconnect this organisation ({status})")


class ZettleOAuthClient(OAuthClient):
    """The shared client, except that Zettle has no form revocation: it
    disconnects with the access token (`zettle_disconnect`), not a refresh token."""

    def revoke(self, refresh_token: str) -> None:
        raise NotImplementedError("Zettle disconnects with the access token: zettle_disconnect()")


def zettle_oauth_client(session: requests.Session | None = None) -> OAuthClient:
    return ZettleOAuthClient(zettle_platform(), session=session)
