"""Clover's v2 OAuth (authorisation code, expiring tokens).

Vendor facts (docs.clover.com "Generate OAuth expiring (access and refresh)
token", "Use refresh token to generate new expiring token", and
../shared/reference/README.md):

* consent: `GET {web host}/oauth/v2/authorize?client_id&redirect_uri&state`
  (plus `response_type=code`); Clover comes back to the redirect URI with
  `code`, `merchant_id` and the `state`;
* exchange: `POST {api host}/oauth/v2/token` with the JSON body
  `{"client_id", "client_secret", "code"}`;
* refresh: `POST {api host}/oauth/v2/refresh` with the JSON body
  `{"client_id", "refresh_token"}`;
* both answer `{"access_token", "access_token_expiration",
  "refresh_token", "refresh_token_expiration"}`, expirations in unix
  seconds. Lifetimes vary: they are read from each answer, never assumed
  (an answer without `access_token_expiration` is refused, not defaulted).
* refresh tokens are single use (spent by the refresh that replaces them)
  and Clover caps how many a merchant may hold: refreshes go through the
  core's `ConnectionTokenSource`, one at a time per connection under a row
  lock, so two workers never spend the same refresh token;
* no revocation endpoint is published: the merchant uninstalls the app.

Hosts are per region (`connectors.clover.regions`). The high-trust web flow
authenticates with the client secret; no PKCE challenge is sent (the
verifier the setup flow keeps is unused).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings

from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable
from connectors.clover.regions import api_url, web_url
from connectors.oauth import AuthorizationRequest, OAuthClient, OAuthPlatform, TokenSet


def clover_platform(region: str) -> OAuthPlatform:
    """The OAuth endpoints of `region` and the app's credentials."""
    return OAuthPlatform(
        name="Clover",
        authorize_url=f"{web_url(region)}/oauth/v2/authorize",
        token_url=f"{api_url(region)}/oauth/v2/token",
        revoke_url="",  # none published
        client_id=settings.CLOVER_CLIENT_ID,
        client_secret=settings.CLOVER_CLIENT_SECRET,
    )


def _expiry(data: dict[str, Any], key: str) -> datetime:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PlatformUnavailable(f"Clover answered the token request without a valid {key}")
    return datetime.fromtimestamp(value, UTC)


class CloverOAuthClient(OAuthClient):
    """`connectors.oauth.OAuthClient` speaking Clover's JSON token endpoints."""

    def __init__(
        self, region: str, *, session: requests.Session | None = None, timeout: float = 15.0
    ) -> None:
        super().__init__(clover_platform(region), session=session, timeout=timeout)
        self.region = region
        self.refresh_url = f"{api_url(region)}/oauth/v2/refresh"

    def __repr__(self) -> str:
        return f"CloverOAuthClient({self.region!r})"

    def authorization_request(self, *, redirect_uri: str) -> AuthorizationRequest:
        state = secrets.token_urlsafe(24)
        query = {
            "client_id": self.platform.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "state": state,
        }
        return AuthorizationRequest(
            url=f"{self.platform.authorize_url}?{urlencode(query)}",
            state=state,
            code_verifier=secrets.token_urlsafe(48),
        )

    def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        state: str,
        expected_state: str,
    ) -> TokenSet:
        self._check_state(state, expected_state)
        body = {
            "client_id": self.platform.client_id,
            "client_secret": self.platform.client_secret,
            "code": code,
        }
        return self._tokens(self._post_json(self.platform.token_url, body))

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new token pair; the refresh token given is spent (single use)."""
        body = {"client_id": self.platform.client_id, "refresh_token": refresh_token}
        return self._tokens(self._post_json(self.refresh_url, body))

    def revoke(self, refresh_token: str) -> None:
        raise NotImplementedError("Clover publishes no token revocation endpoint")

    @staticmethod
    def _tokens(data: Any) -> TokenSet:
        if not isinstance(data, dict) or not data.get("access_token"):
            raise PlatformUnavailable("Clover answered the token request without tokens")
        if not data.get("refresh_token"):
            raise PlatformUnavailable("Clover answered the token request without a refresh token")
        _expiry(data, "refresh_token_expiration")  # present and sane, else refused
        return TokenSet(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=_expiry(data, "access_token_expiration"),
        )

    def _post_json(self, url: str, body: dict[str, str]) -> Any:
        response = self._sign_in_answer(url, json=body)
        if response.status_code >= 400:
            # Only the status: the body could echo what we sent.
            raise CredentialsRevoked(
                f"Clover no longer accepts this connection's authorisation "
                f"({response.status_code}); the merchant needs to connect Clover again."
            )
        try:
            return response.json()
        except ValueError:
            raise PlatformUnavailable("Clover answered the token request without JSON") from None


def clover_oauth_client(region: str, session: requests.Session | None = None) -> CloverOAuthClient:
    return CloverOAuthClient(region, session=session)


def merchant_from_callback(params: Any) -> str:
    """The Clover merchant id the consent's callback names (`merchant_id`);
    `CredentialsRevoked` when it is missing or not letters and digits."""
    merchant = str(params.get("merchant_id") or "")
    if not merchant or not merchant.isalnum() or len(merchant) > 32:
        raise CredentialsRevoked(
            "Clover's answer names no merchant; connect Clover again from the merchant's account."
        )
    return merchant
