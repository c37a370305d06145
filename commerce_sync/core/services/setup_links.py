"""Single-use codes that let a merchant into the setup flow.

The partner API's sync-flow start URL (Codat's `get-sync-flow-url`) hands the
partner `<site>/setup/start/<code>`; the partner sends its merchant there. The
code is valid `SETUP_LINK_TTL` seconds (default 30, Codat's figure) and once:
the setup flow calls `setup_link_consume(code=...)`, which returns the
merchant or says why not. Only the code's sha256 is stored (`SetupLink`), so a
database read leaks no usable link.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, Partner, SetupLink
from commerce_sync.core.platforms import ACCOUNTING, COMMERCE, platform_get
from commerce_sync.core.services.audit import audit_log_write
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create, merchant_defaults

LOCALES = ("en-us", "fr-fr", "fr-ca")


def setup_code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedSetupLink:
    link: SetupLink
    code: str  # the plaintext, returned once, never stored


@transaction.atomic
def setup_link_issue(
    *,
    merchant: Merchant,
    actor: str,
    redirect_url: str = "",
    locale: str = "",
    now: datetime | None = None,
    stage: str = "",
    ttl_seconds: int | None = None,
) -> IssuedSetupLink:
    """A new single-use code for `merchant`, valid SETUP_LINK_TTL seconds
    (or `ttl_seconds`, e.g. for an invitation) from `now` (default: the
    current time), keeping `redirect_url` (where the flow sends the merchant
    at the end), `locale` and `stage` (an invitation to that stage alone)
    with it. Audited as `setup_link.issue` (never the code). Raises
    `ValidationError` for a redirect URL that is not http(s) or an unknown
    locale."""
    now = now or timezone.now()
    code = secrets.token_urlsafe(32)
    link = SetupLink(
        merchant=merchant,
        hashed_code=setup_code_hash(code),
        expires_at=now + timedelta(seconds=ttl_seconds or settings.SETUP_LINK_TTL),
        redirect_url=redirect_url,
        locale=locale,
        stage=stage,
        created_at=now,
    )
    if "\x00" in redirect_url:
        raise ValidationError({"redirect_url": "Enter a valid URL."})
    if locale and locale not in LOCALES:
        raise ValidationError({"locale": f"Use one of {', '.join(LOCALES)}."})
    link.full_clean()
    link.save()
    audit_log_write(
        actor=actor,
        action="setup_link.issue",
        obj=link,
        merchant=merchant,
        changes={"expires_at": link.expires_at.isoformat(), "locale": locale, "stage": stage},
    )
    return IssuedSetupLink(link=link, code=code)


class SetupLinkRefusal(Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True)
class SetupLinkConsumed:
    merchant: Merchant | None
    link: SetupLink | None
    refusal: SetupLinkRefusal | None

    @property
    def ok(self) -> bool:
        return self.refusal is None


@transaction.atomic
def setup_link_consume(*, code: str, now: datetime | None = None) -> SetupLinkConsumed:
    """Spend `code`: on success the merchant and the link (its `redirect_url`
    and `locale`) with `refusal` None, and the link marked used at `now`; else
    `refusal` says why (unknown, used, expired) and nothing changes. The row
    lock makes two concurrent uses of one code succeed at most once."""
    now = now or timezone.now()
    link = (
        SetupLink.objects.select_for_update()
        .select_related("merchant")
        .filter(hashed_code=setup_code_hash(code or ""))
        .first()
    )
    if link is None:
        return SetupLinkConsumed(None, None, SetupLinkRefusal.UNKNOWN)
    if link.used_at is not None:
        return SetupLinkConsumed(None, link, SetupLinkRefusal.USED)
    if now >= link.expires_at:
        return SetupLinkConsumed(None, link, SetupLinkRefusal.EXPIRED)
    link.used_at = now
    link.save(update_fields=["used_at"])
    audit_log_write(actor="merchant", action="setup_link.consume", obj=link, merchant=link.merchant)
    return SetupLinkConsumed(link.merchant, link, None)


class SyncFlowConflict(Exception):
    """Raised by `sync_flow_start` when the merchant already books into
    another accounting platform (one active accounting connection at most)."""


@transaction.atomic
def sync_flow_start(
    *,
    partner: Partner,
    commerce_key: str,
    accounting_key: str,
    merchant_identifier: str,
    actor: str,
    redirect_url: str = "",
    locale: str = "",
    now: datetime | None = None,
) -> tuple[Merchant, IssuedSetupLink]:
    """Codat's "start new sync flow": find the partner's merchant by
    `merchant_identifier` (its id, else its `external_id`), creating it if
    new (name and external id = the identifier, country/currency/time zone
    from `merchant_defaults`); make sure it has a commerce connection to
    `commerce_key` and an accounting connection to `accounting_key` (created
    PendingAuth when missing); issue a setup link.

    Raises `LookupError` for a key that is not an installed platform of that
    side, `SyncFlowConflict` when the merchant's active accounting connection
    is to another platform, `ValidationError` for bad values.
    """
    commerce = platform_get(commerce_key, source_type=COMMERCE)
    if commerce is None:
        raise LookupError(f"commerceKey {commerce_key!r} is not a commerce platform")
    accounting = platform_get(accounting_key, source_type=ACCOUNTING)
    if accounting is None:
        raise LookupError(f"accountingKey {accounting_key!r} is not an accounting platform")
    merchant = _merchant_by_identifier(partner=partner, identifier=merchant_identifier)
    if merchant is None:
        merchant = merchant_create(
            partner=partner,
            name=merchant_identifier[:200],
            external_id=merchant_identifier,
            actor=actor,
            **merchant_defaults(partner=partner),
        )
    active = Connection.objects.filter(merchant=merchant).exclude(status=Connection.Status.UNLINKED)
    if not active.filter(platform_key=commerce.key, source_type="commerce").exists():
        connection_create(
            merchant=merchant, platform_key=commerce.key, source_type="commerce", actor=actor
        )
    ledger = active.filter(source_type="accounting").first()
    if ledger is None:
        connection_create(
            merchant=merchant, platform_key=accounting.key, source_type="accounting", actor=actor
        )
    elif ledger.platform_key != accounting.key:
        raise SyncFlowConflict(
            f"This company already books into {ledger.platform_key}; unlink that connection first."
        )
    issued = setup_link_issue(
        merchant=merchant, actor=actor, redirect_url=redirect_url, locale=locale, now=now
    )
    return merchant, issued


def _merchant_by_identifier(*, partner: Partner, identifier: str) -> Merchant | None:
    merchants = Merchant.objects.filter(partner=partner)
    try:
        found = merchants.filter(pk=uuid.UUID(identifier)).first()
    except ValueError:
        found = None
    return found or merchants.filter(external_id=identifier).first()
