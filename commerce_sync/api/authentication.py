"""Partner API authentication: the partner's API key, sent as Codat's clients
send it or as a bearer token.

* `Authorization: Basic <base64(API key)>`: what Codat's SDKs and examples
  send (Codat's OpenAPI description, `securitySchemes.auth_header`). A value
  that is not valid base64, or whose decoding is not a key, is refused.
* `Authorization: Bearer <API key>`.

Keys are per partner, several at once (rotation), stored hashed
(`PartnerApiKey`), revocable; unknown and revoked keys are refused alike. An accepted key is
remembered by the process for `PARTNER_API_KEY_CACHE_SECONDS` (default 10):
a key revoked elsewhere is refused at most that long after its revocation
(at once in the process that revoked it).

Failed keys are limited per client address (`REMOTE_ADDR`; behind a proxy,
the proxy must set it from the client's): after `PARTNER_API_FAILED_AUTH_RATE`
(default "10/min") wrong or malformed keys, that address gets 429 with
`Retry-After` for every key it sends that this process does not already
remember as good, right or wrong, until the budget refills: guessing keys is
then as slow as the rate. Other addresses, and keys that work, are never
counted.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from commerce_sync.core.models import Partner
from commerce_sync.core.selectors import partner_get_by_api_key_cached
from commerce_sync.core.services.rate_limits import (
    rate_limit_peek,
    rate_limit_take,
    rate_parse,
    retry_after_header,
)

SCHEMES = ("Basic", "Bearer")


class PartnerPrincipal:
    """The authenticated caller: a partner, not a Django user."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    def __str__(self) -> str:
        return f"partner:{self.partner.slug}"


def api_key_from_header(header: str) -> str:
    """The API key in an `Authorization` header value (see the module
    docstring). Raises `AuthenticationFailed` naming what to send when the
    scheme is unknown or the value is empty or not base64 for Basic."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() not in {s.lower() for s in SCHEMES} or not value:
        raise exceptions.AuthenticationFailed(
            "Send Authorization: Basic <base64 of your API key> or Bearer <API key>."
        )
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(
                "The Basic credentials are not base64: send Basic <base64 of your API key>."
            ) from None
        # Some clients send base64("key:") as for a user name and empty password.
        return decoded[:-1] if decoded.endswith(":") else decoded
    return value


class PartnerApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication for every partner API view: `request.user` becomes
    a `PartnerPrincipal`. No header: None (DRF answers 401)."""

    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        limit_key = f"auth-failed:{request.META.get('REMOTE_ADDR', '')}"
        rate = rate_parse(settings.PARTNER_API_FAILED_AUTH_RATE)

        def refuse_a_spent_address() -> None:
            # Only for keys this process does not remember as good: a guess
            # is looked at only while the address has failures left.
            spent = rate_limit_peek(key=limit_key, rate=rate)
            if not spent.allowed:
                raise exceptions.Throttled(
                    wait=retry_after_header(spent),
                    detail="Too many wrong API keys from this address; try again later.",
                )

        try:
            key = api_key_from_header(header)
            partner = partner_get_by_api_key_cached(
                plaintext=key, before_lookup=refuse_a_spent_address
            )
            if partner is None:  # unknown and revoked keys look the same from outside
                raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        except exceptions.AuthenticationFailed:
            rate_limit_take(key=limit_key, rate=rate)
            raise
        return PartnerPrincipal(partner), None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="api"'


class PartnerApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI description names the scheme: Codat's `auth_header`."""

    target_class = "commerce_sync.api.authentication.PartnerApiKeyAuthentication"
    name = "auth_header"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Basic <base64 of your API key>, or Bearer <API key>.",
        }
