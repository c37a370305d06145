"""FreeAgent's OAuth 2 (API v2).

Endpoints (the Postman collection's auth block, ../shared/reference/freeagent):
authorise at `<api>/approve_app`, tokens at `<api>/token_endpoint`, the app
authenticated with HTTP Basic ("client_authentication": "header"), PKCE S256.
Each authorised user holds one access token and one refresh token; the
refresh answer may carry a new refresh token, which the core stores at once
under the connection's row lock (`ConnectionTokenSource`).

FreeAgent allows 5 token refreshes a minute per user (README facts): every
refresh first takes a slot from a limiter shared by all workers.

FreeAgent publishes no token revocation endpoint (the collection has none;
a user removes an app's access in FreeAgent's settings), so `revoke` does
nothing on the platform: disconnecting forgets the tokens here only.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from connectors.common import RateLimiter
from connectors.oauth import OAuthClient, OAuthPlatform, TokenSet

PLATFORM_KEY = "freeagent"


def freeagent_platform() -> OAuthPlatform:
    """FreeAgent's endpoints under `FREEAGENT_API_URL` (production or sandbox host)."""
    api = settings.FREEAGENT_API_URL.rstrip("/")
    return OAuthPlatform(
        name="FreeAgent",
        authorize_url=f"{api}/approve_app",
        token_url=f"{api}/token_endpoint",
        revoke_url="",
        client_id=settings.FREEAGENT_CLIENT_ID,
        client_secret=settings.FREEAGENT_CLIENT_SECRET,
        scopes=(),  # FreeAgent grants the authorising user's own access level
    )


class FreeAgentOAuthClient(OAuthClient):
    """`OAuthClient` that sends FreeAgent's required User-Agent, takes a
    refresh slot (`limiter`, key `limit_key`, 5 a minute) before each
    refresh, and revokes nothing (see the module docstring)."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        limit_key: str = "freeagent-refresh",
    ) -> None:
        session = session or requests.Session()
        session.headers["User-Agent"] = settings.FREEAGENT_USER_AGENT
        super().__init__(freeagent_platform(), session=session)
        self.limiter = limiter
        self.limit_key = limit_key

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new token set; waits for a refresh slot first. Raises
        `CredentialsRevoked` (grant gone), `PlatformUnavailable`, or
        `RateLimited` when no slot frees up in time."""
        if self.limiter is None:
            return super().refresh(refresh_token)
        self.limiter.acquire(self.limit_key)
        try:
            return super().refresh(refresh_token)
        finally:
            self.limiter.release(self.limit_key)

    def revoke(self, refresh_token: str) -> None:
        """Nothing to call: FreeAgent has no revocation endpoint."""
        return None


def refresh_limits() -> Any:
    """5 refreshes a minute per user (counted over 61 s, as the other limits)."""
    from connectors.limits import RateLimits

    return RateLimits(calls=5, window_seconds=61)


def freeagent_oauth_client(
    session: requests.Session | None = None, *, connection_id: str = ""
) -> FreeAgentOAuthClient:
    """The OAuth client for one FreeAgent connection (its refreshes counted
    under `freeagent-refresh:<connection id>`, shared by all workers)."""
    from connectors.limits import DatabaseRateLimiter

    return FreeAgentOAuthClient(
        session=session,
        limiter=DatabaseRateLimiter(refresh_limits()),
        limit_key=f"freeagent-refresh:{connection_id}",
    )
