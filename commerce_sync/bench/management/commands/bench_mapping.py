"""`manage.py bench_mapping --orders N [--seed S]`: how fast the engine maps a day.

Generates a realistic merchant-day of N orders in the Codat shape, serialises
it to JSON, and prints one JSON object: `orders`, `seconds` (canonical parse +
mapping of the already-loaded dicts), `orders_per_second`, `peak_rss_mb`,
`json_parse_seconds` (`json.loads(text, parse_float=Decimal)` of the same day),
`ratio_to_json_parse`, `documents`, plus the record counts, warnings and errors.
Exit status 1 when the engine refuses the day (it never should).

`--no-gc` switches Python's cyclic garbage collector off while timing: on
large days it takes much of both timed parts. `--profile` runs the timed part under cProfile and writes the top functions
by cumulative and by own time to stderr (timings then include its overhead).
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats

from django.core.management.base import BaseCommand, CommandError

from commerce_sync.bench.mapping import run
from commerce_sync.bench.output import logs_to_stderr


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Benchmark the mapping engine on a generated merchant-day of N orders."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--orders", type=_positive, required=True, help="orders in the day")
        parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
        parser.add_argument(
            "--format",
            dest="output_format",
            choices=("JournalEntry", "Invoice"),
            default="JournalEntry",
            help="output format to map to (default JournalEntry)",
        )
        parser.add_argument(
            "--no-gc",
            action="store_true",
            help="switch the cyclic garbage collector off while timing (the engine's own cost)",
        )
        parser.add_argument(
            "--profile",
            type=int,
            nargs="?",
            const=15,
            default=None,
            metavar="TOP",
            help="profile the timed part; print the TOP functions (default 15) to stderr",
        )

    def handle(self, *args, **options) -> None:
        logs_to_stderr()
        profiler = cProfile.Profile() if options["profile"] else None
        figures, result = run(
            options["orders"],
            options["seed"],
            options["output_format"],
            profiler=profiler,
            collect_garbage=not options["no_gc"],
        )
        if profiler is not None:
            figures["profiled"] = True
            self._profile(profiler, options["profile"])
        self.stdout.write(json.dumps(figures))
        if result.errors:
            raise CommandError(
                f"the engine refused the generated day: {result.errors[0].message}", returncode=1
            )

    def _profile(self, profiler: cProfile.Profile, top: int) -> None:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
            self.stderr.write(f"-- top {top} by {order} --\n{out.getvalue()}")
