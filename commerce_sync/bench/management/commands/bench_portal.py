"""`manage.py bench_portal [--partners P] [--merchants M] [--runs R] [--items I] [--repeat N] [--reset]`.

Prints one JSON object on stdout (logs on stderr): the data's size and load
time, and per user (a support user of one partner, an operator) the
latency percentiles in ms and the queries per request of the dashboard, a
filtered run list, a merchant's history and a run's page. Run it against a
PostgreSQL database of its own (DATABASE_URL); it asserts nothing.
"""

from __future__ import annotations

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from commerce_sync.bench.output import logs_to_stderr
from commerce_sync.bench.portal import portal_dataset_ensure, portal_probe


class Command(BaseCommand):
    help = "Time the health portal's pages on a fleet's data (10,000 merchants by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--partners", type=int, default=10)
        parser.add_argument("--merchants", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=1_000_000)
        parser.add_argument("--items", type=int, default=5_000_000)
        parser.add_argument("--repeat", type=int, default=20, help="requests per page and user")
        parser.add_argument("--reset", action="store_true", help="reload even if loaded")

    def handle(self, *args, **options) -> None:
        logs_to_stderr()
        for name in ("partners", "merchants", "runs", "repeat"):
            if options[name] <= 0:
                raise CommandError(f"--{name} must be more than 0")
        if options["items"] < 0:
            raise CommandError("--items must be 0 or more")

        def log(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        try:
            dataset = portal_dataset_ensure(
                partners=options["partners"],
                merchants=options["merchants"],
                runs=options["runs"],
                items=options["items"],
                reset=options["reset"],
                log=log,
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        # The test client's host, on whatever ALLOWED_HOSTS the deployment sets.
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            try:
                figures = portal_probe(dataset=dataset, repeat=options["repeat"])
            except RuntimeError as error:
                raise CommandError(str(error)) from None
        result = {
            "partners": len(dataset.partners),
            "merchants": dataset.merchants,
            "runs": dataset.runs,
            "push_items": dataset.items,
            "reused": dataset.reused,
            "load_seconds": dataset.load_seconds,
            "repeat": options["repeat"],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            **figures,
        }
        self.stdout.write(json.dumps(result, indent=2))
