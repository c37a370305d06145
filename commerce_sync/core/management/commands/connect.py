"""Attach an accounting connection from tokens already obtained elsewhere
(operators migrating merchants), without the browser flow.

    manage.py connect --merchant ID --platform xero \\
        --access-token ... --refresh-token ... --tenant-id ...
    manage.py connect --merchant ID --platform quickbooks \\
        --access-token ... --refresh-token ... --realm-id ...

Each platform contributes a builder that turns the options into the
connection's credentials and (non-secret) settings; add a platform by adding
its builder and any options it needs. Tokens are never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from commerce_sync.core.management.commands._merchants import merchant_from_option
from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create

Credentials = dict[str, Any]
Settings = dict[str, Any]


def _tokens(options: dict[str, Any]) -> Credentials:
    if not options["access_token"] or not options["refresh_token"]:
        raise CommandError("--access-token and --refresh-token are both required")
    # The access token's age is unknown: mark it as expiring now so the first
    # call refreshes it (which also proves the refresh token works).
    return {
        "access_token": options["access_token"],
        "refresh_token": options["refresh_token"],
        "expires_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
    }


def _xero(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    if not options["tenant_id"]:
        raise CommandError("Xero needs --tenant-id (the organisation to book into)")
    return _tokens(options), {"tenant_id": options["tenant_id"]}


def _quickbooks(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    realm_id = (options.get("realm_id") or "").strip()
    if not realm_id.isdigit():
        raise CommandError("QuickBooks needs --realm-id (the company id, digits only)")
    return _tokens(options), {"realm_id": realm_id}


PLATFORMS: dict[str, Callable[[dict[str, Any]], tuple[Credentials, Settings]]] = {
    "xero": _xero,
    "quickbooks": _quickbooks,
}


class Command(BaseCommand):
    help = "Attach a linked accounting connection to a merchant from existing OAuth tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="merchant UUID or partner id")
        parser.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
        parser.add_argument("--access-token", default="")
        parser.add_argument("--refresh-token", default="")
        parser.add_argument("--tenant-id", default="", help="Xero organisation id")
        parser.add_argument("--realm-id", default="", help="QuickBooks company (realm) id")

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = merchant_from_option(options["merchant"])
        platform = options["platform"]
        credentials, settings = PLATFORMS[platform](options)
        try:
            connection = connection_create(
                merchant=merchant,
                platform_key=platform,
                source_type=Connection.SourceType.ACCOUNTING,
                credentials=credentials,
                settings=settings,
                status=Connection.Status.LINKED,
                actor="manage.py connect",
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            f"Connected {merchant.name} to {platform} (connection {connection.pk}, "
            f"settings {settings})"
        )
