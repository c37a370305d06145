"""Attach an accounting connection from tokens already obtained elsewhere
(operators migrating merchants), without the browser flow.

    manage.py connect --merchant ID --platform xero --tokens-from tokens.json \\
        --tenant-id ... --bank-contact-id ...
    printf '{"access_token": "...", "refresh_token": "..."}' | \\
        manage.py connect --merchant ID --platform quickbooks --tokens-from - --realm-id ...
    manage.py connect --merchant ID --platform exact --tokens-from - --division ... \\
        --exact-host co.uk

The tokens are read from a file or from standard input (`--tokens-from -`),
as a JSON object with `access_token` and `refresh_token`: never from the
command line, where any local user reads them in /proc/<pid>/cmdline (the
old --access-token and --refresh-token options are refused). Xero needs the
contact its bank transactions carry (`--bank-contact-id`: the fees supplier,
on deposits such as refunded fees).

Each platform contributes a builder that turns the options into the
connection's credentials and (non-secret) settings; add a platform by adding
its builder and any options it needs. Tokens are never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from commerce_sync.core.management.commands._merchants import merchant_from_option
from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from commerce_sync.errors import ConfigurationError
from connectors.context import myob_company_file_check

Credentials = dict[str, Any]
Settings = dict[str, Any]


def _tokens(options: dict[str, Any]) -> Credentials:
    if options.get("access_token") or options.get("refresh_token"):
        raise CommandError(
            "Tokens on the command line are readable by any local user (/proc): "
            "put them in a file or pipe them in, and pass --tokens-from FILE (or -)"
        )
    source = options.get("tokens_from")
    if not source:
        raise CommandError(
            "--tokens-from FILE (or - for standard input) is required: a JSON object "
            'with "access_token" and "refresh_token"'
        )
    try:
        if source == "-":
            text = (options.get("stdin") or sys.stdin).read()
        else:
            text = Path(source).read_text(encoding="utf-8")
        tokens = json.loads(text)
    except OSError as error:
        raise CommandError(f"Cannot read the tokens from {source}: {error.strerror}") from None
    except ValueError:
        raise CommandError(f"The tokens in {source} are not a JSON object") from None
    if not isinstance(tokens, dict) or not all(
        isinstance(tokens.get(name), str) and tokens[name].strip()
        for name in ("access_token", "refresh_token")
    ):
        raise CommandError(
            f'The tokens in {source} need both "access_token" and "refresh_token" as text'
        )
    # The access token's age is unknown: mark it as expiring now so the first
    # call refreshes it (which also proves the refresh token works).
    return {
        "access_token": tokens["access_token"].strip(),
        "refresh_token": tokens["refresh_token"].strip(),
        "expires_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
    }


def _xero(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    if not options["tenant_id"]:
        raise CommandError("Xero needs --tenant-id (the organisation to book into)")
    if not options["bank_contact_id"]:
        raise CommandError(
            "Xero needs --bank-contact-id: the contact (e.g. the payment provider, the "
            "fees supplier) its bank transactions carry, deposits included"
        )
    return _tokens(options), {
        "tenant_id": options["tenant_id"],
        "bank_contact_id": options["bank_contact_id"],
    }


def _quickbooks(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    realm_id = (options.get("realm_id") or "").strip()
    if not realm_id.isdigit():
        raise CommandError("QuickBooks needs --realm-id (the company id, digits only)")
    return _tokens(options), {"realm_id": realm_id}


def _exact(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    from connectors.context import EXACT_HOSTS

    division = (options.get("division") or "").strip()
    if not division.isdigit():
        raise CommandError("Exact Online needs --division (the administration number, digits)")
    host = (options.get("exact_host") or "nl").strip()
    if host not in EXACT_HOSTS.values():
        hosts = ", ".join(sorted(set(EXACT_HOSTS.values())))
        raise CommandError(f"Exact Online's --exact-host is one of {hosts}")
    return _tokens(options), {"division": int(division), "host": host}


PLATFORMS: dict[str, Callable[[dict[str, Any]], tuple[Credentials, Settings]]] = {
    "xero": _xero,
    "quickbooks": _quickbooks,
    "exact": _exact,
}
# FreeAgent: one company per login, nothing to choose (its optional settings,
# e.g. transit_category, are set with the configuration).
PLATFORMS["freeagent"] = lambda options: (_tokens(options), {})


def _sage(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    business = (options.get("business_id") or "").strip()
    if not business:
        raise CommandError("Sage Accounting needs --business-id (the business to book into)")
    return _tokens(options), {"business_id": business}


PLATFORMS["sage"] = _sage


def _myob(options: dict[str, Any]) -> tuple[Credentials, Settings]:
    company_file = (options.get("company_file") or "").strip()
    if not company_file:
        raise CommandError("MYOB needs --company-file (the company file's id, a GUID)")
    try:
        company_file = myob_company_file_check(company_file)
    except ConfigurationError as error:
        raise CommandError(f"--company-file: {error.message}") from None
    return _tokens(options), {"company_file": company_file}


PLATFORMS["myob"] = _myob


class Command(BaseCommand):
    help = "Attach a linked accounting connection to a merchant from existing OAuth tokens."
    stealth_options = ("stdin",)  # tests pass a file object for standard input

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="merchant UUID or partner id")
        parser.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
        parser.add_argument(
            "--tokens-from",
            default="",
            help='file holding {"access_token": ..., "refresh_token": ...}; - for stdin',
        )
        # Refused with an explanation (tokens in argv are readable in /proc).
        parser.add_argument("--access-token", default="", help=argparse.SUPPRESS)
        parser.add_argument("--refresh-token", default="", help=argparse.SUPPRESS)
        parser.add_argument("--tenant-id", default="", help="Xero organisation id")
        parser.add_argument(
            "--bank-contact-id", default="", help="Xero contact id on bank transactions"
        )
        parser.add_argument("--realm-id", default="", help="QuickBooks company (realm) id")
        parser.add_argument("--division", default="", help="Exact Online administration number")
        parser.add_argument("--company-file", default="", help="MYOB company file id")
        parser.add_argument(
            "--exact-host", default="nl", help="Exact Online host: nl, be, co.uk, de, fr, es, com"
        )
        parser.add_argument("--business-id", default="", help="Sage Accounting business id")

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
