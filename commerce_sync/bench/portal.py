"""The health portal's benchmark: a fleet's data in PostgreSQL, the portal's
hot pages timed in-process as a support user and as an operator.

Data (`portal_dataset_ensure`): `partners` bench partners sharing `merchants`
merchants round-robin; `runs` daily runs spread evenly over the merchants
(the newest yesterday), about 4 in 100 failed (5130) and 1 merchant in 500
with a run stuck at 1010 today; `items` push items spread evenly over the
runs (a failed run's first item failed, the rest pushed); 1 merchant in 50
disabled, 1 in 40 never configured. Everything is inserted by
`INSERT ... SELECT generate_series` in the database (no rows through
Python), in batches of merchants; reused when already loaded at the same
sizes.

Probes (`portal_probe`): the dashboard (30 days), the run list filtered by
status and a 7-day date range, a merchant's page plus its run list (its
history), a failed run's page, the merchant list with health and next due,
and the failed push items, each requested `repeat` times through
Django's test client (the whole request: middleware, session, admin,
templates), as a support user of the first partner and as an operator;
p50/p95/max in milliseconds of the whole request and of its time in the
database (to tell a slow query from a busy CPU) and of this process's CPU
time (Python's share, which a loaded machine does not inflate), and the queries per request on two different
merchants / runs (the counts must not depend on which).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from commerce_sync.core.models import Merchant, Partner, PushItem, SyncRun
from commerce_sync.core.services.demo import demo_configuration

SLUG_PREFIX = "portal-bench-"
OPERATOR = "portal-bench-operator"
SUPPORT = "portal-bench-support"
MERCHANT_BATCH = 500


@dataclass
class PortalDataset:
    partners: list[Partner]
    merchants: int
    runs: int
    items: int
    reused: bool
    load_seconds: float


def _marker(merchants: int, runs: int, items: int) -> str:
    return f"Portal benchmark {merchants}/{runs}/{items}"


def portal_dataset_wipe() -> None:
    """Delete every bench partner and what hangs off them, by SQL (the ORM
    would load millions of rows to cascade)."""
    ids = list(Partner.objects.filter(slug__startswith=SLUG_PREFIX).values_list("pk", flat=True))
    if not ids:
        return
    merchants = "SELECT id FROM core_merchant WHERE partner_id = ANY(%s)"
    with connection.cursor() as cursor:
        for table in (
            "core_pushitem",
            "core_sourcerecord",
            "core_syncrun",
            "core_syncconfigurationversion",
            "core_syncconfiguration",
            "core_connection",
            "core_setuplink",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE merchant_id IN ({merchants})", [ids])  # noqa: S608
        cursor.execute(
            f"UPDATE core_auditlog SET merchant_id = NULL WHERE merchant_id IN ({merchants})",  # noqa: S608
            [ids],
        )
        cursor.execute("DELETE FROM core_merchant WHERE partner_id = ANY(%s)", [ids])
    get_user_model().objects.filter(username__in=[OPERATOR, SUPPORT]).delete()
    Partner.objects.filter(pk__in=ids).delete()


_MERCHANTS_SQL = """
INSERT INTO core_merchant (id, partner_id, external_id, name, description, tags, country,
    currency, time_zone, enabled, configured, disabled_reason, created_at, updated_at,
    alert_email, alerts_opt_out, language)
SELECT gen_random_uuid(), (%(partners)s::bigint[])[(g %% %(npartners)s) + 1], 'pb-' || g,
       'Portal bench merchant ' || g, '', '{}'::jsonb, 'GB', 'GBP', 'Europe/London',
       g %% 50 <> 7, g %% 40 <> 3, CASE WHEN g %% 50 = 7 THEN 'Asked to stop' ELSE '' END,
       now(), now(), '', false, 'en'
FROM generate_series(%(first)s, %(last)s) AS g
"""

_CONFIG_SQL = """
INSERT INTO core_syncconfiguration (merchant_id, document, frequency, start_date, sync_hour,
    time_zone, version, updated_at)
SELECT id, %(doc)s::jsonb, 'Daily', %(start)s, 4, 'Europe/London', 1, now()
FROM core_merchant WHERE id = ANY(%(ids)s::uuid[]) AND configured;
INSERT INTO core_syncconfigurationversion (merchant_id, version, document, frequency,
    start_date, sync_hour, time_zone, created_at, created_by)
SELECT id, 1, %(doc)s::jsonb, 'Daily', %(start)s, 4, 'Europe/London', now() - interval '400 days',
       'system'
