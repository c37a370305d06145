"""Revoke a partner's API key by its prefix (from partner_api_key_list); the
key is refused from then on. Revoking a revoked key changes nothing.

    manage.py partner_api_key_revoke --partner SLUG --prefix PREFIX
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from commerce_sync.core.management.commands._partners import partner_from_option
from commerce_sync.core.models import PartnerApiKey
from commerce_sync.core.services.partners import partner_api_key_revoke


class Command(BaseCommand):
    help = "Revoke a partner API key by its prefix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="the partner's slug")
        parser.add_argument("--prefix", required=True, help="the key's prefix (8 characters)")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = partner_from_option(options["partner"])
        key = PartnerApiKey.objects.filter(partner=partner, prefix=options["prefix"]).first()
        if key is None:
            raise CommandError(
                f"{partner.slug} has no key with the prefix {options['prefix']!r} "
                "(see partner_api_key_list)"
            )
        already = key.revoked_at is not None
        partner_api_key_revoke(key=key, actor="manage.py partner_api_key_revoke")
        self.stdout.write(
            f"Key {key.prefix}… ({key.name}) was already revoked."
            if already
            else f"Revoked key {key.prefix}… ({key.name}) of {partner.slug}."
        )
