"""SumUp's OAuth 2 parameters (authorisation code; the exchange, refresh and
storage are `connectors.oauth`'s).

Vendor facts (`../shared/reference/sumup/openapi.json`,
`components.securitySchemes.oauth2`, and the folder's README): authorize at
`https://api.sumup.com/authorize`, token and refresh at
`https://api.sumup.com/token`; the scopes a sales sync needs are
`transactions.history` (the transaction history) and `payouts.read` (the
payouts list). Token lifetimes are read from each token response
(`expires_in`), never assumed. SumUp publishes no revocation endpoint, so
disconnecting forgets the tokens only (`SumUpOAuthClient.revoke` refuses).
"""

from __future__ import annotations

import requests
from django.conf import settings

from connectors.oauth import OAuthClient, OAuthPlatform

SCOPES = ("transactions.history", "payouts.read")


def sumup_platform() -> OAuthPlatform:
    base = settings.SUMUP_API_URL.rstrip("/")
    return OAuthPlatform(
        name="SumUp",
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        revoke_url="",  # none published
        client_id=settings.SUMUP_CLIENT_ID,
        client_secret=settings.SUMUP_CLIENT_SECRET,
        scopes=SCOPES,
    )


class SumUpOAuthClient(OAuthClient):
    """The shared client; SumUp has no revocation endpoint."""

    def revoke(self, refresh_token: str) -> None:
        raise NotImplementedError("SumUp publishes no token revocation endpoint")


def sumup_oauth_client(session: requests.Session | None = None) -> OAuthClient:
    return SumUpOAuthClient(sumup_platform(), session=session)
