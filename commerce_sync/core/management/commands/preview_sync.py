"""`manage.py preview_sync --input FILE.json`: what a sync would post, posting nothing.

Exit status: 0 mapped, 1 refused (the errors say why), 2 bad command line or
unreadable input.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand

from mapping.preview import preview


class Command(BaseCommand):
    # Pure mapping: no database, no secrets. It runs anywhere the code is.
    requires_system_checks: list[str] = []
    help = "Map a scenario file (commerce records + configuration) and print the documents as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--input", required=True, help="scenario JSON file ('-' for standard input)"
        )
        parser.add_argument(
            "--indent", type=int, default=None, help="pretty-print with this indent"
        )

    def handle(self, *args, **options) -> None:
        source = options["input"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            scenario = json.loads(text, parse_float=Decimal)
        except (OSError, UnicodeDecodeError) as error:
            self._fail(f"Cannot read {source}: {error}")
        except json.JSONDecodeError as error:
            self._fail(
                f"{source} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
            )
        except (ValueError, RecursionError) as error:  # too many digits, nesting too deep
            self._fail(
                f"{source} cannot be read as JSON: {str(error)[:200] or type(error).__name__}"
            )
        result = preview(scenario)
        self.stdout.write(
            json.dumps(result.as_json(), indent=options["indent"], ensure_ascii=False)
        )
        if result.errors:
            sys.exit(1)

    def _fail(self, message: str) -> None:
        self.stderr.write(message)
        sys.exit(2)
