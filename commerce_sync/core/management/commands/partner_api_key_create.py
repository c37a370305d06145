"""Issue an API key for a partner. The key is printed once, alone on the last
line (so `... | tail -n1` captures it), and only its hash is kept.

    manage.py partner_api_key_create --partner SLUG [--name NAME]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from commerce_sync.core.management.commands._partners import partner_from_option
from commerce_sync.core.services.partners import partner_api_key_create


class Command(BaseCommand):
    help = "Issue a partner API key; prints it once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="the partner's slug")
        parser.add_argument("--name", default="default", help="a label for the key")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = partner_from_option(options["partner"])
        name = options["name"].strip()[:100] or "default"
        key, plaintext = partner_api_key_create(
            partner=partner, name=name, actor="manage.py partner_api_key_create"
        )
        self.stdout.write(
            f"Created key {key.prefix}… ({key.name}) for {partner.slug}. "
            "Store it now: it is not shown again. Send it as Authorization: Basic "
            "<base64 of the key> or Bearer <key>."
        )
        self.stdout.write(plaintext)