FROM core_merchant WHERE id = ANY(%(ids)s::uuid[]) AND configured
"""

_RUNS_SQL = """
INSERT INTO core_syncrun (id, merchant_id, kind, period_start, period_end, status, status_code,
    messages, counters, timings, data_pushed, created_at, started_at, finished_at)
SELECT gen_random_uuid(), m.id, 'scheduled', p.start, p.start + interval '1 day',
       CASE WHEN f.stuck THEN 'running' WHEN f.failed THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN f.stuck THEN 1010 WHEN f.failed THEN 5130 ELSE 2000 END,
       CASE WHEN f.failed THEN '[{"level": "error", "code": "DocumentRejected",
            "message": "journalEntry: Account Income:Sales is archived"}]'::jsonb
            ELSE '[]'::jsonb END,
       '{"documents": 3, "records_read": {"orders": 20}}'::jsonb,
       '{"read": 0.41, "map": 0.02, "push": 0.88}'::jsonb,
       NOT f.failed AND NOT f.stuck,
       p.start + interval '1 day', p.start + interval '1 day',
       CASE WHEN f.stuck THEN NULL ELSE p.start + interval '1 day 3 seconds' END
FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS m(id, rn)
CROSS JOIN LATERAL generate_series(1, %(days)s) AS g(n)
CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - (g.n + 1) * interval '1 day'
                    + interval '4 hours' AS start) AS p
CROSS JOIN LATERAL (SELECT (m.rn * 7919 + g.n * 104729) %% 100 < 4 AS failed,
                           g.n = 0 AND m.rn %% 500 = 0 AS stuck) AS f
"""

_ITEMS_SQL = """
INSERT INTO core_pushitem (merchant_id, sync_run_id, kind, key, status, payload, target_id,
    attempts, last_error, created_at, updated_at)
SELECT r.merchant_id, r.id, 'journalEntry', r.id::text || ':' || k,
       CASE WHEN r.status = 'failed' AND k = 1 THEN 'failed' ELSE 'pushed' END,
       '{}'::jsonb,
       CASE WHEN r.status = 'failed' AND k = 1 THEN '' ELSE 'T-' || k END, 1,
       CASE WHEN r.status = 'failed' AND k = 1 THEN 'Account Income:Sales is archived'
            ELSE '' END,
       r.created_at, r.created_at
