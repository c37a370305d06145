"""Shared by the operator commands: find a merchant by id or partner id."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from commerce_sync.core.models import Merchant


def merchant_from_option(value: str) -> Merchant:
    try:
        return Merchant.objects.select_related("sync_configuration").get(pk=uuid.UUID(value))
    except (ValueError, Merchant.DoesNotExist):
        pass
    found = list(
        Merchant.objects.select_related("sync_configuration").filter(external_id=value)[:2]
    )
    if len(found) == 1:
        return found[0]
    if found:
        raise CommandError(
            f"Several merchants have the partner id {value!r}; use the merchant's UUID"
        )
    raise CommandError(f"No merchant has the id {value!r} (give its UUID or the partner's own id)")
