"""What is due: the one place that turns a merchant's schedule into a period.

A period runs from the end of the last successful non-historic run (or the
configured start, if that is later) to the latest sync hour that has passed,
both in the merchant's time zone. The dispatcher (`scheduling.merchants_due`)
and the run (`runs.sync_run_execute`) both ask `period_due`; they differ only
in how they fetch the last success (all merchants at once, or one).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from django.db.models import Max, QuerySet
from django.utils import timezone

from commerce_sync.core.models import Merchant, SyncConfiguration, SyncRun
from commerce_sync.errors import ConfigurationError
from mapping.periods import business_day, local_instant, zone


def latest_due(config: SyncConfiguration, now: datetime) -> datetime:
    """The most recent sync hour that has passed at `now`, in the merchant's
    zone (an aware datetime)."""
    tz = zone(config.time_zone)
    return local_instant(business_day(now, config.sync_hour, tz), config.sync_hour, tz)


def period_due(
    *, config: SyncConfiguration, last_success: datetime | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """(start, end) of what is due at `now` given the end of the last
    successful period (None: never synced), or None when nothing is."""
    start = local_instant(config.start_date, config.sync_hour, zone(config.time_zone))
    if last_success is not None:
        start = max(start, last_success)
    end = latest_due(config, now)
    return (start, end) if end > start else None


def _successes() -> QuerySet[SyncRun]:
    """Runs that count as covering their period (historic ranges do not move it)."""
    return SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exclude(
        kind=SyncRun.Kind.HISTORIC
    )


def last_success_ends() -> dict[UUID, datetime]:
    """Merchant id -> end of its last successful period, for every merchant
    that has one (one query, for the dispatcher)."""
    rows = _successes().values("merchant_id").annotate(last=Max("period_end"))
    return {row["merchant_id"]: row["last"] for row in rows}


def merchant_period_due(
    *, merchant: Merchant, now: datetime | None = None, until: date | None = None
) -> tuple[datetime, datetime] | None:
    """The merchant's due period at `now` (default: the current time), cut
    at the sync hour of business day `until` when given; None when nothing
    is due. Reads `merchant.sync_configuration`."""
    config = merchant.sync_configuration
    last = (
        _successes()
        .filter(merchant=merchant)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    due = period_due(config=config, last_success=last, now=now or timezone.now())
    if due is None or until is None:
        return due
    start, end = due
    end = min(end, local_instant(until, config.sync_hour, zone(config.time_zone)))
    return (start, end) if end > start else None


# The longest explicit range `manage.py sync --from` takes in one command (the
# partner API's historic request and the setup flow's backfill allow the same).
HISTORIC_MAX_DAYS = 366


def merchant_period_between(
    *, merchant: Merchant, first: date, until: date, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """An explicit range of business days, `first` to `until` (exclusive), as
    instants at the merchant's sync hour. Raises ConfigurationError when the
    range is empty or reversed, or ends after the latest sync hour passed at
    `now` (default: the current time): a day that has not ended has no
    complete sales to post."""
    config = merchant.sync_configuration
    tz = zone(config.time_zone)
    if until <= first:
        raise ConfigurationError(f"The range ends ({until}) on or before it starts ({first})")
    start, end = (
        local_instant(first, config.sync_hour, tz),
        local_instant(until, config.sync_hour, tz),
    )
    latest = latest_due(config, now or timezone.now())
    if end > latest:
        last_day = business_day(latest, config.sync_hour, tz) - timedelta(days=1)
        raise ConfigurationError(
            f"The range runs to {until - timedelta(days=1)}, a business day that has not "
            f"ended yet for {merchant.name}: the last complete day is {last_day}; "
            "end the range on it or earlier"
        )
    return start, end


def historic_range_check(*, first: date, until: date) -> None:
    """Refuse (ConfigurationError) a range of business days [first, until)
    longer than `HISTORIC_MAX_DAYS`, before anything of it runs."""
    if (until - first).days > HISTORIC_MAX_DAYS:
        raise ConfigurationError(
            f"A historic sync covers at most {HISTORIC_MAX_DAYS} days; {first} to "
            f"{until - timedelta(days=1)} is {(until - first).days}: split it into several"
        )
