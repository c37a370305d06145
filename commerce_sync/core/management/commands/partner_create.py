"""Create a partner (audited, through `partner_create`).

manage.py partner_create --name NAME --slug SLUG [--alert-email ADDRESS ...]
    [--alert-after-failing-days N]

Prints the partner's slug; then issue it an API key with
`manage.py partner_api_key_create --partner SLUG`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from commerce_sync.core.services.partners import partner_create


def _problems(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"--{field.replace('_', '-')}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Create a partner (a company embedding Commerce Sync)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="the partner's display name")
        parser.add_argument(
            "--slug",
            required=True,
            help="its short id: letters, digits, - and _ (the API's clientId)",
        )
        parser.add_argument(
            "--alert-email",
            action="append",
            default=[],
            dest="alert_emails",
            metavar="ADDRESS",
            help="a support team address for alerts and the daily digest (repeatable)",
        )
        parser.add_argument(
            "--alert-after-failing-days",
            type=int,
            default=1,
            help="alert on a failing sync after this many failing days (1-31, default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name, slug = options["name"].strip(), options["slug"].strip()
        if not name:
            raise CommandError("--name is empty: give the partner's display name")
        try:
            with transaction.atomic():
                partner = partner_create(name=name, slug=slug, actor="cli")
                partner.alert_emails = options["alert_emails"]
                partner.alert_after_failing_days = options["alert_after_failing_days"]
                partner.full_clean()
                partner.save(update_fields=["alert_emails", "alert_after_failing_days"])
        except ValidationError as error:
            raise CommandError(f"Partner not created: {_problems(error)}") from None
        self.stderr.write(
            f"Created partner {partner.name!r}. Issue it an API key with: "
            f"manage.py partner_api_key_create --partner {partner.slug}"
        )
        self.stdout.write(partner.slug)
