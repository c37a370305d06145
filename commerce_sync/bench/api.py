"""The partner API benchmark: N merchants with a year of daily sync runs each
in PostgreSQL, mixed partner traffic through gunicorn at a fixed rate.

Three parts, each usable alone:

* `dataset_ensure`: the data, loaded in bulk (merchants, connections and
  configurations with `bulk_create`, the runs with one `INSERT ... SELECT
  generate_series` per thousand merchants, computed by PostgreSQL) under the
  partner `bench-api`. The partner's name is the marker: it names N and the
  days only once the load has finished, so a rerun with the same sizes reuses
  the data and an interrupted or different load is wiped and rebuilt.
  Two probe merchants (1 run and 365 runs) come with it: `runs` in the
  report counts theirs too.
* `query_counts`: queries per request type on the two probes, in-process.
* `gunicorn_server`: gunicorn on 127.0.0.1 as a subprocess with production
  settings (DEBUG off, persistent database connections, throttles raised),
  stopped on the way out whatever happens.
* `load_drive`: an open-loop generator. Request i is due at start + i/rate
  whatever happened to the ones before it, a pool of threads sends them with
  `http.client`, and a request's latency is measured from the moment it was
  due (so time spent queued in the client counts: no coordinated omission).
  The server's CPU per request (all gunicorn processes, from /proc) is
  reported too: on a shared machine it is steadier than the latencies.

Setup writes rows without the services and audit trail (a benchmark's own
fixtures); the traffic goes through the real API.
"""

from __future__ import annotations

import base64
import http.client
import io
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import Resolver404, resolve
from django.utils import timezone

from commerce_sync.bench.fleet import _database_url, _descendants
from commerce_sync.core.models import Connection, Merchant, Partner, SyncConfiguration, SyncRun
from commerce_sync.core.services.connections import connection_target
from commerce_sync.core.services.demo import demo_configuration, ledger_open_demo_accounts
from commerce_sync.core.services.partners import partner_api_key_create

ROOT = Path(settings.BASE_DIR)
PARTNER_SLUG = "bench-api"
LOADING_NAME = "API benchmark (loading)"
BATCH = 2000  # rows per bulk_create
RUN_BATCH_MERCHANTS = 1000  # merchants per INSERT ... SELECT of runs
PROBE_RUNS = (1, 365)  # the query-count probe: a merchant with 1 run, one with 365
RAISED_RATE = "1000000/s"  # the partner's limits, out of the load's way (still counted)

# Request type -> (method, path below /api/v1/ with {id} for the company),
# Codat's Sync for Commerce paths (shared/reference/codat/Codat-Sync-Commerce.yaml).
REQUEST_TYPES: dict[str, tuple[str, str]] = {
    "status": ("GET", "meta/companies/{id}/sync/commerce/status"),  # get-sync-status
    "list": ("GET", "companies/{id}/sync/commerce/syncs/list/status"),  # list-syncs
    "latest": ("GET", "companies/{id}/sync/commerce/syncs/latest/status"),  # get-latest-sync
    "last_successful": (
        "GET",
        "companies/{id}/sync/commerce/syncs/lastSuccessful/status",  # get-last-successful-sync
    ),
    "config": ("GET", "config/companies/{id}/sync/commerce"),  # get-configuration
    "sync": ("POST", "companies/{id}/sync/commerce/latest"),  # request-sync
}
DEFAULT_MIX = "status=35,list=20,latest=15,last_successful=5,config=20,sync=5"

# Failed runs: (status code, message), as the engine records them.
FAILURES = [
    (4220, "connection_deauthorized", "The accounting connection was deauthorised."),
    (5130, "write_failed", "The ledger refused a journal entry: account is closed."),
    (5120, "data_error", "An order has a negative total."),
    (4000, "configuration_error", "Payment type 'voucher' is not mapped to an account."),
]


