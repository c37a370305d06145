"""MYOB Business's OAuth 2 parameters and the setup flow's company-file choice.

Facts (../shared/reference/README.md, "MYOB Business API"; myob/sdk-contracts
`CompanyFile.cs`, `OAuthTokens.cs`):

* authorise at `https://secure.myob.com/oauth2/account/authorize`, exchange
  and refresh at `https://secure.myob.com/oauth2/v1/authorize`, the app's
  key and secret as form fields of the token request; the authorisation
  code lives 2 to 5 minutes. MYOB_OAUTH_URL replaces the host (a double).
* API keys made since 2025-03-12 must ask for granular `sme-…` scopes,
  older ones for `CompanyFile`: the scopes come from MYOB_SCOPES.
* The SDK refreshes a token 60 s before `expires_in`; the shared token
  source refreshes under the connection's row lock
  (`ConnectionTokenSource`) with that margin, so two workers never spend
  the same refresh token.
* MYOB publishes no revocation endpoint in this material: disconnecting
  forgets the tokens here.
* A grant reaches the user's company files: `GET <api>/accountright/`
  lists them (`CompanyFile`: `Id`, `Name`, `Uri`, …); every call after
  that names one (`MyobSettings.company_file`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, CredentialsRevoked, PlatformUnavailable
from connectors.common import bearer_request
from connectors.context import myob_company_file_check

PLATFORM_KEY = "myob"
REFRESH_MARGIN_SECONDS = 60.0


def myob_oauth_client(session: Any = None) -> Any:
    """The shared OAuth client configured for MYOB."""
    from connectors.oauth import OAuthClient, OAuthPlatform

    host = settings.MYOB_OAUTH_URL.rstrip("/")
    platform = OAuthPlatform(
        name="MYOB",
        authorize_url=f"{host}/oauth2/account/authorize",
        token_url=f"{host}/oauth2/v1/authorize",
        revoke_url="",
        client_id=settings.MYOB_CLIENT_ID,
        client_secret=settings.MYOB_CLIENT_SECRET,
        scopes=tuple(settings.MYOB_SCOPES.split()),
        credentials_in_body=True,
        refresh_margin_seconds=REFRESH_MARGIN_SECONDS,
    )
    return OAuthClient(platform, session=session)


@dataclass(frozen=True)
class CompanyFile:
    """A company file the grant reaches: `id` the GUID every URL carries."""

    id: str
    name: str


def myob_company_files(
    *, access_token: str, session: requests.Session | None = None
) -> list[CompanyFile]:
    """The company files the user behind `access_token` can open. Raises
    CredentialsRevoked (401) or PlatformUnavailable."""
    response = bearer_request(
        session or requests.Session(),
        "GET",
        settings.MYOB_API_URL.rstrip("/") + "/accountright/",
        platform="MYOB",
        bearer=access_token,
        timeout=15,
        headers={"x-myobapi-key": settings.MYOB_CLIENT_ID, "x-myobapi-version": "v2"},
    )
    if response.status_code == 401:
        raise CredentialsRevoked("MYOB refused the new authorisation; connect again")
    if response.status_code >= 400:
        raise PlatformUnavailable(f"MYOB could not list the company files ({response.status_code})")
    rows = response.json(parse_float=Decimal)
    files = []
    for row in rows or []:
        name = str(row.get("Name") or row.get("Id"))
        try:
            file_id = myob_company_file_check(row.get("Id"))
        except ConfigurationError:
            raise PlatformUnavailable(
                f"MYOB listed the company file {name} without a valid id; try again later"
            ) from None
        files.append(CompanyFile(file_id, name))
    return files


def myob_company_file_select(files: list[CompanyFile], file_id: str) -> CompanyFile:
    """The company file `file_id` (a GUID, any case) among those the grant
    reaches; ConfigurationError when it is not a GUID (naming it) or not
    one of them."""
    wanted = myob_company_file_check(file_id)
    for each in files:
        if each.id == wanted:
            return each
    raise ConfigurationError(f"MYOB company file {file_id} is not one this authorisation reaches")
