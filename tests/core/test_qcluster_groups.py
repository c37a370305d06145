"""Two django-q2 cluster groups, as on two machines, sharing a Redis broker
and PostgreSQL (ISSUE 15, ARCHITECTURE.md on the task queue).

Two real `manage.py qcluster` processes (two workers each) pull from one
Redis queue. Every merchant's sync is delivered twice, back to back, as two
overlapping dispatcher ticks would enqueue it, so the two copies usually
land on different groups at the same moment. Whatever lands where: each
merchant is synced by exactly one run, every document reaches the ledger
exactly once (the double counts every PUT, including repeats of a key it
holds), none is missing against what the mapping engine makes of the
source, and no two PUTs of one merchant ever overlap in time (its lock held
across the groups).

Redis: `QCLUSTER_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/5`), a
database this test may flush; it flushes that one database only, before and
after. Skipped when nothing answers there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_task

from commerce_sync.bench.fleet import _create_merchants
from commerce_sync.bench.http_ledger_double import LedgerDouble
from commerce_sync.core.models import (
    Connection,
    Merchant,
    Partner,
    PushItem,
    SyncConfiguration,
    SyncRun,
)
from commerce_sync.core.services.connections import connection_source
from commerce_sync.core.services.demo import DEMO_ACCOUNTS
from commerce_sync.core.tasks import SYNC_TASK
from mapping.config import parse_configuration
from mapping.engine import map_period
from mapping.parsing import parse_commerce
from mapping.periods import Period, zone

redis = pytest.importorskip("redis")

REDIS_URL = os.environ.get("QCLUSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
MERCHANTS = 8
DAYS = 4
GROUPS = 2
DEADLINE = 45.0  # seconds for the clusters to start and drain the queue

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the groups share PostgreSQL, its locks included"
)


@pytest.fixture
def redis_db() -> Any:
    """The test's Redis database, flushed before and after (that one only)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _database_url() -> str:
    """The test database, for the clusters (they must see what the test commits)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}:{port}/{db['NAME']}"


def _start_group(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": REDIS_URL,
        "Q_SYNC": "0",
        "Q_WORKERS": "2",
        "LOG_LEVEL": "INFO",  # the workers log each task they take
        "LOG_FORMAT": "json",
        "ENV_FILE": "",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(groups: list[subprocess.Popen]) -> None:
    """SIGTERM to each qcluster (it stops its own workers, as on a deploy);
    SIGKILL to the whole process group of one that takes too long."""
    for group in groups:
        if group.poll() is None:
            group.terminate()
    for group in groups:
        with contextlib.suppress(subprocess.TimeoutExpired):
            group.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.pid, signal.SIGKILL)  # no worker outlives the test
        group.wait(timeout=5)


def _wait(condition, what: str, groups: list[subprocess.Popen], began: float) -> None:
    while not condition():
        assert all(g.poll() is None for g in groups), f"a qcluster group exited: {what}"
        assert time.monotonic() - began < DEADLINE, f"timed out waiting for {what}"
        time.sleep(0.1)


def _expected_keys(merchant: Merchant, run: SyncRun) -> set[str]:
    """The keys of the documents the run's period holds, from the source and
    the mapping engine, not from the sync's own records."""
    config = merchant.sync_configuration
    source = connection_source(
        connection=merchant.connections.get(source_type=Connection.SourceType.COMMERCE)
    )
    tz = zone(config.time_zone)
    batch = source.read_period(start=run.period_start, end=run.period_end)
    result = map_period(
        parse_commerce(batch.as_commerce(), tz),
        parse_configuration(config.document),
        Period(run.period_start, run.period_end, config.sync_hour, tz),
        key_prefix=str(merchant.pk),
    )
    assert result.errors == []
    return {doc.header.key for doc in result.documents}


def _tasks_taken(log: Path) -> Counter[str]:
    """Merchant ids of the sync tasks a group's workers took, from its log."""
    taken: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            continue
        found = re.search(r"processing sync ([0-9a-f-]{36})", message)
        if found:
            taken[found.group(1)] += 1
    return taken


