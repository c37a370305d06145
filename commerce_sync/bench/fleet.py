"""The fleet benchmark: many sandbox merchants synced one day each by real
django-q2 clusters against the local HTTP ledger double.

Setup writes rows in bulk (a benchmark needs no audit trail for its own
fixtures); the syncs themselves go through the normal task and services.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.tasks import async_task

from commerce_sync.bench.http_ledger_double import LedgerDouble
from commerce_sync.core.models import Connection, Merchant, Partner, SyncConfiguration, SyncRun
from commerce_sync.core.services.demo import DEMO_ACCOUNTS, demo_configuration
from commerce_sync.core.tasks import SYNC_TASK
from commerce_sync.syncs.runs import sync_run_execute

ROOT = Path(settings.BASE_DIR)


@dataclass
class FleetResult:
    merchants: int
    orders_per_day: int
    workers: int
    seconds: float
    succeeded: int
    documents: int
    queries_per_sync: dict[str, int]
    peak_worker_rss_mb: float
    ledger_writes_max_per_key: int

    def as_json(self) -> dict:
        minutes = self.seconds / 60
        return {
            "merchants": self.merchants,
            "orders_per_day": self.orders_per_day,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "merchants_per_minute": round(self.merchants / minutes, 1) if minutes else None,
            "documents_per_second": round(self.documents / self.seconds, 2)
            if self.seconds
            else None,
            "succeeded": self.succeeded,
            "queries_per_sync": self.queries_per_sync,
            "peak_worker_rss_mb": self.peak_worker_rss_mb,
            "ledger_writes_max_per_key": self.ledger_writes_max_per_key,
        }


def _create_merchants(
    partner: Partner, count: int, orders_per_day: int, base_url: str, api_key: str
) -> list[Merchant]:
    today = timezone.localdate()
    merchants = Merchant.objects.bulk_create(
        [
            Merchant(
                partner=partner,
                external_id=f"{partner.slug}-{n}",
                name=f"Bench merchant {n}",
                country="GB",
                currency="GBP",
                time_zone="Europe/London",
                configured=True,
            )
            for n in range(count)
        ],
        batch_size=1000,
    )
    Connection.objects.bulk_create(
        [
            Connection(
                merchant=m,
                platform_key="sandbox",
                source_type="commerce",
                status="Linked",
                settings={"orders_per_day": orders_per_day},
            )
            for m in merchants
        ]
        + [
            Connection(
                merchant=m,
                platform_key="http-ledger",
                source_type="accounting",
                status="Linked",
                settings={"base_url": base_url},
                credentials={"api_key": api_key},
            )
            for m in merchants
        ],
        batch_size=1000,
    )
    document = demo_configuration()
    SyncConfiguration.objects.bulk_create(
        [
            SyncConfiguration(
                merchant=m,
                document=document,
                start_date=today - timedelta(days=1),
                sync_hour=0,
                time_zone="Europe/London",
                version=1,
            )
            for m in merchants
        ],
        batch_size=1000,
    )
    return merchants


def _queries_for(partner: Partner, orders: int, base_url: str, api_key: str) -> int:
    (merchant,) = _create_merchants(partner, 1, orders, base_url, api_key)
    Merchant.objects.filter(pk=merchant.pk).update(external_id=f"{partner.slug}-probe-{orders}")
    merchant = Merchant.objects.select_related("sync_configuration").get(pk=merchant.pk)
    with CaptureQueriesContext(connection) as captured:
        sync_run_execute(merchant=merchant)
    return len(captured.captured_queries)


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            for child in task.read_text().split():
                found.append(int(child))
                queue.append(int(child))
    return found


def _peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return round(peak / 1024, 1)


def run_fleet(
    *,
    merchants: int,
    orders_per_day: int,
    workers: int,
    latency: float,
    timeout: float,
    keep: bool = False,
    log=print,
) -> FleetResult:
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "bench_fleet needs PostgreSQL (DATABASE_URL): the workers share its broker and locks"
        )
    accounts = [
        {"id": account, "name": name, "type": kind} for account, name, kind, _ in DEMO_ACCOUNTS
    ]
    stamp = int(time.time())
    partner = Partner.objects.create(name=f"Fleet benchmark {stamp}", slug=f"bench-{stamp}")
    with LedgerDouble(accounts, delay=latency) as double:
        queries = {
            f"orders_{orders_per_day}": _queries_for(
                partner, orders_per_day, double.url, double.api_key
            ),
            f"orders_{orders_per_day * 4}": _queries_for(
                partner, orders_per_day * 4, double.url, double.api_key
            ),
        }
        fleet = _create_merchants(partner, merchants, orders_per_day, double.url, double.api_key)
        log(f"created {merchants} merchants; starting {workers} qcluster process(es)")
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "Q_WORKERS": "1",
            "Q_SYNC": "0",
            "LOG_LEVEL": "WARNING",
            "ENV_FILE": "",
        }
        clusters = [
            subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(workers)
        ]
        began = time.monotonic()
        for merchant in fleet:
            async_task(SYNC_TASK, str(merchant.pk), group=partner.slug)
        runs = SyncRun.objects.filter(merchant__in=fleet)
        done = 0
        peak = 0.0
        try:
            while time.monotonic() - began < timeout:
                done = runs.exclude(status__in=["pending", "running"]).count()
                pids = [pid for c in clusters for pid in [c.pid, *_descendants(c.pid)]]
                peak = max(peak, _peak_rss_mb(pids))
                if done >= merchants:
                    break
                time.sleep(0.5)
        finally:
            elapsed = time.monotonic() - began
            for cluster in clusters:
                os.killpg(cluster.pid, signal.SIGTERM)
            for cluster in clusters:
                try:
                    cluster.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(cluster.pid, signal.SIGKILL)
        succeeded = runs.filter(status="succeeded").count()
        documents = sum(
            sum(r.get("push_items", {}).get("written", 0) for r in [c])
            for c in runs.values_list("counters", flat=True)
        )
        writes = max(double.book.puts.values(), default=0)  # sent, not only stored
    if not keep:
        Merchant.objects.filter(partner=partner).delete()
        partner.delete()
    return FleetResult(
        merchants, orders_per_day, workers, elapsed, succeeded, documents, queries, peak, writes
    )


def dumps(result: FleetResult) -> str:
    return json.dumps(result.as_json())
