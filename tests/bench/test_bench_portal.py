"""`manage.py bench_portal` at a tiny size: one JSON object with every
figure, the data as asked, the portal's pages answered for both users with
a query count that does not depend on the merchant or run (figures only:
latencies are not asserted)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from commerce_sync.core.models import Merchant, PushItem, SyncRun


@pytest.mark.django_db(transaction=True)
def test_a_tiny_bench_prints_the_figures_and_reuses_its_data() -> None:
    out, err = io.StringIO(), io.StringIO()
    args = ["--partners", "2", "--merchants", "100", "--runs", "1000", "--items", "3000"]
    call_command("bench_portal", *args, "--repeat", "2", stdout=out, stderr=err)
    result = json.loads(out.getvalue())
    assert (result["partners"], result["merchants"], result["runs"]) == (2, 100, 1000 + 0)
    assert result["push_items"] == 3000
    assert Merchant.objects.count() == 100
    assert SyncRun.objects.filter(status="failed").exists()
    assert PushItem.objects.filter(status="failed").exists()
    for role in ("support", "operator"):
        figures = result[role]
        assert set(figures["latency_ms"]) == {
            "dashboard",
            "sync_list_failed_7_days",
            "merchant_history",
            "sync_detail",
            "merchant_list_health",
            "failed_push_items",
        }
        for page in figures["latency_ms"].values():
            assert page["count"] == 2 and 0 < page["p50"] <= page["max"]
        assert set(figures["db_ms"]) == set(figures["latency_ms"])
        assert set(figures["python_cpu_ms"]) == set(figures["latency_ms"])
        for name, page in figures["db_ms"].items():
            assert 0 < page["p50"] <= figures["latency_ms"][name]["max"]
        assert figures["queries_constant"] is True
        assert all(0 < n < 20 for n in figures["queries"].values())
    again = io.StringIO()
    call_command("bench_portal", *args, "--repeat", "1", stdout=again, stderr=err)
    assert json.loads(again.getvalue())["reused"] is True


def test_bad_sizes_are_refused_by_name() -> None:
    with pytest.raises(CommandError, match="--merchants must be more than 0"):
        call_command("bench_portal", "--merchants", "0")