FROM core_syncrun r CROSS JOIN generate_series(1, %(per_run)s) AS k
WHERE r.merchant_id = ANY(%(ids)s::uuid[])
"""


def portal_dataset_ensure(
    *,
    partners: int,
    merchants: int,
    runs: int,
    items: int,
    reset: bool = False,
    log: Callable[[str], None] = print,
) -> PortalDataset:
    """Load (or reuse) the bench data; `runs` is rounded to whole days per
    merchant and `items` to whole items per run."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench_portal needs PostgreSQL (set DATABASE_URL)")
    began = time.monotonic()
    days = max(1, runs // merchants)
    per_run = max(0, items // (days * merchants))
    marker = _marker(merchants, days * merchants, per_run * days * merchants)
    existing = list(Partner.objects.filter(slug__startswith=SLUG_PREFIX).order_by("slug"))
    reused = (
        not reset and len(existing) == partners and all(p.name.startswith(marker) for p in existing)
    )
    if not reused:
        log("wiping the previous portal bench data")
        portal_dataset_wipe()
        existing = [
            Partner.objects.create(name=f"{marker} #{n}", slug=f"{SLUG_PREFIX}{n}")
            for n in range(partners)
        ]
        partner_ids = [p.pk for p in existing]
        end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        doc = connection.ops.adapt_json_value(demo_configuration(), None)
        start = (end - timedelta(days=days + 1)).date()
        for first in range(0, merchants, MERCHANT_BATCH):
            last = min(first + MERCHANT_BATCH, merchants) - 1
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    _MERCHANTS_SQL + " RETURNING id",
                    {
                        "partners": partner_ids,
                        "npartners": partners,
                        "first": first,
                        "last": last,
                    },
                )
                ids = [row[0] for row in cursor.fetchall()]
                cursor.execute(_CONFIG_SQL, {"doc": doc, "start": start, "ids": ids})
                # g.n = 1 is yesterday; one merchant in 500 also has today's run stuck.
                cursor.execute(_RUNS_SQL, {"ids": ids, "days": days, "end": end})
                cursor.execute(
                    _RUNS_SQL.replace("generate_series(1, %(days)s)", "generate_series(0, 0)"),
                    {
                        "ids": [i for n, i in enumerate(ids, 1) if n % 500 == 0],
                        "days": 0,
                        "end": end,
                    },
                )
                if per_run:
                    cursor.execute(_ITEMS_SQL, {"ids": ids, "per_run": per_run})
            log(f"loaded {last + 1}/{merchants} merchants")
        with connection.cursor() as cursor:
            for table in ("core_merchant", "core_syncrun", "core_pushitem"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    return PortalDataset(
        partners=existing,
        merchants=Merchant.objects.filter(partner__in=existing).count(),
        runs=SyncRun.objects.filter(merchant__partner__in=existing).count(),
        items=PushItem.objects.filter(merchant__partner__in=existing).count(),
        reused=reused,
        load_seconds=round(time.monotonic() - began, 1),
    )


def _users(partner: Partner) -> dict[str, Any]:
    """The operator and a support user of `partner` (made by the portal's own
    `support_user_create` command, so the bench imports nothing of the portal)."""
    users = get_user_model().objects
    operator = users.filter(username=OPERATOR).first() or users.create_superuser(
        OPERATOR, email="", password=None
    )
    if not users.filter(username=SUPPORT).exists():
        call_command(
            "support_user_create",
            partner=partner.slug,
            username=SUPPORT,
            email="bench@example.com",
            stdout=io.StringIO(),
        )
    return {"support": users.get(username=SUPPORT), "operator": operator}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": rank(0.95),
        "max": round(ordered[-1], 1),
    }


def portal_probe(*, dataset: PortalDataset, repeat: int) -> dict[str, Any]:
    """Time each page `repeat` times per user; see the module docstring."""
    partner = dataset.partners[0]
    users = _users(partner)
    now = timezone.now()
    week = {
        "created_at__gte": (now - timedelta(days=7)).date().isoformat() + "T00:00:00+00:00",
        "created_at__lt": (now + timedelta(days=1)).date().isoformat() + "T00:00:00+00:00",
    }
    failed = list(
        SyncRun.objects.filter(merchant__partner=partner, status="failed")
        .order_by("-created_at")
        .values_list("pk", "merchant_id")[:2]
    )
    merchants = list(
        Merchant.objects.filter(partner=partner, configured=True)
        .order_by("external_id")
        .values_list("pk", flat=True)[:2]
    )
    if len(failed) < 2 or len(merchants) < 2:
        raise RuntimeError("The bench data is too small: it needs 2 failed runs and 2 merchants")

    def pages(n: int) -> dict[str, list[str]]:
        run_id, _merchant = failed[n]
        merchant = merchants[n]
        query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in week.items())
        return {
            "dashboard": ["/portal/"],
            "sync_list_failed_7_days": [f"/portal/core/syncrun/?status__exact=failed&{query}"],
            "merchant_history": [
                f"/portal/core/merchant/{merchant}/change/",
                f"/portal/core/syncrun/?q={merchant}",
            ],
            "sync_detail": [f"/portal/core/syncrun/{run_id}/change/"],
            # Beyond the four asked for: the health list and the failed items the dashboard links.
            "merchant_list_health": ["/portal/core/merchant/"],
            "failed_push_items": ["/portal/core/pushitem/?status__exact=failed"],
        }

    out: dict[str, Any] = {}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        latency: dict[str, Any] = {}
        queries: dict[str, list[int]] = {}
        for n in range(2):
            for name, urls in pages(n).items():
                counts = []
                for url in urls:
                    with CaptureQueriesContext(connection) as captured:
                        response = client.get(url, secure=True)
                    if response.status_code != 200:
                        raise RuntimeError(f"{role} GET {url}: {response.status_code}")
                    counts.append(len(captured.captured_queries))
                queries.setdefault(name, []).append(sum(counts))
        db_ms: dict[str, Any] = {}
        cpu_ms: dict[str, Any] = {}
        for name, urls in pages(0).items():
            times, in_db, cpu = [], [], []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as captured:
                    began, began_cpu = time.perf_counter(), time.process_time()
                    for url in urls:
                        client.get(url, secure=True)
                    times.append((time.perf_counter() - began) * 1000)
                    cpu.append((time.process_time() - began_cpu) * 1000)
                in_db.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            latency[name] = _percentiles(times)
            db_ms[name] = _percentiles(in_db)
            cpu_ms[name] = _percentiles(cpu)
        out[role] = {
            "latency_ms": latency,
            "db_ms": db_ms,
            "python_cpu_ms": cpu_ms,
            "queries": {name: counts[0] for name, counts in queries.items()},
            "queries_constant": all(len(set(c)) == 1 for c in queries.values()),
        }
    return out
