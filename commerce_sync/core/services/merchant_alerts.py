"""The merchant's own alert settings (address, opt-out, language) and the
signed link that opens their page without a setup session.

The link carries a token made by `django.core.signing` (HMAC of SECRET_KEY,
salted for this use) holding the merchant's id and when it was made: it
opens that merchant's page only, and stops working after
`MERCHANT_ALERT_LINK_DAYS` days (30 by default; every alert email carries a
fresh one). Nothing is stored; a changed SECRET_KEY voids every link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing

from commerce_sync.core.models import Merchant
from commerce_sync.core.services.merchants import merchant_update

_SALT = "commerce_sync.merchant-alert-settings"


class AlertSettingsLinkInvalid(Exception):
    """The link is not one we made, or is for a merchant that no longer
    exists (`expired` False), or is older than MERCHANT_ALERT_LINK_DAYS
    (`expired` True). `str()` says which, for the merchant."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def alert_settings_token(merchant: Merchant) -> str:
    """A URL-safe token naming `merchant`, valid MERCHANT_ALERT_LINK_DAYS days."""
    return signing.dumps({"m": str(merchant.pk)}, salt=_SALT)


def alert_settings_url(merchant: Merchant) -> str:
    """The merchant's alert settings page: SITE_URL (blank: a bare path) +
    MERCHANT_SETTINGS_PATH (default /setup/alerts/) + a fresh token."""
    path = settings.MERCHANT_SETTINGS_PATH.rstrip("/") + "/"
    return f"{settings.SITE_URL}{path}{alert_settings_token(merchant)}"


def alert_settings_merchant(token: str) -> Merchant:
    """The merchant a token opens. Raises `AlertSettingsLinkInvalid`."""
    max_age = timedelta(days=settings.MERCHANT_ALERT_LINK_DAYS)
    try:
        data: Any = signing.loads(token, salt=_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise AlertSettingsLinkInvalid(
            "This link has expired: open the link in your latest alert email, or ask your "
            "provider's support for a new one.",
            expired=True,
        ) from None
    except signing.BadSignature:
        raise AlertSettingsLinkInvalid(
            "This link is not valid: copy the whole link from your alert email."
        ) from None
    merchant = Merchant.objects.select_related("partner").filter(pk=data.get("m")).first()
    if merchant is None:
        raise AlertSettingsLinkInvalid("This link is for an account that no longer exists.")
    return merchant


def merchant_alert_settings_update(
    *,
    merchant: Merchant,
    actor: str,
    alert_email: str | None = None,
    alerts_opt_out: bool | None = None,
    language: str | None = None,
) -> Merchant:
    """Change the given alert settings (None: unchanged) through
    `merchant_update` (audited `merchant.update`, validated: a malformed
    address or a language outside settings.LANGUAGES raises Django's
    `ValidationError` naming the field). Returns the saved merchant."""
    values = {
        name: value
        for name, value in (
            ("alert_email", alert_email.strip() if alert_email is not None else None),
            ("alerts_opt_out", alerts_opt_out),
            ("language", language),
        )
        if value is not None
    }
    return merchant_update(merchant=merchant, actor=actor, **values)
