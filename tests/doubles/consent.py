"""The vendors' consent screens as the doubles serve them to a browser.

OAuth 2's authorisation-code flow (RFC 6749 §4.1) with PKCE (RFC 7636,
S256): the merchant's browser arrives with `client_id`, `redirect_uri`,
`state` and a `code_challenge`; the screen asks to allow access (QuickBooks
also asks which company, and names it back as `realmId` on the callback, as
Intuit's consent screen does); allowing sends the browser back to the
redirect URI with a single-use `code` and the same `state`, denying with
`error=access_denied`. The token endpoint then redeems the code only with
the same redirect URI and a verifier whose S256 digest is the challenge.
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode

from tests import secrets_guard
from tests.doubles.http import JsonHandler, LocalServer


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ConsentScreen:
    """One platform's consent screen and its single-use codes.

    `companies` [(id, name)] adds a company picker whose choice comes back
    as `realmId`. `consents` records each authorisation request received."""

    def __init__(
        self,
        platform: str,
        *,
        companies: list[tuple[str, str]] | None = None,
        pkce: bool = True,
        extra: dict[str, str] | None = None,
        sign: Callable[[dict[str, str]], str] | None = None,
    ) -> None:
        self.platform = platform
        self.companies = companies or []
        self.pkce = pkce  # False: the vendor has no PKCE (Shopify) and ignores the challenge
        self.extra = extra or {}  # more parameters on the callback (Shopify's shop)
        self.sign = sign  # signs the callback's parameters (Shopify's hmac)
        self.consents: list[dict[str, str]] = []
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, redirect URI)
        self.lock = threading.Lock()

    def page(self, path: str, query: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """The answer to GET `path` (the authorise URL): the screen, or once
        the merchant decided, the redirect back (status, HTML, headers)."""
        decision = query.get("decision")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")) or not query.get("state"):
            return 400, "<p>Missing redirect_uri or state.</p>", {}
        if decision == "deny":
            answer = {"error": "access_denied", "state": query["state"]}
            return 302, "", {"Location": f"{redirect_uri}?{urlencode(answer)}"}
        if decision == "allow":
            return 302, "", {"Location": self.allow(query)}
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        picker = ""
        if self.companies:
            options = "".join(
                f'<option value="{html.escape(i)}">{html.escape(n)}</option>'
                for i, n in self.companies
            )
            picker = (
                '<p><label for="realm">Company</label> '
                f'<select id="realm" name="realmId">{options}</select></p>'
            )
        name = html.escape(self.platform)
        body = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}: '
            f"allow access</title></head><body><main><h1>Allow access to {name}?</h1>"
            f'<form method="get" action="{html.escape(path)}">{hidden}{picker}'
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Cancel</button>'
            "</form></main></body></html>"
        )
        return 200, body, {}

    def allow(self, query: dict[str, str]) -> str:
        """Where allowing sends the browser: the redirect URI with a new
        single-use code, the state, and the company chosen (`realmId`)."""
        with self.lock:
            self.consents.append(dict(query))
            code = f"{self.platform.lower()}-code-{len(self.consents)}"
            challenge = query.get("code_challenge", "") if self.pkce else ""
            self.codes[code] = (challenge, query.get("redirect_uri", ""))
        answer = {"code": code, "state": query.get("state", ""), **self.extra}
        if self.companies:
            answer["realmId"] = query.get("realmId") or self.companies[0][0]
        if self.sign is not None:
            answer["hmac"] = self.sign(answer)
        return f"{query.get('redirect_uri', '')}?{urlencode(answer)}"

    def redeem(self, *, code: str, verifier: str, redirect_uri: str | None) -> bool:
        """Whether the code grant is good (the code then spent): the same
        redirect URI (None: the vendor's exchange does not send it), and the
        verifier matching the challenge when one was sent."""
        with self.lock:
            challenge, expected_uri = self.codes.pop(code, ("", None))
        if expected_uri is None or (redirect_uri is not None and expected_uri != redirect_uri):
            return False
        return not challenge or (bool(verifier) and s256(verifier) == challenge)


def serve_page(
    handler: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str]
) -> None:
    payload = body.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


class IntuitOAuthDouble(LocalServer):
    """Intuit's OAuth host for QuickBooks: the consent screen with its
    company picker at `authorize_url`, the token endpoint at `token_url`
    (a form with HTTP Basic client credentials; `authorization_code` and
    `refresh_token` grants) and revocation at `revoke_url`. The access
    token issued is `access_token` (the QuickBooks double's)."""

    def __init__(
        self,
        *,
        access_token: str,
        companies: list[tuple[str, str]],
        client: tuple[str, str] = ("qbo-client", "qbo-secret"),
    ) -> None:
        self.screen = ConsentScreen("QuickBooks", companies=companies)
        self.access_token = access_token
        self.client = client
        self.refresh_token = "qbo-refresh-1"
        self.revoked: list[str] = []
        secrets_guard.register(client[1], self.refresh_token)
        super().__init__(self._handler(), poll_interval=0.05)

    @property
    def authorize_url(self) -> str:
        return self.url + "/connect/oauth2"

    @property
    def token_url(self) -> str:
        return self.url + "/oauth2/v1/tokens/bearer"

    @property
    def revoke_url(self) -> str:
        return self.url + "/oauth2/v1/tokens/revoke"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(":".join(self.client).encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            good = self.screen.redeem(
                code=form.get("code", ""),
                verifier=form.get("code_verifier", ""),
                redirect_uri=form.get("redirect_uri", ""),
            )
        elif grant == "refresh_token":
            good = form.get("refresh_token") == self.refresh_token
        else:
            return 400, {"error": "unsupported_grant_type"}
        if not good:
            return 400, {"error": "invalid_grant"}
        return 200, {
            "token_type": "bearer",
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": 3600,
            "x_refresh_token_expires_in": 8726400,
        }

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path != "/connect/oauth2":
                    self.reply(404, {"error": "not_found"})
                    return
                serve_page(self, *double.screen.page(parts.path, query))

            def do_POST(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                raw = self.read_body().decode()
                if parts.path == "/oauth2/v1/tokens/revoke":
                    double.revoked.append(raw)
                    self.reply(200, {})
                    return
                if parts.path != "/oauth2/v1/tokens/bearer":
                    self.reply(404, {"error": "not_found"})
                    return
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                status, body = double.token(form, self.headers.get("Authorization", ""))
                self.reply(status, body)

        return Handler


class RotatingTokens:
    """A double's token endpoint on its own host (mixin): the app's id and
    secret in the form (`client`), the `authorization_code` grant redeemed
    against the consent screen (`screen`, with its PKCE verifier) for the
    double's `token`, and the `refresh_token` grant taking the current
    refresh token only, each use replacing it ("<prefix>-refresh-0002", …)
    and issuing "<prefix>-access-0001", …. `refreshes` counts the good
    refreshes; `valid_tokens` the access tokens the API accepts."""

    def tokens_init(
        self, *, platform: str, prefix: str, token: str, client: tuple[str, str], expires_in: int
    ) -> None:
        self.screen = ConsentScreen(platform)
        self.client = client
        self.token = token
        self.valid_tokens = {token}
        self.token_prefix = prefix
        self.refresh_token = f"{prefix}-refresh-0001"
        self.refreshes = 0
        self.expires_in = expires_in
        self.token_lock = threading.Lock()
        secrets_guard.register(token, client[1], self.refresh_token)

    def oauth_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(status, answer) of the token endpoint for a posted `form`."""
        if (form.get("client_id"), form.get("client_secret")) != self.client:
            return 401, {"error": "invalid_client"}
        with self.token_lock:
            if form.get("grant_type") == "authorization_code":
                good = self.screen.redeem(
                    code=form.get("code", ""),
                    verifier=form.get("code_verifier", ""),
                    redirect_uri=form.get("redirect_uri", ""),
                )
                access = self.token
            elif form.get("grant_type") == "refresh_token":
                good = form.get("refresh_token") == self.refresh_token
                self.refreshes += good
                access = f"{self.token_prefix}-access-{self.refreshes:04d}"
                if good:
                    self.refresh_token = f"{self.token_prefix}-refresh-{self.refreshes + 1:04d}"
            else:
                return 400, {"error": "unsupported_grant_type"}
            if not good:
                return 400, {"error": "invalid_grant"}
            secrets_guard.register(access, self.refresh_token)
            self.valid_tokens.add(access)
            return 200, {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": str(self.expires_in),
                "refresh_token": self.refresh_token,
            }