def mix_parse(text: str) -> dict[str, int]:
    """`"status=40,list=30"` -> `{"status": 40, "list": 30}`; zero weights are
    dropped. Raises ValueError naming an unknown type or a bad weight."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in REQUEST_TYPES:
            raise ValueError(
                f"unknown request type {name!r} in --mix; known: {sorted(REQUEST_TYPES)}"
            )
        try:
            value = int(weight)
        except ValueError:
            raise ValueError(
                f"--mix weight for {name!r} must be a whole number, not {weight!r}"
            ) from None
        if value < 0:
            raise ValueError(f"--mix weight for {name!r} must be 0 or more")
        if value:
            mix[name] = value
    if not mix:
        raise ValueError("--mix gives every request type a zero weight")
    return mix


def endpoint_available(request_type: str) -> bool:
    """Whether this build routes the request type's path (the endpoints are
    being added in parallel; the bench measures what exists)."""
    _method, path = REQUEST_TYPES[request_type]
    try:
        match = resolve("/api/v1/" + path.format(id="00000000-0000-0000-0000-000000000000"))
    except Resolver404:
        return False
    # Without the specific route, `syncs/latest/status` would fall to sync-by-id.
    return match.url_name != "sync-by-id" or request_type not in {
        "latest",
        "last_successful",
        "list",
    }


# Data -------------------------------------------------------------------------


@dataclass
class Dataset:
    partner: Partner
    merchant_ids: list[str]  # the load's targets (probes excluded)
    probes: dict[int, str]  # runs -> merchant id
    runs: int
    reused: bool
    load_seconds: float


def _marker(merchants: int, days: int) -> str:
    return f"API benchmark: {merchants} merchants x {days} days"


def _ledger_path() -> Path:
    """One Beancount ledger shared by every bench merchant (their accounts are
    the demo café's), named after the database so tests and bench differ."""
    return (
        Path(settings.LEDGER_DIR).resolve()
        / f"bench-api-{connection.settings_dict['NAME']}.beancount"
    )


def dataset_wipe(partner: Partner) -> None:
    """Delete the bench partner and everything under it. The runs go by one
    SQL DELETE (the ORM would load millions of rows to cascade)."""
    for rel in SyncRun._meta.related_objects:
        rel.related_model.objects.filter(
            **{f"{rel.field.name}__merchant__partner": partner}
        ).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {SyncRun._meta.db_table} WHERE merchant_id IN "  # noqa: S608
            f"(SELECT id FROM {Merchant._meta.db_table} WHERE partner_id = %s)",
            [partner.pk],
        )
    Merchant.objects.filter(partner=partner).delete()
    partner.delete()


def _merchants_create(partner: Partner, names: list[str], days: int, ledger: str) -> list[Merchant]:
    today = timezone.localdate()
    merchants = Merchant.objects.bulk_create(
        [
            Merchant(
                partner=partner,
                external_id=name,
                name=f"Bench {name}",
                country="GB",
                currency="GBP",
                time_zone="Europe/London",
                configured=True,
            )
            for name in names
        ],
        batch_size=BATCH,
    )
    # As the demo café: sandbox POS in, Beancount ledger out (one shared file).
    Connection.objects.bulk_create(
        [
            conn
            for m in merchants
            for conn in (
                Connection(
                    merchant=m,
                    platform_key="sandbox",
                    source_type=Connection.SourceType.COMMERCE,
                    status=Connection.Status.LINKED,
                    settings={"orders_per_day": 20},
                ),
                Connection(
                    merchant=m,
                    platform_key="beancount",
                    source_type=Connection.SourceType.ACCOUNTING,
                    status=Connection.Status.LINKED,
                    settings={"ledger_path": ledger},
                ),
            )
        ],
        batch_size=BATCH,
    )
    document = demo_configuration()
    SyncConfiguration.objects.bulk_create(
        [
            SyncConfiguration(
                merchant=m,
                document=document,
                start_date=today - timedelta(days=days),
                sync_hour=0,
                time_zone="Europe/London",
                version=1,
            )
            for m in merchants
        ],
        batch_size=BATCH,
    )
    return merchants


