"""`manage.py sync --merchant ID [--to DATE | --from DATE --to DATE]`."""

from __future__ import annotations

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from commerce_sync.core.management.commands._merchants import merchant_from_option
from commerce_sync.core.services.audit import operator_actor
from commerce_sync.core.services.syncs import sync_run_execute
from commerce_sync.errors import ApplicationError


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Sync one merchant to the latest due date, or over an explicit range of business days."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--merchant", required=True, help="merchant UUID or the partner's id")
        parser.add_argument("--from", dest="first", help="first business day of a historic range")
        parser.add_argument("--to", dest="until", help="end of the range (exclusive), YYYY-MM-DD")

    def handle(self, *args, **options) -> None:
        merchant = merchant_from_option(options["merchant"])
        first = _date(options["first"]) if options["first"] else None
        until = _date(options["until"]) if options["until"] else None
        if first is not None and until is None:
            raise CommandError("--from needs --to")
        try:
            run = sync_run_execute(
                merchant=merchant, first=first, until=until, actor=operator_actor("cli")
            )
        except ApplicationError as error:
            self.stdout.write(f"{merchant.name}: refused ({error.status_code}) {error.message}")
            sys.exit(1)
        if run is None:
            self.stdout.write(
                f"{merchant.name}: nothing due, already synced to the latest due date"
            )
            return
        counters = run.counters
        pushed = counters.get("push_items", {})
        line = (
            f"{merchant.name}: {run.status} ({run.status_code}) "
            f"{run.period_start:%Y-%m-%d %H:%M} to {run.period_end:%Y-%m-%d %H:%M} UTC, "
            f"{sum(counters.get('records_read', {}).values())} records read, "
            f"{counters.get('documents', 0)} documents, {pushed.get('written', 0)} written, "
            f"{pushed.get('failed', 0)} failed"
        )
        self.stdout.write(line)
        for message in run.messages:
            if message["level"] == "error":
                self.stdout.write(f"  error {message['code']}: {message['message']}")
        if run.status != run.Status.SUCCEEDED:
            sys.exit(1)
