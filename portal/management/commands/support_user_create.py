"""manage.py support_user_create --partner SLUG --username U --email E [--role admin]"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from commerce_sync.core.models import Partner
from commerce_sync.core.services.audit import SYSTEM
from portal.models import PartnerMembership
from portal.services import support_user_create


class Command(BaseCommand):
    help = (
        "Create a support user of a partner for the health portal and print the "
        "one-time link where they set their password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="the partner's slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--role",
            default=PartnerMembership.Role.SUPPORT,
            choices=PartnerMembership.Role.values,
            help="support (default) or admin (may invite more support users)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        partner = Partner.objects.filter(slug=options["partner"]).first()
        if partner is None:
            known = ", ".join(Partner.objects.order_by("slug").values_list("slug", flat=True))
            raise CommandError(
                f"No partner with slug {options['partner']!r} (known: {known or 'none'})."
            )
        try:
            invitation = support_user_create(
                partner=partner,
                username=options["username"],
                email=options["email"],
                role=options["role"],
                actor=SYSTEM,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Created {options['role']} user {options['username']} of {partner.slug}. "
            "Send them this one-time link to set their password:"
        )
        self.stdout.write(invitation.url)