_RUNS_SQL = """
INSERT INTO {table} (id, merchant_id, kind, period_start, period_end, status, status_code,
                     messages, counters, timings, data_pushed, created_at, started_at, finished_at)
SELECT gen_random_uuid(), m.id, 'scheduled', p.start, p.start + interval '1 day',
       CASE WHEN f.failed THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN f.failed THEN (%(codes)s::int[])[f.pick + 1]
            WHEN (m.rn + g.n) %% 17 = 0 THEN 2040 ELSE 2000 END,
       CASE WHEN f.failed THEN jsonb_build_array(jsonb_build_object(
                'level', 'error', 'code', (%(slugs)s::text[])[f.pick + 1],
                'message', (%(texts)s::text[])[f.pick + 1]))
            ELSE '[]'::jsonb END,
       jsonb_build_object('documents', CASE WHEN f.failed THEN 0 ELSE 3 END,
                          'records_read', jsonb_build_object('orders', 20)),
       '{{}}'::jsonb,
       NOT f.failed AND (m.rn + g.n) %% 17 <> 0,
       p.start + interval '1 day 1 hour', p.start + interval '1 day 1 hour',
       p.start + interval '1 day 1 hour 3 seconds'
FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS m(id, rn)
CROSS JOIN LATERAL generate_series(1, %(days)s) AS g(n)
CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - g.n * interval '1 day' AS start) AS p
CROSS JOIN LATERAL (SELECT (m.rn * 7919 + g.n * 104729) %% 100 < 4 AS failed,
                           ((m.rn + g.n) %% %(nfail)s)::int AS pick) AS f
"""


def _runs_insert(merchant_ids: list, days: int) -> None:
    """`days` daily runs per merchant, the last one for the day before
    yesterday (so a sync request has a day to cover): about 4 in 100 failed
    (with a status code and message), the rest succeeded."""
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute(
            _RUNS_SQL.format(table=SyncRun._meta.db_table),
            {
                "ids": merchant_ids,
                "days": days,
                "end": end,
                "codes": [code for code, _, _ in FAILURES],
                "slugs": [slug for _, slug, _ in FAILURES],
                "texts": [text for _, _, text in FAILURES],
                "nfail": len(FAILURES),
            },
        )


def dataset_ensure(
    *, merchants: int, days: int, reset: bool = False, log: Callable[[str], None] = print
) -> Dataset:
    """The bench partner with `merchants` merchants of `days` runs each, plus
    the two probes; reused when already loaded with the same sizes."""
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "bench_api needs PostgreSQL: set DATABASE_URL=postgres://... to a database of its own "
            f"(this one is {connection.vendor})"
        )
    began = time.monotonic()
    call_command("createcachetable", verbosity=0)  # the API's throttle cache, if in the DB
    partner = Partner.objects.filter(slug=PARTNER_SLUG).first()
    reused = partner is not None and not reset and partner.name == _marker(merchants, days)
    if partner is not None and not reused:
        log(f"wiping the previous bench data ({partner.name})")
        dataset_wipe(partner)
    if not reused:
        partner = Partner.objects.create(name=LOADING_NAME, slug=PARTNER_SLUG)
        ledger = _ledger_path()
        ledger.parent.mkdir(parents=True, exist_ok=True)
        ledger.unlink(missing_ok=True)
        names = [f"bench-{n}" for n in range(merchants)] + [f"probe-{r}" for r in PROBE_RUNS]
        log(f"creating {len(names)} merchants with connections and configurations")
        created = []
        for start in range(0, len(names), 10 * BATCH):
            with transaction.atomic():
                created += _merchants_create(
                    partner, names[start : start + 10 * BATCH], days, str(ledger)
                )
        accounting = Connection.objects.filter(
            merchant=created[0], source_type=Connection.SourceType.ACCOUNTING
        ).get()
        ledger_open_demo_accounts(connection_target(connection=accounting))
        targets = [m.pk for m in created[:merchants]]
        for start in range(0, len(targets), RUN_BATCH_MERCHANTS):
            with transaction.atomic():
                _runs_insert(targets[start : start + RUN_BATCH_MERCHANTS], days)
            log(f"runs: {min(start + RUN_BATCH_MERCHANTS, len(targets))}/{len(targets)} merchants")
        for probe, runs in zip(created[merchants:], PROBE_RUNS, strict=True):
            _runs_insert([probe.pk], runs)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {SyncRun._meta.db_table}")
        partner.name = _marker(merchants, days)
        partner.save(update_fields=["name"])
    else:
        log(f"reusing {partner.name}")
        # Runs the previous bench's sync requests left: not part of the history.
        SyncRun.objects.filter(merchant__partner=partner).exclude(
            kind=SyncRun.Kind.SCHEDULED
        ).delete()
    ids = dict(Merchant.objects.filter(partner=partner).values_list("external_id", "pk"))
    targets = [str(ids[f"bench-{n}"]) for n in range(merchants)]
    probes = {runs: str(ids[f"probe-{runs}"]) for runs in PROBE_RUNS}
    run_count = SyncRun.objects.filter(merchant__partner=partner).count()
    return Dataset(partner, targets, probes, run_count, reused, time.monotonic() - began)