@pytest.mark.django_db(transaction=True)
def test_two_qcluster_groups_on_redis_sync_each_due_merchant_once(redis_db, tmp_path, monkeypatch):
    accounts = [{"id": a, "name": n, "type": t} for a, n, t, _ in DEMO_ACCOUNTS]
    partner = Partner.objects.create(name="Two machines", slug="two-machines")
    with LedgerDouble(accounts, delay=0.01) as double:
        fleet = _create_merchants(partner, MERCHANTS, 6, double.url, double.api_key)
        # Four days due each (a journal a day): several PUTs per merchant.
        SyncConfiguration.objects.filter(merchant__in=fleet).update(
            start_date=timezone.localdate() - timedelta(days=DAYS)
        )
        connections.close_all()  # committed; the clusters read it from their own sessions

        logs = [tmp_path / f"group-{n}.log" for n in range(GROUPS)]
        began = time.monotonic()
        groups = [_start_group(log) for log in logs]
        try:
            stats = f"django_q:{Conf.PREFIX}:cluster:*"
            _wait(lambda: len(redis_db.keys(stats)) >= GROUPS, "both groups up", groups, began)
            up = time.monotonic() - began

            monkeypatch.setattr(Conf, "REDIS", REDIS_URL)  # this process enqueues on Redis too
            broker = RedisBroker(list_key=Conf.CLUSTER_NAME)
            for merchant in fleet:  # two ticks' worth, each copy right after the other
                for _ in range(2):
                    async_task(
                        SYNC_TASK,
                        str(merchant.pk),
                        group="sync",
                        task_name=f"sync {merchant.pk}",
                        broker=broker,
                        sync=False,
                    )
            tasks = Task.objects.filter(func=SYNC_TASK)
            _wait(lambda: tasks.count() >= 2 * MERCHANTS, "every task done", groups, began)
        finally:
            _stop(groups)
        elapsed = time.monotonic() - began
        puts, spans = Counter(double.book.puts), list(double.book.put_spans)
        stored = {key: doc["id"] for key, doc in double.book.documents.items()}

    # Every delivery ran without error; one per merchant synced, its twin found
    # the lock taken ("skipped") or the period done ("nothing due").
    assert tasks.count() == 2 * MERCHANTS
    assert [t.result for t in tasks if not t.success] == []
    outcomes: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        outcomes[task.args[0]].append(str(task.result))
    assert set(outcomes) == {str(m.pk) for m in fleet}
    kinds: Counter[str] = Counter()
    for merchant_id, results in outcomes.items():
        ran = [r for r in results if r.endswith(" 2000")]
        assert len(ran) == 1, (merchant_id, results)
        others = [r for r in results if r not in ran]
        assert all(r == "nothing due" or r.startswith("skipped:") for r in others), results
        kinds.update("skipped" if r.startswith("skipped") else r for r in others)
    # Twins did run at the same moment, and the merchant lock refused the second.
    assert kinds["skipped"] >= 1, kinds

    # Both groups took sync tasks: the work was shared, not done by one machine.
    taken = [_tasks_taken(log) for log in logs]
    assert all(sum(t.values()) > 0 for t in taken), taken
    assert sum(sum(t.values()) for t in taken) == 2 * MERCHANTS

    # Each merchant: one run, succeeded; its documents in the ledger once each.
    expected_all: set[str] = set()
    for merchant in Merchant.objects.filter(partner=partner).select_related("sync_configuration"):
        (run,) = SyncRun.objects.filter(merchant=merchant)
        assert (run.status, run.status_code) == (SyncRun.Status.SUCCEEDED, 2000)
        expected = _expected_keys(merchant, run)
        assert expected
        items = PushItem.objects.filter(merchant=merchant)
        assert {i.key for i in items} == expected
        assert {i.key: i.target_id for i in items} == {k: stored[k] for k in expected}
        assert {i.status for i in items} == {PushItem.Status.PUSHED}
        expected_all |= expected
        # The merchant's lock held across the groups: none of its PUTs overlapped.
        own = sorted((s, e) for s, e, key in spans if key.startswith(str(merchant.pk)))
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(own)), merchant.pk
    assert puts == Counter(dict.fromkeys(expected_all, 1))  # none sent twice, none missing
    assert set(stored) == expected_all
    assert redis_db.llen(f"django_q:{Conf.CLUSTER_NAME}:q") == 0  # nothing left queued
    print(
        f"two groups: {MERCHANTS} merchants, {len(puts)} documents, {dict(kinds)}, up in {up:.1f}s, done in {elapsed:.1f}s"
    )
