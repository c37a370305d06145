"""Sage Accounting's OAuth 2 parameters and the setup flow's business choice.

Facts (../shared/reference/README.md, "Sage Business Cloud Accounting v3.1"):

* authorise at `https://www.sageone.com/oauth2/auth/central?filter=apiv3.1`,
  token and refresh at `https://oauth.accounting.sage.com/token`
  (Sage/sageone_api_csharp_sample, which sends the app's id and secret in
  the token request's form); the authorisation code lives 60 s and is
  single-use;
* access tokens last 5 minutes and refresh tokens rotate on every use and
  die after 31 days (third-party summaries): the shared token source
  refreshes under the connection's row lock (`ConnectionTokenSource`), a
  minute before expiry, so two workers never spend the same refresh token.

Not verified against Sage's published spec: the scope `full_access`, and
`GET /businesses` (without `X-Business`) listing the businesses the user
can open (`{"$items": [{"id", "name"}]}`). No revocation endpoint is in the
reference material: disconnecting forgets the tokens here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, CredentialsRevoked, PlatformUnavailable

PLATFORM_KEY = "sage"
ACCESS_TOKEN_SECONDS = 300
REFRESH_MARGIN_SECONDS = 60.0


def sage_oauth_client(session: Any = None) -> Any:
    """The shared OAuth client configured for Sage Accounting."""
    from connectors.oauth import OAuthClient, OAuthPlatform

    platform = OAuthPlatform(
        name="Sage Accounting",
        authorize_url=settings.SAGE_AUTHORIZE_URL,
        token_url=settings.SAGE_TOKEN_URL,
        revoke_url="",
        client_id=settings.SAGE_CLIENT_ID,
        client_secret=settings.SAGE_CLIENT_SECRET,
        scopes=("full_access",),
        credentials_in_body=True,
        refresh_margin_seconds=REFRESH_MARGIN_SECONDS,
    )
    return OAuthClient(platform, session=session)


@dataclass(frozen=True)
class Business:
    """A business the grant reaches: `id` Sage's business id (`X-Business`)."""

    id: str
    name: str


def sage_businesses(
    *, access_token: str, session: requests.Session | None = None
) -> list[Business]:
    """The businesses the user behind `access_token` can open, by name.
    Raises CredentialsRevoked (401) or PlatformUnavailable."""
    http = session or requests.Session()
    url = f"{settings.SAGE_API_URL.rstrip('/')}/businesses"
    found: list[Business] = []
    while url:
        try:
            response = http.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=15,
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise PlatformUnavailable(
                f"Sage Accounting did not answer ({type(error).__name__})"
            ) from None
        if response.status_code == 401:
            raise CredentialsRevoked("Sage Accounting refused the new authorisation; connect again")
        if response.status_code >= 400:
            raise PlatformUnavailable(
                f"Sage Accounting could not list the businesses ({response.status_code})"
            )
        page = response.json(parse_float=Decimal)
        found += [Business(str(b["id"]), str(b.get("name") or b["id"])) for b in page["$items"]]
        following = str(page.get("$next") or "")
        if following and not following.startswith("http"):
            following = f"{settings.SAGE_API_URL.rstrip('/')}/{following.lstrip('/')}"
        url = following
    return sorted(found, key=lambda b: (b.name.lower(), b.id))


def sage_business_select(businesses: list[Business], business_id: str) -> Business:
    """The business `business_id` among those the grant reaches;
    ConfigurationError otherwise."""
    for business in businesses:
        if business.id == business_id.strip():
            return business
    raise ConfigurationError(
        "That Sage Accounting business is not one this authorisation reaches: "
        "choose one of those listed"
    )