# Query counts -------------------------------------------------------------------


def query_counts(
    *, api_key: str, probes: dict[int, str], types: list[str], warm_merchant: str
) -> dict:
    """Queries per request type, measured in-process with
    CaptureQueriesContext on each probe merchant: `{type: {"runs_1": n,
    "runs_365": n, "status": [http, http]}}`. Each type is first sent once to
    `warm_merchant` (the process's one-off lookups, e.g. content types, are
    not per request); reads are measured on their second call to the probe (a
    warm cache, as under load), sync requests on their first (a second would
    be an overlap), with django-q enqueueing, never running."""
    auth = "Basic " + base64.b64encode(api_key.encode()).decode()
    client = Client(HTTP_AUTHORIZATION=auth)
    out: dict[str, dict] = {}
    with (
        override_settings(
            ALLOWED_HOSTS=["*"],
            SECURE_SSL_REDIRECT=False,
            PARTNER_API_RATE=RAISED_RATE,
            PARTNER_API_SYNC_RATE=RAISED_RATE,
        ),
        mock.patch("django_q.conf.Conf.SYNC", False),
    ):
        for request_type in types:
            method, path = REQUEST_TYPES[request_type]
            row: dict = {"status": []}
            body = "{}" if method == "POST" else ""
            client.generic(
                method, "/api/v1/" + path.format(id=warm_merchant), body, "application/json"
            )
            for runs, merchant_id in probes.items():
                url = "/api/v1/" + path.format(id=merchant_id)
                if method == "GET":
                    client.get(url)
                with CaptureQueriesContext(connection) as captured:
                    response = client.generic(method, url, body, "application/json")
                row[f"runs_{runs}"] = len(captured.captured_queries)
                row["status"].append(response.status_code)
            out[request_type] = row
    SyncRun.objects.filter(merchant__in=[*probes.values(), warm_merchant]).exclude(
        kind=SyncRun.Kind.SCHEDULED
    ).delete()
    return out


def cpu_per_request(
    *, api_key: str, merchant_ids: list[str], types: list[str], requests: int = 200, seed: int = 3
) -> dict[str, float]:
    """CPU milliseconds per request of each read type, in this process:
    `requests` requests straight through Django's WSGI handler (every
    middleware, no HTTP server, no client), companies drawn from
    `merchant_ids`, timed with `time.process_time`. Unlike latencies it
    hardly moves when other processes load the machine. Sync requests are
    left out (each would queue a run)."""
    auth = "Basic " + base64.b64encode(api_key.encode()).decode()
    handler = WSGIHandler()
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets

    def call(path: str) -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": auth,
            "HTTP_ACCEPT": "application/json",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
        }
        b"".join(handler(environ, lambda status, headers: None))

    out = {}
    with override_settings(ALLOWED_HOSTS=["*"], SECURE_SSL_REDIRECT=False):
        for request_type in types:
            method, path = REQUEST_TYPES[request_type]
            if method != "GET":
                continue
            for _ in range(10):  # warm: the process's one-off imports and lookups
                call("/api/v1/" + path.format(id=rng.choice(merchant_ids)))
            paths = ["/api/v1/" + path.format(id=rng.choice(merchant_ids)) for _ in range(requests)]
            began = time.process_time()
            for one in paths:
                call(one)
            out[request_type] = round((time.process_time() - began) * 1000 / requests, 2)
    return out


