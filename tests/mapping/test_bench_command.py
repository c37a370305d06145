"""`manage.py bench_mapping` runs end to end and maps its generated day cleanly
(figures only: timings are not asserted)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

KEYS = {
    "orders",
    "seconds",
    "orders_per_second",
    "peak_rss_mb",
    "json_parse_seconds",
    "ratio_to_json_parse",
    "documents",
    "errors",
}


@pytest.mark.parametrize("output_format", ["JournalEntry", "Invoice"])
def test_bench_mapping_prints_its_figures(output_format: str) -> None:
    out = io.StringIO()
    call_command("bench_mapping", "--orders", "200", "--format", output_format, stdout=out)
    figures = json.loads(out.getvalue())
    assert set(figures) >= KEYS
    assert figures["orders"] == figures["records"]["orders"] == 200
    assert figures["errors"] == []
    assert figures["documents"] >= 1
    assert 2.5 <= figures["records"]["lines"] / 200 <= 3.5
    assert 1.1 <= figures["records"]["payments"] / 200 <= 1.3


def test_bench_mapping_is_deterministic_per_seed() -> None:
    def counts(seed: str) -> dict:
        out = io.StringIO()
        call_command("bench_mapping", "--orders", "50", "--seed", seed, stdout=out)
        return json.loads(out.getvalue())["records"]

    assert counts("7") == counts("7")


def test_bench_mapping_needs_a_positive_order_count() -> None:
    with pytest.raises(CommandError):
        call_command("bench_mapping", "--orders", "0")
