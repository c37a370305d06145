from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from commerce_sync.core.keys import PREFIX_LENGTH, api_key_generate, api_key_hash
from commerce_sync.core.models import Partner, PartnerApiKey
from commerce_sync.core.services.audit import SYSTEM, audit_log_write


@transaction.atomic
def partner_create(
    *, name: str, slug: str, branding: dict[str, Any] | None = None, actor: str = SYSTEM
) -> Partner:
    partner = Partner(name=name, slug=slug, branding=branding or {})
    partner.full_clean()
    partner.save()
    audit_log_write(
        actor=actor, action="partner.create", obj=partner, changes={"name": name, "slug": slug}
    )
    return partner


@transaction.atomic
def partner_api_key_create(
    *, partner: Partner, name: str, actor: str = SYSTEM
) -> tuple[PartnerApiKey, str]:
    """Issue a key. The plaintext is returned once and never stored."""
    plaintext = api_key_generate()
    while PartnerApiKey.objects.filter(prefix=plaintext[:PREFIX_LENGTH]).exists():
        plaintext = api_key_generate()  # a 48-bit prefix collision: vanishingly rare
    key = PartnerApiKey.objects.create(
        partner=partner,
        name=name,
        prefix=plaintext[:PREFIX_LENGTH],
        hashed_key=api_key_hash(plaintext),
    )
    audit_log_write(
        actor=actor,
        action="partner_api_key.create",
        obj=key,
        changes={"name": name, "prefix": key.prefix},
    )
    return key, plaintext


@transaction.atomic
def partner_api_key_revoke(*, key: PartnerApiKey, actor: str) -> PartnerApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log_write(actor=actor, action="partner_api_key.revoke", obj=key)
    return key


@transaction.atomic
def partner_alerts_set(
    *, partner: Partner, alert_emails: list[str], alert_after_failing_days: int, actor: str
) -> Partner:
    """Set where `partner`'s support team is alerted (`alert_emails`, a list
    of addresses) and after how many failing days in a row a failing sync
    alerts (1-31); audited as `partner.alerts` with the values before and
    after. Raises ValidationError naming the field (nothing saved) for a
    malformed address or a threshold out of range."""
    before = {"alert_emails": partner.alert_emails, "after": partner.alert_after_failing_days}
    partner.alert_emails = alert_emails
    partner.alert_after_failing_days = alert_after_failing_days
    partner.full_clean(exclude=["name", "slug", "branding"])
    partner.save(update_fields=["alert_emails", "alert_after_failing_days"])
    audit_log_write(
        actor=actor,
        action="partner.alerts",
        obj=partner,
        changes={
            "from": before,
            "to": {"alert_emails": alert_emails, "after": alert_after_failing_days},
        },
    )
    return partner
