"""`manage.py bench_api`: a tiny run through a real gunicorn prints one JSON
object with every figure, and the partner API's reads cost the same number of
queries on a merchant with 1 run as on one with 365 (figures only: latencies
are not asserted)."""

from __future__ import annotations

import io
import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from commerce_sync.bench.api import (
    PROBE_RUNS,
    REQUEST_TYPES,
    dataset_ensure,
    endpoint_available,
    mix_parse,
    query_counts,
)
from commerce_sync.core.models import Merchant, SyncRun
from commerce_sync.core.services.partners import partner_api_key_create

KEYS = {
    "merchants",
    "days",
    "runs",
    "server",
    "rate_asked",
    "rate_achieved",
    "requests",
    "answered",
    "errors",
    "latency_ms",
    "queries",
    "queries_constant",
    "mix",
    "unavailable",
    "cpu_ms_per_request",
    "load_average",
}
PERCENTILES = {"count", "p50", "p95", "p99", "max"}


@pytest.mark.django_db(transaction=True)
def test_tiny_run_through_gunicorn_prints_the_figures() -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "bench_api",
        *("--merchants", "3", "--days", "5", "--rate", "20", "--seconds", "2"),
        stdout=out,
        stderr=err,
    )
    report = json.loads(out.getvalue())  # stdout is the JSON object alone
    assert set(report) >= KEYS
    assert report["merchants"] == 3
    assert report["runs"] == 3 * 5 + sum(PROBE_RUNS)
    assert "starting gunicorn" in err.getvalue()
    assert set(report["latency_ms"]["overall"]) >= PERCENTILES
    routed = [t for t in REQUEST_TYPES if endpoint_available(t)]
    assert sorted(report["mix"]) == sorted(set(report["mix_asked"]) & set(routed))
    if report["mix"]:
        assert report["requests"] == 40
        # Every request answered by the server (gunicorn really ran) ...
        assert report["answered"] == 40
        assert sum(t["requests"] for t in report["latency_ms"]["per_type"].values()) == 40
        # ... and the reads all succeeded.
        for request_type, row in report["latency_ms"]["per_type"].items():
            if REQUEST_TYPES[request_type][0] == "GET":
                assert row["errors"] == {}, (request_type, row)
        assert report["queries_constant"] is True
    # Sync requests made by the bench do not stay in the history.
    assert not SyncRun.objects.exclude(kind=SyncRun.Kind.SCHEDULED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rerun_reuses_the_data_and_reset_rebuilds_it() -> None:
    first = dataset_ensure(merchants=2, days=3, log=lambda text: None)
    again = dataset_ensure(merchants=2, days=3, log=lambda text: None)
    assert not first.reused and again.reused
    assert again.merchant_ids == first.merchant_ids
    assert again.runs == first.runs == 2 * 3 + sum(PROBE_RUNS)
    failed = SyncRun.objects.filter(status=SyncRun.Status.FAILED)
    assert all(run.status_code >= 4000 and run.messages for run in failed)
    other = dataset_ensure(merchants=1, days=2, log=lambda text: None)
    assert not other.reused and other.runs == 2 + sum(PROBE_RUNS)
    assert Merchant.objects.count() == 1 + len(PROBE_RUNS)
    reset = dataset_ensure(merchants=1, days=2, reset=True, log=lambda text: None)
    assert not reset.reused and reset.merchant_ids != other.merchant_ids


@pytest.mark.django_db(transaction=True)
def test_query_count_is_the_same_for_1_run_and_365() -> None:
    routed = [t for t in REQUEST_TYPES if endpoint_available(t)]
    if not routed:
        pytest.skip("no sync or configuration endpoint is routed in this build yet")
    data = dataset_ensure(merchants=1, days=2, log=lambda text: None)
    _key, api_key = partner_api_key_create(partner=data.partner, name="bench test")
    counts = query_counts(
        api_key=api_key, probes=data.probes, types=routed, warm_merchant=data.merchant_ids[0]
    )
    assert set(counts) == set(routed)
    for request_type, row in counts.items():
        assert row["runs_1"] == row["runs_365"], (request_type, row)
        if REQUEST_TYPES[request_type][0] == "GET":
            assert row["status"] == [200, 200], (request_type, row)


def test_mix_is_checked() -> None:
    assert mix_parse("status=40, list=0,config=10") == {"status": 40, "config": 10}
    for bad in ("stauts=1", "status=x", "status=-1", "status=0"):
        with pytest.raises(ValueError):
            mix_parse(bad)
    with pytest.raises(CommandError, match="unknown request type"):
        call_command("bench_api", "--mix", "nope=1", stdout=io.StringIO())


def test_sqlite_is_refused() -> None:
    with mock.patch("commerce_sync.bench.api.connection") as fake:
        fake.vendor = "sqlite"
        with pytest.raises(RuntimeError, match="needs PostgreSQL"):
            dataset_ensure(merchants=1, days=1)