# Server -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(*, conn_max_age: int = 60, rate_limit_redis_url: str = "") -> dict[str, str]:
    """Production settings for gunicorn on the bench's database, with the
    bench process's own secrets (the connections' credentials were encrypted
    with its CREDENTIALS_KEYS), the partner throttles raised out of the way
    and persistent database connections kept `conn_max_age` seconds (0: a new
    PostgreSQL connection per request, the settings' default)."""
    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ENV_FILE": "",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY or secrets.token_urlsafe(50),
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PARTNER_API_RATE": RAISED_RATE,
        "PARTNER_API_SYNC_RATE": RAISED_RATE,
        "LEDGER_DIR": str(Path(settings.LEDGER_DIR).resolve()),
        "Q_SYNC": "0",  # sync requests are enqueued; no cluster runs them
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": str(conn_max_age),
        # Rate limits counted in Redis when given, else by one database upsert.
        "RATE_LIMIT_REDIS_URL": rate_limit_redis_url,
    }


@contextmanager
def gunicorn_server(
    *,
    workers: int,
    worker_class: str,
    threads: int,
    log_path: Path,
    conn_max_age: int = 60,
    rate_limit_redis_url: str = "",
    boot_timeout: float = 60.0,
) -> Iterator[tuple[str, int]]:
    """Yields `("http://127.0.0.1:<port>", gunicorn's pid)` once /healthz answers; the server is
    stopped (SIGTERM, then SIGKILL) on the way out, error or not. Raises
    RuntimeError with the log's tail if it does not come up."""
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn", "commerce_sync.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--threads", str(threads),
        "--backlog", "2048",
        "--timeout", "60",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=ROOT,
            env=server_environment(
                conn_max_age=conn_max_age, rate_limit_redis_url=rate_limit_redis_url
            ),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + boot_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({process.returncode}): {_tail(log_path)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn did not answer /healthz in {boot_timeout:.0f} s: {_tail(log_path)}"
                )
            time.sleep(0.2)
        yield base, process.pid
    finally:
        _stop(process)


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (gunicorn's
    master and workers), from /proc; 0 where unreadable."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass


# Load ---------------------------------------------------------------------------


@dataclass
class Sample:
    request_type: str
    outcome: str  # the HTTP status as text, or "timeout" / "error" / "unfinished"
    latency_ms: float  # from the moment the request was due


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    planned: int = 0
    elapsed: float = 0.0  # from the first due time to the last answer
    dispatch_lag_ms: float = 0.0  # how late the generator handed out the last request


