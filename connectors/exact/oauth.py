"""Exact Online's OAuth 2 parameters and the setup flow's division choice.

Facts (../shared/reference/README.md, "Exact Online"):

* Every country has its own host, `https://start.exactonline.<tld>` with tld
  one of nl, be, co.uk, de, fr, es, com; the authorisation endpoint is
  `<host>/api/oauth2/auth`, the token endpoint `<host>/api/oauth2/token`, and
  the REST API `<host>/api/v1/<division>/...`. A connection keeps its tld in
  `ExactSettings.host`; the setting EXACT_BASE_URL replaces every host (a
  local double).
* Access tokens last 10 minutes and are renewed only in their last 30 s;
  refresh tokens rotate on every use. The shared token source refreshes
  under the connection's row lock (`ConnectionTokenSource`) with the margin
  `REFRESH_MARGIN_SECONDS` given here, so a token is renewed inside Exact's
  window and two workers never spend the same refresh token.
* The app's id and secret go in the token request's form.
* Exact publishes no token revocation endpoint: disconnecting forgets the
  tokens here (nothing is called at Exact).
* A grant reaches the user's administrations (divisions); `current/Me` names
  the one selected in Exact, `system/Divisions` lists those the user can open.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, CredentialsRevoked, PlatformUnavailable
from connectors.common import bearer_request

PLATFORM_KEY = "exact"
ACCESS_TOKEN_SECONDS = 600
# Renew with 25 s left: inside Exact's last-30-seconds window, with a few
# seconds for the refresh call itself.
REFRESH_MARGIN_SECONDS = 25.0


def exact_base_url(host: str) -> str:
    """The root URL for a connection on `host` (a tld such as "nl" or
    "co.uk"), without a trailing slash."""
    override = str(getattr(settings, "EXACT_BASE_URL", "") or "")
    return override.rstrip("/") if override else f"https://start.exactonline.{host}"


def exact_oauth_client(host: str = "nl", session: Any = None) -> Any:
    """The shared OAuth client configured for Exact Online on `host`."""
    from connectors.oauth import OAuthClient, OAuthPlatform

    base = exact_base_url(host)
    platform = OAuthPlatform(
        name="Exact Online",
        authorize_url=f"{base}/api/oauth2/auth",
        token_url=f"{base}/api/oauth2/token",
        revoke_url="",
        client_id=settings.EXACT_CLIENT_ID,
        client_secret=settings.EXACT_CLIENT_SECRET,
        credentials_in_body=True,
        refresh_margin_seconds=REFRESH_MARGIN_SECONDS,
    )
    return OAuthClient(platform, session=session)


@dataclass(frozen=True)
class Division:
    """An administration the grant reaches: `code` Exact's division number."""

    code: int
    name: str


def _get(url: str, access_token: str, session: requests.Session | None) -> Any:
    response = bearer_request(
        session or requests.Session(),
        "GET",
        url,
        platform="Exact Online",
        bearer=access_token,
        timeout=15,
    )
    if response.status_code == 401:
        raise CredentialsRevoked("Exact Online refused the new authorisation; connect again")
    if response.status_code >= 400:
        raise PlatformUnavailable(
            f"Exact Online could not list the administrations ({response.status_code})"
        )
    return response.json(parse_float=Decimal)


def exact_divisions(
    *, access_token: str, host: str, session: requests.Session | None = None
) -> list[Division]:
    """The administrations the user behind `access_token` can open, the one
    currently selected in Exact first. Raises CredentialsRevoked (401) or
    PlatformUnavailable."""
    base = exact_base_url(host)
    me = _get(f"{base}/api/v1/current/Me?$select=CurrentDivision", access_token, session)
    rows = (me.get("d") or {}).get("results") or []
    current = int(rows[0].get("CurrentDivision") or 0) if rows else 0
    if not current:
        raise ConfigurationError("Exact Online did not say which administration is open")
    url = f"{base}/api/v1/{current}/system/Divisions?$select=Code,Description"
    divisions: list[Division] = []
    while url:
        page = _get(url, access_token, session).get("d") or {}
        divisions += [
            Division(int(r["Code"]), str(r.get("Description") or r["Code"]))
            for r in page.get("results") or []
        ]
        url = str(page.get("__next") or "")
    divisions.sort(key=lambda d: (d.code != current, d.code))
    return divisions or [Division(current, str(current))]


def exact_division_select(divisions: list[Division], code: str) -> Division:
    """The division numbered `code` among those the grant reaches;
    ConfigurationError otherwise."""
    for division in divisions:
        if str(division.code) == str(code).strip():
            return division
    raise ConfigurationError(
        f"Exact Online administration {code} is not one this authorisation reaches"
    )
