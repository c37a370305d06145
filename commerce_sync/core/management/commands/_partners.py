"""Shared by the partner key commands: find a partner by slug."""

from __future__ import annotations

from django.core.management.base import CommandError

from commerce_sync.core.models import Partner


def partner_from_option(slug: str) -> Partner:
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        known = ", ".join(Partner.objects.order_by("slug").values_list("slug", flat=True)[:20])
        raise CommandError(f"No partner has the slug {slug!r} (known: {known or 'none'})")
    return partner
