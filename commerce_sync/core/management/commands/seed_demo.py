"""`manage.py seed_demo`: the demo partner, admin and Demo Café (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from commerce_sync.core.services.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo partner, an admin user and the Demo Café merchant (sandbox POS -> Beancount)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=7, help="history to sync on first run")
        parser.add_argument("--orders-per-day", type=int, default=40)

    def handle(self, *args, **options) -> None:
        seed = demo_seed(
            days=options["days"],
            orders_per_day=options["orders_per_day"],
            write_password=True,
            opening_balances=True,
        )
        self.stdout.write(f"Merchant: {seed.merchant.name} ({seed.merchant.pk})")
        self.stdout.write(f"Ledger:   {seed.ledger_path}")
        if seed.admin_password:
            self.stdout.write(
                f"Admin:    user 'admin', password '{seed.admin_password}' (shown once)"
            )
        else:
            self.stdout.write("Admin:    user 'admin' (password shown when it was created)")