def load_drive(
    *,
    base_url: str,
    api_key: str,
    merchant_ids: list[str],
    mix: dict[str, int],
    rate: float,
    seconds: float,
    threads: int = 64,
    timeout: float = 10.0,
    seed: int = 1,
) -> LoadResult:
    """Sends round(rate * seconds) requests to 127.0.0.1 only, request i due
    at start + i / rate, types drawn by `mix` weight, companies uniformly
    from `merchant_ids`. Stops waiting `timeout` seconds after the last is
    due; whatever has not answered by then is counted "unfinished"."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    if host != "127.0.0.1":
        raise ValueError("the load generator only talks to 127.0.0.1")
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    planned = max(1, round(rate * seconds))
    kinds = rng.choices(list(mix), weights=list(mix.values()), k=planned)
    companies = [rng.choice(merchant_ids) for _ in range(planned)]
    auth = "Basic " + base64.b64encode(api_key.encode()).decode()
    local = threading.local()
    samples: list[Sample | None] = [None] * planned
    stop = threading.Event()

    def send(i: int, due: float) -> None:
        if stop.is_set():
            return
        request_type = kinds[i]
        method, path = REQUEST_TYPES[request_type]
        headers = {"Authorization": auth, "Accept": "application/json"}
        body = None
        if method == "POST":
            body = b"{}"
            headers["Content-Type"] = "application/json"
        try:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
            conn.request(method, "/api/v1/" + path.format(id=companies[i]), body, headers)
            response = conn.getresponse()
            response.read()
            outcome = str(response.status)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except TimeoutError:
            outcome = "timeout"
            local.conn = None
        except (OSError, http.client.HTTPException):
            outcome = "error"
            local.conn = None
        samples[i] = Sample(request_type, outcome, (time.perf_counter() - due) * 1000)

    result = LoadResult(planned=planned)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-load")
    futures = []
    start = time.perf_counter() + 0.05
    try:
        for i in range(planned):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(send, i, due))
        result.dispatch_lag_ms = max(0.0, (time.perf_counter() - due) * 1000)
        futures_wait(futures, timeout=timeout + 1)
        # Anything still waiting is abandoned: bounded in time whatever the server does.
        stop.set()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    finished = time.perf_counter()
    answered = [s for s in samples if s is not None]
    result.elapsed = finished - start
    result.samples = answered + [
        Sample(kinds[i], "unfinished", timeout * 1000) for i, s in enumerate(samples) if s is None
    ]
    return result


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)

    return {
        "count": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1], 1),
    }


def load_summary(result: LoadResult) -> dict:
    """Latency percentiles (ms) overall, for reads (every GET type) and per
    type; errors (every answer but 2xx) by outcome."""
    ok = [s for s in result.samples if s.outcome.startswith("2")]
    per_type = {}
    for request_type in sorted({s.request_type for s in result.samples}):
        mine = [s for s in result.samples if s.request_type == request_type]
        per_type[request_type] = {
            **_percentiles([s.latency_ms for s in mine if s.outcome.startswith("2")]),
            "requests": len(mine),
            "errors": dict(Counter(s.outcome for s in mine if not s.outcome.startswith("2"))),
        }
    reads = [s for s in ok if REQUEST_TYPES[s.request_type][0] == "GET"]
    answered = [s for s in result.samples if s.outcome not in {"unfinished"}]
    return {
        "requests": result.planned,
        "answered": len(answered),
        "ok": len(ok),
        "rate_achieved": round(len(answered) / result.elapsed, 1) if result.elapsed else None,
        "elapsed_seconds": round(result.elapsed, 2),
        "generator_lag_ms": round(result.dispatch_lag_ms, 1),
        "errors": dict(Counter(s.outcome for s in result.samples if not s.outcome.startswith("2"))),
        "latency_ms": {
            "overall": _percentiles([s.latency_ms for s in ok]),
            "reads": _percentiles([s.latency_ms for s in reads]),
            "per_type": per_type,
        },
    }


# The whole bench ------------------------------------------------------------------


def run_bench(
    *,
    merchants: int,
    days: int,
    rate: float,
    seconds: float,
    mix: dict[str, int],
    workers: int,
    worker_class: str,
    threads: int,
    conn_max_age: int = 60,
    rate_limit_redis_url: str = "",
    cpu_requests: int = 200,
    reset: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Load (or reuse) the data, measure query counts in-process, drive the
    load through gunicorn; the JSON-ready report."""
    load_before = os.getloadavg()
    data = dataset_ensure(merchants=merchants, days=days, reset=reset, log=log)
    _key, api_key = partner_api_key_create(
        partner=data.partner, name=f"bench {timezone.now():%Y-%m-%d %H:%M:%S}"
    )
    asked = dict(mix)
    unavailable = sorted(t for t in asked if not endpoint_available(t))
    mix = {t: w for t, w in asked.items() if t not in unavailable}
    log(f"data ready in {data.load_seconds:.1f} s ({data.runs} runs); counting queries")
    queries = query_counts(
        api_key=api_key,
        probes=data.probes,
        types=sorted(mix),
        warm_merchant=data.merchant_ids[-1],
    )
    log(f"measuring CPU per read in-process ({cpu_requests} requests per type)")
    # The server's limits (a slot taken here at the default rate would push
    # the partner's shared count out of the server's reach).
    with override_settings(
        RATE_LIMIT_REDIS_URL=rate_limit_redis_url,
        PARTNER_API_RATE=RAISED_RATE,
        PARTNER_API_SYNC_RATE=RAISED_RATE,
    ):
        in_process_cpu = cpu_per_request(
            api_key=api_key,
            merchant_ids=data.merchant_ids,
            types=sorted(mix),
            requests=cpu_requests,
        )
    constant = all(
        len({v for k, v in row.items() if k.startswith("runs_")}) == 1 for row in queries.values()
    )
    log_path = Path(tempfile.gettempdir()) / f"bench-api-gunicorn-{os.getpid()}.log"
    log(
        f"starting gunicorn: {workers} {worker_class} worker(s) x {threads} thread(s); log {log_path}"
    )
    with gunicorn_server(
        workers=workers,
        worker_class=worker_class,
        threads=threads,
        log_path=log_path,
        conn_max_age=conn_max_age,
        rate_limit_redis_url=rate_limit_redis_url,
    ) as (base_url, server_pid):
        log(f"driving {rate:g} requests/s for {seconds:g} s at {base_url}")
        load_during = os.getloadavg()
        result = LoadResult()  # nothing routed: the server is still started and stopped
        reads = {t: w for t, w in mix.items() if REQUEST_TYPES[t][0] == "GET"}
        warmup = max(20, workers * threads * len(reads) * 3) if reads else 0
        if warmup:
            # Every worker imports and connects on its first requests: not measured.
            load_drive(
                base_url=base_url,
                api_key=api_key,
                merchant_ids=data.merchant_ids,
                mix=reads,
                rate=50,
                seconds=warmup / 50,
                seed=2,
            )
        server_cpu = process_tree_cpu_seconds(server_pid)
        own_cpu = sum(os.times()[:2])
        if mix:
            result = load_drive(
                base_url=base_url,
                api_key=api_key,
                merchant_ids=data.merchant_ids,
                mix=mix,
                rate=rate,
                seconds=seconds,
            )
        server_cpu = process_tree_cpu_seconds(server_pid) - server_cpu
        own_cpu = sum(os.times()[:2]) - own_cpu
    # The runs the load's sync requests queued are not part of the history.
    SyncRun.objects.filter(merchant__partner=data.partner).exclude(
        kind=SyncRun.Kind.SCHEDULED
    ).delete()
    summary = load_summary(result)
    per_request = max(1, summary["answered"])
    return {
        "merchants": merchants,
        "days": days,
        "runs": data.runs,
        "data_reused": data.reused,
        "data_seconds": round(data.load_seconds, 1),
        "server": {
            "gunicorn_workers": workers,
            "worker_class": worker_class,
            "threads": threads,
            "debug": False,
            "conn_max_age": conn_max_age,
            "throttle": "on, raised to 1000000/s",
            "rate_limit_store": "redis" if rate_limit_redis_url else "database",
        },
        "warmup_requests": warmup,
        "rate_asked": rate,
        "seconds": seconds,
        "mix_asked": asked,
        "mix": mix,
        "unavailable": unavailable,
        **summary,
        # CPU spent per answered request: the server's (all gunicorn
        # processes) and the load generator's, whatever else the machine runs.
        "cpu_ms_per_request": {
            "server": round(server_cpu * 1000 / per_request, 2),
            "load_generator": round(own_cpu * 1000 / per_request, 2),
            # Per read type, through Django's WSGI handler in this process (no
            # server, no client): steady even on a shared, loaded machine.
            "in_process_per_type": in_process_cpu,
        },
        "queries": queries,
        "queries_constant": constant,
        "cpus": os.cpu_count(),
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "at_load_start": [round(x, 2) for x in load_during],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
    }
