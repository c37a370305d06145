"""Lightspeed K-Series OAuth 2 parameters (authorisation code; the exchange,
refresh and storage are `connectors.oauth`'s and the core's).

Vendor facts (`../shared/reference/README.md`, K-Series): authorize at
`/oauth/authorize` and exchange or refresh at `/oauth/token` on the API host
the app is bound to (production or trial, chosen per connection); the scope a
sales sync needs is `financial-api`. Access tokens last 60 minutes; refresh
tokens last 14 days and are single-use, so every refresh stores the new pair
(under the core's row lock, `ConnectionTokenSource`). `expires_in` is read
from each token response when it is given; when it is missing, the documented
60 minutes are assumed. `refresh_expires_in` (V2 clients) is not stored: a
connection that goes unsynced for longer than its refresh token lives gets
`invalid_grant` on its next refresh and becomes Deauthorized with an alert.
No revocation endpoint is listed, so disconnecting forgets the tokens only.
"""

from __future__ import annotations

import requests
from django.conf import settings

from connectors.oauth import OAuthClient, OAuthPlatform

SCOPES = ("financial-api",)
ACCESS_TOKEN_SECONDS = 3600  # documented lifetime, used only when expires_in is absent
ENVIRONMENTS = ("production", "trial")


def api_url(environment: str) -> str:
    """The API host of a connection's environment ("production" or "trial"),
    from `LIGHTSPEED_K_API_URL` / `LIGHTSPEED_K_TRIAL_API_URL`."""
    if environment == "trial":
        return str(settings.LIGHTSPEED_K_TRIAL_API_URL).rstrip("/")
    if environment == "production":
        return str(settings.LIGHTSPEED_K_API_URL).rstrip("/")
    raise ValueError(f"unknown Lightspeed environment {environment!r}")


def lightspeed_k_platform(environment: str = "production") -> OAuthPlatform:
    base = api_url(environment)
    return OAuthPlatform(
        name="Lightspeed",
        authorize_url=f"{base}/oauth/authorize",
        token_url=f"{base}/oauth/token",
        revoke_url="",  # none listed
        client_id=settings.LIGHTSPEED_K_CLIENT_ID,
        client_secret=settings.LIGHTSPEED_K_CLIENT_SECRET,
        scopes=SCOPES,
        default_lifetime_seconds=ACCESS_TOKEN_SECONDS,
    )


class LightspeedKOAuthClient(OAuthClient):
    """The shared client (the K-Series default lifetime is its platform's
    `default_lifetime_seconds`), with no revocation."""

    def revoke(self, refresh_token: str) -> None:
        raise NotImplementedError("Lightspeed K-Series lists no token revocation endpoint")


def lightspeed_k_oauth_client(
    environment: str = "production", session: requests.Session | None = None
) -> OAuthClient:
    return LightspeedKOAuthClient(lightspeed_k_platform(environment), session=session)
