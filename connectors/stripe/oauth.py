"""Stripe Connect OAuth for standard accounts: the merchant's existing
Stripe account grants our platform read-only access; we then read it with
the platform's own secret key and the `Stripe-Account` header, and keep no
token of the account's.

Vendor facts (Stripe Connect OAuth reference, docs.stripe.com/connect/oauth-reference;
the brief of issue 16):

* authorize: `GET https://connect.stripe.com/oauth/authorize` with
  `response_type=code`, `client_id` (the platform's `ca_...`), `scope`
  (`read_only` here), `state` and `redirect_uri`; Stripe sends the browser
  back with `code` and `state` (or `error`). No PKCE;
* token: `POST https://connect.stripe.com/oauth/token` with
  `grant_type=authorization_code` and `code`, authenticated with the
  platform's secret key (HTTP Basic, the key as user name). The answer
  names the account (`stripe_user_id`, `acct_...`) and carries an
  `access_token` / `refresh_token` of it, which are not kept: requests on
  the account's behalf use the platform key plus `Stripe-Account`;
* deauthorize: `POST https://connect.stripe.com/oauth/deauthorize` with
  `client_id` and `stripe_user_id`, platform key as above; afterwards the
  platform's calls for that account are refused.

Errors answer `{"error": "invalid_grant", "error_description": ...}`; only
the `error` code is ever kept (`OAuthClient._post`). The platform key never reaches a repr, a log
line or a message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings

from commerce_sync.errors import ConfigurationError, CredentialsRevoked, PlatformUnavailable
from connectors.oauth import AuthorizationRequest, OAuthClient, OAuthPlatform

SCOPE = "read_only"


@dataclass(frozen=True)
class ConnectGrant:
    """What a consent gave: the connected account, stored as the
    connection's only credential (no token of the account's is kept)."""

    account_id: str  # acct_...

    def as_credentials(self) -> dict[str, str]:
        return {"stripe_account": self.account_id}


def stripe_connect_platform() -> OAuthPlatform:
    base = str(settings.STRIPE_CONNECT_URL).rstrip("/")
    return OAuthPlatform(
        name="Stripe",
        authorize_url=f"{base}/oauth/authorize",
        token_url=f"{base}/oauth/token",
        revoke_url=f"{base}/oauth/deauthorize",
        client_id=settings.STRIPE_CONNECT_CLIENT_ID,
        client_secret=settings.STRIPE_SECRET_KEY,  # the platform's secret key
        scopes=(SCOPE,),
    )


class StripeConnectOAuthClient(OAuthClient):
    """Stripe Connect's flavour of the authorisation-code flow (no PKCE, no
    refresh: the grant lasts until deauthorised)."""

    def authorization_request(self, *, redirect_uri: str) -> AuthorizationRequest:
        if not self.platform.client_id or not self.platform.client_secret:
            raise ConfigurationError(
                "Stripe Connect is not set up on this server: set STRIPE_CONNECT_CLIENT_ID "
                "and STRIPE_SECRET_KEY, or give the connection a restricted key"
            )
        state = secrets.token_urlsafe(24)
        query = {
            "response_type": "code",
            "client_id": self.platform.client_id,
            "scope": SCOPE,
            "state": state,
            "redirect_uri": redirect_uri,
        }
        return AuthorizationRequest(
            url=f"{self.platform.authorize_url}?{urlencode(query)}", state=state, code_verifier=""
        )

    def exchange_code(  # type: ignore[override]
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        state: str,
        expected_state: str,
    ) -> ConnectGrant:
        """The account the merchant connected. `CredentialsRevoked` for a
        state we did not issue or a refused code."""
        self._check_state(state, expected_state)
        data = self._post(
            self.platform.token_url, {"grant_type": "authorization_code", "code": code}
        )
        account = data.get("stripe_user_id") if isinstance(data, dict) else None
        if not isinstance(account, str) or not account.startswith("acct_"):
            raise PlatformUnavailable("Stripe answered the token request without an account")
        if data.get("scope") not in (None, SCOPE):
            raise CredentialsRevoked(
                f"Stripe granted scope {data.get('scope')!r} where read_only was asked; connect again"
            )
        return ConnectGrant(account)

    def refresh(self, refresh_token: str) -> Any:
        raise NotImplementedError("a Stripe Connect grant has nothing to refresh")

    def deauthorize(self, account_id: str) -> None:
        """Ask Stripe to disconnect `account_id` from the platform (on unlink).
        Raises `CredentialsRevoked` (refused, e.g. already disconnected) or
        `PlatformUnavailable`."""
        self._post(
            self.platform.revoke_url,
            {"client_id": self.platform.client_id, "stripe_user_id": account_id},
        )

    def _client_auth(self) -> tuple[str, str]:
        return self.platform.client_secret, ""  # the platform key as the Basic user


def stripe_connect_oauth_client(
    session: requests.Session | None = None,
) -> StripeConnectOAuthClient:
    return StripeConnectOAuthClient(stripe_connect_platform(), session=session)
