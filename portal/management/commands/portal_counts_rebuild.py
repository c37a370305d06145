"""`manage.py portal_counts_rebuild`: recompute the dashboard's daily run
counts from the runs (PostgreSQL) and say how many were wrong."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.counts import daily_counts_rebuild


class Command(BaseCommand):
    help = "Recompute the health portal's daily sync run counts from the sync runs."

    def handle(self, *args, **options) -> None:
        try:
            result = daily_counts_rebuild()
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{result.rows} daily counts rebuilt; {result.drifted} had drifted from the runs"
        )
