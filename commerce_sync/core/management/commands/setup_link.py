"""`manage.py setup_link --merchant ID [--locale fr-fr] [--base-url URL]`: print a
start URL of the merchant's setup flow (an operator's shortcut to what the
partner API's start endpoint hands out). The code inside is single-use and
valid SETUP_LINK_TTL seconds: open it at once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from commerce_sync.core.management.commands._merchants import merchant_from_option
from commerce_sync.core.services.setup_links import LOCALES, setup_link_issue


class Command(BaseCommand):
    help = "Print a single-use start URL of a merchant's setup flow."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="merchant UUID or partner id")
        parser.add_argument("--locale", default="", choices=["", *LOCALES])
        parser.add_argument("--redirect-url", default="", help="where the flow ends")
        parser.add_argument(
            "--base-url",
            default="",
            help="the server's root URL (default SITE_URL, else http://127.0.0.1:$PORT, 8000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = merchant_from_option(options["merchant"])
        try:
            issued = setup_link_issue(
                merchant=merchant,
                actor="manage.py setup_link",
                redirect_url=options["redirect_url"],
                locale=options["locale"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        base = options["base_url"] or settings.SITE_URL or settings.LOCAL_SITE_URL
        self.stderr.write(f"Valid for {settings.SETUP_LINK_TTL} s, once:")
        self.stdout.write(f"{base.rstrip('/')}/setup/start/{issued.code}")
