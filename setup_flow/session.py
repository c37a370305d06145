"""The merchant's session in the setup flow.

Opening a start URL spends its single-use code and starts a fresh Django
session (a new random key in a cookie that is HttpOnly, SameSite=Lax and
Secure outside DEBUG, per settings) bound to ONE merchant: every page reads
the merchant from here and nowhere else, so no URL can name another
merchant. The session expires `SETUP_SESSION_SECONDS` after it starts.

Keys (all under "setup."): merchant (its UUID as text), expires (epoch
seconds), locale, redirect, draft (the configuration being built:
{"document", "schedule"}), stage (an invitee's only stage), oauth (state, PKCE verifier and connection id
between the redirect and the callback).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from commerce_sync.core.models import Merchant, SetupLink
from commerce_sync.core.selectors import merchant_get

LOCALES = ("en-us", "fr-fr", "fr-ca")
KEY = "setup."


def session_seconds() -> int:
    return int(getattr(settings, "SETUP_SESSION_SECONDS", 7200))


def flow_begin(request: HttpRequest, *, merchant: Merchant, link: SetupLink | None) -> None:
    """Replace whatever the browser's session held by a session for `merchant`."""
    request.session.flush()  # a new key: nothing of an earlier merchant survives
    request.session.set_expiry(session_seconds())
    request.session[KEY + "merchant"] = str(merchant.pk)
    request.session[KEY + "expires"] = int(time.time()) + session_seconds()
    locale = link.locale if link is not None and link.locale else ""
    request.session[KEY + "locale"] = locale if locale in LOCALES else locale_default(request)
    request.session[KEY + "redirect"] = link.redirect_url if link is not None else ""
    # An invitation: this session sees that one stage and nothing else.
    request.session[KEY + "stage"] = link.stage if link is not None else ""


def locale_default(request: HttpRequest) -> str:
    """From the browser's Accept-Language: French if it prefers it."""
    accepted = request.headers.get("Accept-Language", "").lower()
    if accepted.startswith("fr-ca"):
        return "fr-ca"
    return "fr-fr" if accepted.startswith("fr") else "en-us"


def flow_merchant(request: HttpRequest) -> Merchant | None:
    """The session's merchant, or None (no session, expired, merchant gone)."""
    merchant_id = request.session.get(KEY + "merchant")
    expires = request.session.get(KEY + "expires", 0)
    if not merchant_id or int(time.time()) >= int(expires):
        return None
    return merchant_get(merchant_id=merchant_id)


def get(request: HttpRequest, name: str, default: Any = None) -> Any:
    return request.session.get(KEY + name, default)


def put(request: HttpRequest, name: str, value: Any) -> None:
    request.session[KEY + name] = value


def pop(request: HttpRequest, name: str) -> Any:
    return request.session.pop(KEY + name, None)
