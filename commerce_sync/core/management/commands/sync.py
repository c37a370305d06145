"""`manage.py sync --merchant ID [--to DATE | --from DATE --to DATE]`.

Dates are business days, both named days included: `--from 2026-11-01 --to
2026-11-03` syncs three days; `--to 2026-11-03` alone syncs up to the end of
that day (or the latest due date, whichever is earlier).

Prints one line per merchant (and per chunk of a long backfill); exits
non-zero when any sync failed or was refused.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from commerce_sync.core.management.commands._merchants import merchant_from_option
from commerce_sync.core.management.progress import Progress
from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.services.audit import operator_actor
from commerce_sync.errors import ApplicationError
from commerce_sync.syncs.periods import historic_range_check, merchant_period_between
from commerce_sync.syncs.runs import sync_run_execute


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


_positive.__name__ = "positive whole number"  # argparse names the type in its one-line error


def outcome_line(merchant: Merchant, run: SyncRun) -> str:
    counters = run.counters
    pushed = counters.get("push_items", {})
    return (
        f"{merchant.name}: {run.status} ({run.status_code}) "
        f"{run.period_start:%Y-%m-%d %H:%M} to {run.period_end:%Y-%m-%d %H:%M} UTC, "
        f"{sum(counters.get('records_read', {}).values())} records read, "
        f"{counters.get('documents', 0)} documents, {pushed.get('written', 0)} written, "
        f"{pushed.get('failed', 0)} failed"
    )


class Command(BaseCommand):
    help = "Sync merchants to the latest due date, or over an explicit range of business days."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--merchant",
            action="append",
            default=[],
            help="merchant UUID or the partner's id (repeatable)",
        )
        parser.add_argument("--all", action="store_true", help="every enabled, configured merchant")
        parser.add_argument("--from", dest="first", help="first business day of a historic range")
        parser.add_argument(
            "--to", dest="until", help="last business day to sync (included), YYYY-MM-DD"
        )
        parser.add_argument(
            "--chunk-days",
            type=_positive,
            default=7,
            help="a historic range is synced this many days per run",
        )

    def handle(self, *args, **options) -> None:
        first = _date(options["first"]) if options["first"] else None
        last = _date(options["until"]) if options["until"] else None
        if first is not None and last is None:
            raise CommandError("--from needs --to")
        if first is not None and last is not None and last < first:
            raise CommandError(f"--to ({last}) must not be before --from ({first})")
        # The engine takes the end exclusive: the day after the last named day.
        until = last + timedelta(days=1) if last is not None else None
        if first is not None and until is not None:
            try:
                historic_range_check(first=first, until=until)
            except ApplicationError as error:
                raise CommandError(error.message) from None
        if options["all"] and options["merchant"]:
            raise CommandError("Give either --merchant or --all, not both")
        if options["all"]:
            merchants = list(
                Merchant.objects.filter(enabled=True, configured=True).order_by("name")
            )
        else:
            merchants = [merchant_from_option(value) for value in options["merchant"]]
        if not merchants:
            raise CommandError("Name a merchant with --merchant, or use --all")
        ranges = self._chunks(first, until, options["chunk_days"])
        progress = Progress(len(merchants) * len(ranges), "sync")
        failures = 0
        for merchant in merchants:
            if first is not None and not self._range_possible(merchant, first, until):
                failures += 1
                for _ in ranges:
                    progress.advance(merchant.name)
                continue
            for start, end in ranges:
                failures += not self._sync_one(merchant, start, end)
                progress.advance(merchant.name)
        if failures:
            sys.exit(1)

    @staticmethod
    def _chunks(
        first: date | None, until: date | None, days: int
    ) -> list[tuple[date | None, date | None]]:
        if first is None:
            return [(None, until)]
        chunks, start = [], first
        while start < until:
            end = min(start + timedelta(days=days), until)
            chunks.append((start, end))
            start = end
        return chunks

    def _range_possible(self, merchant: Merchant, first: date, until: date | None) -> bool:
        """Check the whole range before its first chunk runs (a range that
        runs into a day not ended yet is refused whole, nothing written)."""
        if until is None or not hasattr(merchant, "sync_configuration"):
            return True  # the run refuses an unconfigured merchant in its own words
        try:
            merchant_period_between(merchant=merchant, first=first, until=until)
        except ApplicationError as error:
            self.stdout.write(f"{merchant.name}: refused ({error.status_code}) {error.message}")
            return False
        return True

    def _sync_one(self, merchant: Merchant, first: date | None, until: date | None) -> bool:
        try:
            run = sync_run_execute(
                merchant=merchant, first=first, until=until, actor=operator_actor("cli")
            )
        except ApplicationError as error:
            self.stdout.write(f"{merchant.name}: refused ({error.status_code}) {error.message}")
            return False
        if run is None:
            self.stdout.write(
                f"{merchant.name}: nothing due, already synced to the latest due date"
            )
            return True
        self.stdout.write(outcome_line(merchant, run))
        for message in run.messages:
            if message["level"] == "error":
                self.stdout.write(f"  error {message['code']}: {message['message']}")
        return run.status == SyncRun.Status.SUCCEEDED
