"""`manage.py bench_fleet --merchants M --orders-per-day K --workers W`.

Prints one JSON object: merchants per minute, documents per second, queries
per sync (at K and 4K orders: they should be equal), peak worker memory.
Run it against a PostgreSQL database of its own (DATABASE_URL).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from commerce_sync.bench.fleet import dumps, run_fleet
from commerce_sync.bench.output import logs_to_stderr


class Command(BaseCommand):
    help = "Sync M sandbox merchants one day each through W django-q2 clusters against a local HTTP ledger."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--merchants", type=int, default=100)
        parser.add_argument("--orders-per-day", type=int, default=50)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--latency-ms", type=float, default=20.0, help="the ledger double's answer delay"
        )
        parser.add_argument(
            "--timeout", type=float, default=1800.0, help="give up after this many seconds"
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the benchmark's merchants afterwards"
        )

    def handle(self, *args, **options) -> None:
        logs_to_stderr()
        result = run_fleet(
            merchants=options["merchants"],
            orders_per_day=options["orders_per_day"],
            workers=options["workers"],
            latency=options["latency_ms"] / 1000,
            timeout=options["timeout"],
            keep=options["keep"],
            log=lambda text: self.stderr.write(text),
        )
        self.stdout.write(dumps(result))
        if result.succeeded < result.merchants:
            sys.exit(1)
