"""Sage Accounting's OAuth 2 parameters and the setup flow's business choice.

Facts, from Sage's authentication guide
(https://developer.sage.com/accounting/guides/authenticating/authentication/;
the part after "Renew an Access Token" was read from a copy of that page
kept in a public repository, the search corpus's copy of the page itself
stopping earlier):

* authorise at `https://www.sageone.com/oauth2/auth/central?filter=apiv3.1`
  with `client_id`, `response_type=code`, `redirect_uri` and optionally
  `scope` (`readonly` or `full_access`; we ask for `full_access`), `state`
  and PKCE `code_challenge` with `code_challenge_method=S256`;
* the authorisation code is single-use and expires after 60 seconds;
* token, refresh and code exchange at `https://oauth.accounting.sage.com/token`,
  a form with `client_id` and `client_secret` in the body
  (`credentials_in_body`), `grant_type` `authorization_code` or
  `refresh_token`; the answer has `expires_in` 300 (access tokens last five
  minutes) and `refresh_token_expires_in` 2678400 (31 days) and each
  refresh returns a new refresh token: the shared token source refreshes
  under the connection's row lock (`ConnectionTokenSource`), a minute before
  expiry, so two workers never spend the same refresh token; `invalid_grant`
  means the code or refresh token expired, was used or was revoked;
* revoke at `https://oauth.accounting.sage.com/revoke`, a form with
  `client_id`, `client_secret` and `token` (the refresh token), answered
  200 `{"success": "ok"}`; access tokens cannot be revoked and live out
  their five minutes. Unlinking a Sage connection revokes its refresh token
  (`commerce_sync.core.services.connections.REVOKERS`, audited as
  `connection.revoke`; a failed revocation never keeps the tokens: they are
  forgotten by the unlink first);
* `GET /businesses` (without `X-Business`) lists the businesses the user
  can open (https://developer.sage.com/accounting/guides/concepts/multi_business/).

Not verified against a Sage page: the shape of that list's items
(`{"$items": [{"id", "name"}]}`).
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
        revoke_url=settings.SAGE_REVOKE_URL,
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
