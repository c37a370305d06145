"""Shopify's OAuth parameters.

Shopify's endpoints live on each shop's own domain, so they are built per
shop, and the shop domain a merchant types is checked against the
`*.myshopify.com` pattern first: it becomes part of URLs we call.

Offline tokens are asked for as expiring (`expiring=1`): the access token
lasts an hour and comes with a refresh token that rotates on every use, so the
new refresh token from each refresh must replace the old one. Shopify takes
the app's credentials in the form itself, so `ShopifyOAuthClient` sends
`refresh_form()` to the token endpoint (`SHOPIFY_TOKEN_URL_TEMPLATE`, the
shop's `/admin/oauth/access_token` unless pointed at a double).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlencode

from django.conf import settings

from commerce_sync.errors import ConfigurationError
from connectors.oauth import OAuthClient, OAuthPlatform, TokenSet

SCOPES = (
    "read_orders",
    "read_all_orders",  # orders older than 60 days, for backfills
    "read_shopify_payments_payouts",
    "read_locations",
    "read_products",
)
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_TOKEN_URL_TEMPLATE = "https://{shop}/admin/oauth/access_token"  # noqa: S105 - a URL
DEFAULT_AUTHORIZE_URL_TEMPLATE = "https://{shop}/admin/oauth/authorize"
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com$")


def shop_domain(value: str) -> str:
    """The canonical `name.myshopify.com` domain, or ConfigurationError."""
    shop = value.strip().lower().removeprefix("https://").rstrip("/")
    if not _SHOP.fullmatch(shop):
        raise ConfigurationError(f"{value!r} is not a myshopify.com shop domain")
    return shop


def authorize_url(shop: str) -> str:
    template = (
        getattr(settings, "SHOPIFY_AUTHORIZE_URL_TEMPLATE", "") or DEFAULT_AUTHORIZE_URL_TEMPLATE
    )
    return template.format(shop=shop_domain(shop))


def token_url(shop: str) -> str:
    template = getattr(settings, "SHOPIFY_TOKEN_URL_TEMPLATE", "") or DEFAULT_TOKEN_URL_TEMPLATE
    return template.format(shop=shop_domain(shop))


def shopify_platform(shop: str) -> OAuthPlatform:
    # Shopify has no revocation endpoint: a grant ends when the app is uninstalled.
    return OAuthPlatform(
        name="Shopify",
        authorize_url=authorize_url(shop),
        token_url=token_url(shop),
        revoke_url="",
        client_id=getattr(settings, "SHOPIFY_CLIENT_ID", ""),
        client_secret=getattr(settings, "SHOPIFY_CLIENT_SECRET", ""),
        scopes=SCOPES,
    )


class ShopifyOAuthClient(OAuthClient):
    """Refreshes with Shopify's form (app credentials, grant type and the
    current refresh token); the answer's new refresh token replaces the old.
    The code is exchanged with Shopify's own form (`code_exchange_form`:
    the app's credentials and the code, no grant type; Shopify has no PKCE)
    once the callback's state is the one issued and its HMAC signature is
    the app's (`callback_is_authentic`)."""

    def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        state: str,
        expected_state: str,
        params: dict[str, str] | None = None,
    ) -> TokenSet:
        signed = params is not None and callback_is_authentic(params, self.platform.client_secret)
        self._check_state(state, expected_state, authentic=signed)
        return self._token_request(
            code_exchange_form(
                client_id=self.platform.client_id,
                client_secret=self.platform.client_secret,
                code=code,
            )
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        return self._token_request(
            refresh_form(
                client_id=self.platform.client_id,
                client_secret=self.platform.client_secret,
                refresh_token=refresh_token,
            )
        )


def shopify_oauth_client(shop: str) -> ShopifyOAuthClient:
    return ShopifyOAuthClient(shopify_platform(shop))


def authorization_link(shop: str, *, client_id: str, redirect_uri: str, state: str) -> str:
    query = {"client_id": client_id, "scope": ",".join(SCOPES)}
    query |= {"redirect_uri": redirect_uri, "state": state}
    return f"{authorize_url(shop)}?{urlencode(query)}"


def code_exchange_form(*, client_id: str, client_secret: str, code: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "expiring": "1",  # ask for an expiring offline token with a refresh token
    }


def refresh_form(*, client_id: str, client_secret: str, refresh_token: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }


def callback_is_authentic(params: dict[str, str], client_secret: str) -> bool:
    """Shopify signs the callback's query string (minus `hmac`) with the app
    secret; anything unsigned or tampered with is refused."""
    received = params.get("hmac", "")
    message = "&".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature")
    )
    expected = hmac.new(client_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return bool(received) and hmac.compare_digest(received, expected)
