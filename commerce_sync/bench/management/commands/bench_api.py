"""`manage.py bench_api [--merchants N] [--days D] [--rate R] [--seconds S] [--mix ...] [--reset]`.

Prints one JSON object on stdout (logs on stderr): the data's size, the rate
asked and achieved, errors by status, latency percentiles in ms overall, for
reads and per request type, and the queries per request type on a merchant
with 1 run and one with 365, and the CPU per request: the server's under
the load, and per read type in-process (steadier on a shared machine). Run it against a PostgreSQL database of its own
(DATABASE_URL); it asserts nothing.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from commerce_sync.bench.api import DEFAULT_MIX, mix_parse, run_bench
from commerce_sync.bench.management.commands._args import positive_int
from commerce_sync.bench.output import logs_to_stderr


class Command(BaseCommand):
    help = "Mixed partner API traffic through gunicorn on N merchants with a year of runs each."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--merchants", type=positive_int, default=10_000)
        parser.add_argument(
            "--days", type=positive_int, default=365, help="daily runs per merchant"
        )
        parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
        parser.add_argument("--seconds", type=float, default=30.0, help="duration of the load")
        parser.add_argument(
            "--mix",
            default=DEFAULT_MIX,
            help="weights per request type (status, list, latest, last_successful, config, sync)",
        )
        parser.add_argument("--workers", type=positive_int, default=3, help="gunicorn workers")
        parser.add_argument(
            "--worker-class",
            default="sync",
            choices=["sync", "gthread"],
            help="gunicorn worker class",
        )
        parser.add_argument(
            "--threads", type=positive_int, default=1, help="threads per gthread worker"
        )
        parser.add_argument(
            "--conn-max-age",
            type=int,
            default=60,
            help="the server's CONN_MAX_AGE: seconds a database connection is kept (0: one per request)",
        )
        parser.add_argument(
            "--rate-limit-redis",
            default="",
            metavar="URL",
            help="count the server's rate limits in this Redis (e.g. redis://127.0.0.1:6379/14); "
            "default: the database",
        )
        parser.add_argument(
            "--cpu-requests",
            type=int,
            default=200,
            help="requests per read type for the in-process CPU measurement",
        )
        parser.add_argument(
            "--reset", action="store_true", help="rebuild the data even if already loaded"
        )

    def handle(self, *args, **options) -> None:
        logs_to_stderr()
        try:
            mix = mix_parse(options["mix"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        for name in ("merchants", "days", "rate", "seconds", "workers", "threads", "cpu_requests"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be more than 0")
        if options["conn_max_age"] < 0:
            raise CommandError("--conn-max-age must be 0 or more")
        if not 1 <= options["workers"] <= 8:
            raise CommandError("--workers must be between 1 and 8")
        try:
            report = run_bench(
                merchants=options["merchants"],
                days=options["days"],
                rate=options["rate"],
                seconds=options["seconds"],
                mix=mix,
                workers=options["workers"],
                worker_class=options["worker_class"],
                threads=options["threads"],
                conn_max_age=options["conn_max_age"],
                rate_limit_redis_url=options["rate_limit_redis"],
                cpu_requests=options["cpu_requests"],
                reset=options["reset"],
                log=lambda text: self.stderr.write(text),
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report))
