"""`manage.py bench_fleet --merchants M --orders-per-day K --workers W [--broker orm|redis|both]`.

Prints one JSON object: merchants per minute, documents per second, queries
per sync (at K and 4K orders: they should be equal), peak worker memory, and
the most times any document was written (1: every merchant-day once).
Run it against a PostgreSQL database of its own (DATABASE_URL).

`--broker redis` runs the W qcluster processes (separate groups, as on
separate machines) on a Redis broker (`--redis-url`, or REDIS_URL) sharing
PostgreSQL; `--broker both` runs the ORM broker then Redis and prints
`{"orm": {...}, "redis": {...}}` side by side. The broker is chosen when the
settings load, so each broker's run is this command again in a child
process with REDIS_URL set or cleared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from commerce_sync.bench.fleet import dumps, run_fleet
from commerce_sync.bench.management.commands._args import positive_int
from commerce_sync.bench.output import logs_to_stderr


class Command(BaseCommand):
    help = "Sync M sandbox merchants one day each through W django-q2 clusters against a local HTTP ledger."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--merchants", type=positive_int, default=100)
        parser.add_argument("--orders-per-day", type=positive_int, default=50)
        parser.add_argument("--workers", type=positive_int, default=2)
        parser.add_argument(
            "--latency-ms", type=float, default=20.0, help="the ledger double's answer delay"
        )
        parser.add_argument(
            "--timeout", type=float, default=1800.0, help="give up after this many seconds"
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the benchmark's merchants afterwards"
        )
        parser.add_argument("--broker", choices=["orm", "redis", "both"], default="")
        parser.add_argument(
            "--redis-url",
            default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11",
            help="the Redis broker for --broker redis",
        )

    def _child(self, broker: str, options: dict) -> tuple[int, dict]:
        """This benchmark in a child process whose settings pick `broker`."""
        env = {**os.environ, "REDIS_URL": options["redis_url"] if broker == "redis" else ""}
        argv = [sys.executable, sys.argv[0], "bench_fleet", "--broker", broker]
        for name in ("merchants", "orders_per_day", "workers", "latency_ms", "timeout"):
            argv += [f"--{name.replace('_', '-')}", str(options[name])]
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, check=False)  # noqa: S603
        lines = done.stdout.strip().splitlines()
        return done.returncode, (json.loads(lines[-1]) if lines else {})

    def handle(self, *args, **options) -> None:
        logs_to_stderr()
        broker = options["broker"]
        if broker == "both":
            codes, figures = [], {}
            for each in ("orm", "redis"):
                code, figures[each] = self._child(each, options)
                codes.append(code)
            self.stdout.write(json.dumps(figures))
            sys.exit(max(codes))
        on_redis = bool(settings.REDIS_URL)
        if broker and (broker == "redis") != on_redis:
            code, figures = self._child(broker, options)
            self.stdout.write(json.dumps(figures))
            sys.exit(code)
        result = run_fleet(
            merchants=options["merchants"],
            orders_per_day=options["orders_per_day"],
            workers=options["workers"],
            latency=options["latency_ms"] / 1000,
            timeout=options["timeout"],
            keep=options["keep"],
            log=lambda text: self.stderr.write(text),
        )
        figures = json.loads(dumps(result))
        figures["broker"] = "redis" if settings.REDIS_URL else "orm"
        self.stdout.write(json.dumps(figures))
        if result.succeeded < result.merchants:
            sys.exit(1)
