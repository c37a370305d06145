"""The product's Prometheus metrics, computed when /metrics is scraped.

Syncs run in qcluster workers, webhooks are delivered there too, so the web
process that answers the scrape has not seen them: every figure here is read
from the database at scrape time, with a handful of aggregate queries whose
cost does not grow with history beyond an index range (runs finished in the
last `WINDOW`, by `core_syncrun_finished_at`). django-prometheus adds the
process's own request, response and (optionally) database metrics.

Families (all gauges; the durations are gauge histograms, i.e. a histogram
of the window's runs that may go down as the window moves, written in the
text format as `_bucket` samples with `_gcount` and `_gsum` gauges):

* `commerce_sync_syncs_recent{status_code}`: runs finished in the last 24 h
* `commerce_sync_syncs_in_progress{status_code}`: 1000 running, 1010 running long, queued runs
* `commerce_sync_sync_duration_seconds{kind}`: start to finish of the window's runs
* `commerce_sync_push_duration_seconds`: the push phase of the window's runs
* `commerce_sync_push_items_failed`: push items failed now (retry them)
* `commerce_sync_queue_depth`: django-q2 tasks waiting in the broker
* `commerce_sync_tasks_failed_recent`: django-q2 tasks failed in the window
* `commerce_sync_webhook_deliveries{status}`: delivery attempts by status
  (pending, succeeded, failed: retried later, abandoned: given up)
* `commerce_sync_merchants{state}`: enabled, disabled
* `commerce_sync_incidents_open{kind}`: open alert incidents
* `commerce_sync_metrics_errors`: 1 when a figure could not be read (logged)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from commerce_sync.core.models import Incident, Merchant, PushItem, SyncRun
from commerce_sync.webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)
# Seconds; a day's sync takes seconds, a backfill minutes.
SYNC_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
PUSH_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 600)


def _buckets(rows: dict[str, Any], buckets: tuple[float, ...]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from the `le_<i>` and `count` aggregates."""
    counts = [(str(float(b)), float(rows[f"le_{i}"] or 0)) for i, b in enumerate(buckets)]
    counts.append(("+Inf", float(rows["count"] or 0)))
    return counts


class ProductCollector(Collector):
    """Reads the product's figures from the database on each `collect()`."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        since = now - WINDOW
        errors = 0
        for part in (
            self._syncs,
            self._durations,
            self._push_items,
            self._queue,
            self._webhooks,
            self._merchants,
            self._incidents,
        ):
            try:
                yield from part(since)
            except Exception:
                errors += 1
                log.exception("metric not read", extra={"metric": part.__name__})
        yield GaugeMetricFamily(
            "commerce_sync_metrics_errors", "Figures that could not be read now", value=errors
        )

    def _syncs(self, since: datetime) -> Iterator[Metric]:
        recent = GaugeMetricFamily(
            "commerce_sync_syncs_recent",
            "Sync runs finished in the last 24 hours, by status code",
            labels=["status_code"],
        )
        rows = (
            SyncRun.objects.filter(finished_at__gte=since)
            .values("status_code")
            .annotate(n=Count("id"))
            .order_by("status_code")
        )
        for row in rows:
            recent.add_metric([str(row["status_code"])], row["n"])
        yield recent
        active = GaugeMetricFamily(
            "commerce_sync_syncs_in_progress",
            "Sync runs queued or running now, by status code (1010: running over 10 minutes)",
            labels=["status_code"],
        )
        rows = (
            SyncRun.objects.filter(status__in=[SyncRun.Status.PENDING, SyncRun.Status.RUNNING])
            .values("status_code")
            .annotate(n=Count("id"))
            .order_by("status_code")
        )
        for row in rows:
            active.add_metric([str(row["status_code"])], row["n"])
        yield active

    def _durations(self, since: datetime) -> Iterator[Metric]:
        finished = SyncRun.objects.filter(finished_at__gte=since, started_at__isnull=False)
        seconds = F("finished_at") - F("started_at")
        sync = GaugeHistogramMetricFamily(
            "commerce_sync_sync_duration_seconds",
            "Start-to-finish seconds of the sync runs finished in the last 24 hours, by kind",
            labels=["kind"],
        )
        aggregates = {
            f"le_{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=b)))
            for i, b in enumerate(SYNC_BUCKETS)
        }
        rows = (
            finished.annotate(duration=seconds)
            .values("kind")
            .annotate(count=Count("id"), total=Sum("duration"), **aggregates)
            .order_by("kind")
        )
        for row in rows:
            total = row["total"]
            sync.add_metric(
                [row["kind"]],
                _buckets(row, SYNC_BUCKETS),
                gsum_value=total.total_seconds() if total else 0.0,
            )
        yield sync
        push_seconds = Cast(KT("timings__push"), FloatField())
        pushed = finished.filter(timings__has_key="push").annotate(push=push_seconds)
        row = pushed.aggregate(
            count=Count("id"),
            total=Sum("push"),
            **{f"le_{i}": Count("id", filter=Q(push__lte=b)) for i, b in enumerate(PUSH_BUCKETS)},
        )
        yield GaugeHistogramMetricFamily(
            "commerce_sync_push_duration_seconds",
            "Seconds spent writing push items, per sync run finished in the last 24 hours",
            buckets=_buckets(row, PUSH_BUCKETS),
            gsum_value=float(row["total"] or 0),
        )

    def _push_items(self, since: datetime) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "commerce_sync_push_items_failed",
            "Push items whose write failed and is not retried yet",
            value=PushItem.objects.filter(status=PushItem.Status.FAILED).count(),
        )

    def _queue(self, since: datetime) -> Iterator[Metric]:
        from django_q.brokers import get_broker
        from django_q.models import Failure

        yield GaugeMetricFamily(
            "commerce_sync_queue_depth",
            "django-q2 tasks waiting in the broker",
            value=get_broker().queue_size() or 0,
        )
        yield GaugeMetricFamily(
            "commerce_sync_tasks_failed_recent",
            "django-q2 tasks that failed in the last 24 hours",
            value=Failure.objects.filter(stopped__gte=since).count(),
        )

    def _webhooks(self, since: datetime) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "commerce_sync_webhook_deliveries",
            "Webhook delivery attempts by status (failed: retried later; abandoned: given up)",
            labels=["status"],
        )
        counts = dict(
            WebhookDelivery.objects.values("status")
            .annotate(n=Count("id"))
            .order_by("status")
            .values_list("status", "n")
        )
        for status in WebhookDelivery.Status.values:
            family.add_metric([status], counts.get(status, 0))
        yield family

    def _merchants(self, since: datetime) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "commerce_sync_merchants", "Merchants by state", labels=["state"]
        )
        row = Merchant.objects.aggregate(
            on=Count("pk", filter=Q(enabled=True)), off=Count("pk", filter=Q(enabled=False))
        )
        row = {"enabled": row["on"], "disabled": row["off"]}
        for state in ("enabled", "disabled"):
            family.add_metric([state], row[state])
        yield family

    def _incidents(self, since: datetime) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "commerce_sync_incidents_open", "Open alert incidents by kind", labels=["kind"]
        )
        counts = dict(
            Incident.objects.filter(resolved_at__isnull=True)
            .values("kind")
            .annotate(n=Count("id"))
            .order_by("kind")
            .values_list("kind", "n")
        )
        for kind in Incident.Kind.values:
            family.add_metric([kind], counts.get(kind, 0))
        yield family
