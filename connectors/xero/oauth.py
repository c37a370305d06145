"""Xero's OAuth 2 endpoints and tenant selection.

The token and revocation endpoints live on the identity host; the list of
tenants a grant reaches (`/connections`) lives on the API host.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, CredentialsRevoked, PlatformUnavailable
from connectors.common import bearer_request
from connectors.oauth import OAuthClient, OAuthPlatform

# offline_access is what yields a refresh token. Apps created since March 2026
# ask for granular accounting scopes instead of accounting.transactions.
SCOPES = (
    "offline_access",
    "accounting.settings",
    "accounting.contacts",
    "accounting.invoices",
    "accounting.payments",
    "accounting.manualjournals",
    "accounting.banktransactions",
)


def xero_platform() -> OAuthPlatform:
    identity = settings.XERO_IDENTITY_URL.rstrip("/")
    return OAuthPlatform(
        name="Xero",
        authorize_url=settings.XERO_AUTHORIZE_URL,
        token_url=f"{identity}/connect/token",
        revoke_url=f"{identity}/connect/revocation",
        client_id=settings.XERO_CLIENT_ID,
        client_secret=settings.XERO_CLIENT_SECRET,
        scopes=SCOPES,
    )


def xero_oauth_client(session: requests.Session | None = None) -> OAuthClient:
    return OAuthClient(xero_platform(), session=session)


@dataclass(frozen=True)
class XeroTenant:
    tenant_id: str
    name: str
    tenant_type: str


def connections_url() -> str:
    parts = urlsplit(settings.XERO_API_URL)
    return f"{parts.scheme}://{parts.netloc}/connections"


def xero_tenants(*, access_token: str, session: requests.Session | None = None) -> list[XeroTenant]:
    """The organisations this grant can reach (after the consent screen)."""
    response = bearer_request(
        session or requests.Session(),
        "GET",
        connections_url(),
        platform="Xero",
        bearer=access_token,
        timeout=15,
    )
    if response.status_code == 401:
        raise CredentialsRevoked("Xero refused this connection's authorisation; connect again.")
    if response.status_code >= 400:
        raise PlatformUnavailable(f"Xero could not list its organisations ({response.status_code})")
    return [
        XeroTenant(
            tenant_id=t["tenantId"], name=t.get("tenantName", ""), tenant_type=t["tenantType"]
        )
        for t in response.json()
    ]


def xero_tenant_select(tenants: list[XeroTenant], tenant_id: str | None = None) -> XeroTenant:
    """The organisation to book into: the one asked for, or the only one."""
    organisations = [t for t in tenants if t.tenant_type == "ORGANISATION"]
    if tenant_id is not None:
        for tenant in organisations:
            if tenant.tenant_id == tenant_id:
                return tenant
        raise ConfigurationError(f"This Xero authorisation does not reach organisation {tenant_id}")
    if len(organisations) != 1:
        raise ConfigurationError(
            f"This Xero authorisation reaches {len(organisations)} organisations; choose one"
        )
    return organisations[0]
