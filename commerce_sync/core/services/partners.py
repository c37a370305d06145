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
