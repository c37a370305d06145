"""List a partner's API keys: prefix, name, created, revoked (never a key).

manage.py partner_api_key_list --partner SLUG
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from commerce_sync.core.management.commands._partners import partner_from_option
from commerce_sync.core.models import PartnerApiKey


class Command(BaseCommand):
    help = "List a partner's API keys (prefix, name, created, revoked)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="the partner's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = partner_from_option(options["partner"])
        keys = PartnerApiKey.objects.filter(partner=partner).order_by("created_at", "id")
        self.stdout.write(f"{'prefix':<10}{'name':<24}{'created':<22}revoked")
        for key in keys:
            revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "-"
            self.stdout.write(
                f"{key.prefix:<10}{key.name[:23]:<24}{key.created_at:%Y-%m-%d %H:%M:%S}   {revoked}"
            )
