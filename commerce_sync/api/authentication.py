"""`Authorization: Bearer <partner API key>` for the partner API."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from commerce_sync.core.models import Partner
from commerce_sync.core.selectors import partner_get_by_api_key


class PartnerPrincipal:
    """The authenticated caller: a partner, not a Django user."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    def __str__(self) -> str:
        return f"partner:{self.partner.slug}"


class PartnerApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None  # DRF answers 401 with our WWW-Authenticate
        keyword, _, key = header.partition(" ")
        if keyword != self.keyword or not key.strip():
            raise exceptions.AuthenticationFailed("Send Authorization: Bearer <partner API key>.")
        partner = partner_get_by_api_key(plaintext=key.strip())
        if partner is None:  # unknown and revoked keys look the same from outside
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return PartnerPrincipal(partner), None

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
