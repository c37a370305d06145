"""Reads of the health portal. Every portal query starts from
`merchants_visible_to(user)`: the one place that decides what a user sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from commerce_sync.core.models import Merchant, PushItem, SyncConfiguration, SyncRun
from commerce_sync.syncs.periods import latest_due, period_due
from portal.counts import daily_counts_kept
from portal.models import PartnerMembership, SyncRunDailyCount
from portal.templatetags.portal_time import when_text

User = AbstractBaseUser | AnonymousUser


def membership_of(user: Any) -> PartnerMembership | None:
    """The user's partner membership (cached on the user object), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_portal_membership"):
        user._portal_membership = (
            PartnerMembership.objects.select_related("partner").filter(user=user).first()
        )
    return user._portal_membership


def is_operator(user: Any) -> bool:
    """Operators are active superusers: they see every partner."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def merchants_visible_to(user: Any) -> QuerySet[Merchant]:
    """Every merchant `user` may see: all for an operator, the partner's for a
    member, none for anyone else. The single selector every portal list,
    detail, filter, search, action and export is scoped by."""
    if is_operator(user):
        return Merchant.objects.all()
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return Merchant.objects.none()
    return Merchant.objects.filter(partner_id=membership.partner_id)


def scope_to_user(queryset: QuerySet, *, user: Any, merchant_path: str) -> QuerySet:
    """`queryset` cut to rows whose `merchant_path` (e.g. "merchant", "pk" for
    merchants themselves) is a merchant visible to `user`."""
    if is_operator(user):
        return queryset
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return queryset.none()
    if merchant_path == "pk":
        return queryset.filter(partner_id=membership.partner_id)
    return queryset.filter(**{f"{merchant_path}__partner_id": membership.partner_id})


# --- Merchant health ---------------------------------------------------------------------


def _non_historic_successes() -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exclude(
        kind=SyncRun.Kind.HISTORIC
    )


def merchants_with_health(merchants: QuerySet[Merchant]) -> QuerySet[Merchant]:
    """`merchants` annotated, per row, with `last_success` (end of the last
    successful non-historic period, aware UTC, or None), `last_finished_status`
    (status of the latest finished run) and `failing_since` (creation of the
    first failed run after the last success). Correlated subqueries on the
    (merchant, period_start) and (merchant, created_at) indexes: a page of
    merchants costs one query whatever the history."""
    last_success = (
        _non_historic_successes()
        .filter(merchant=OuterRef("pk"))
        .order_by("-period_end")
        .values("period_end")[:1]
    )
    last_success_created = (
        SyncRun.objects.filter(merchant=OuterRef(OuterRef("pk")), status="succeeded")
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    latest_finished = (
        SyncRun.objects.filter(merchant=OuterRef("pk"), status__in=["succeeded", "failed"])
        .order_by("-created_at")
        .values("status")[:1]
    )
    first_failure = (
        SyncRun.objects.filter(merchant=OuterRef("pk"), status="failed")
        .filter(
            Q(created_at__gt=Subquery(last_success_created))
            | ~Exists(SyncRun.objects.filter(merchant=OuterRef(OuterRef("pk")), status="succeeded"))
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    return merchants.annotate(
        last_success=Subquery(last_success, output_field=DateTimeField()),
        last_finished_status=Subquery(latest_finished),
        failing_since=Subquery(first_failure, output_field=DateTimeField()),
    )


def merchant_health(merchant: Merchant) -> tuple[str, str]:
    """(key, words) for a merchant annotated by `merchants_with_health`: key is
    "disabled", "not_configured", "failing" or "healthy"; a time in the words
    is in the active zone, named (`portal_time.when_text`)."""
    if not merchant.enabled:
        return "disabled", "Disabled" + (
            f": {merchant.disabled_reason}" if merchant.disabled_reason else ""
        )
    if not merchant.configured:
        return "not_configured", "Not configured"
    if getattr(merchant, "last_finished_status", None) == "failed":
        since = merchant.failing_since
        return "failing", f"Failing since {when_text(since)}" if since else "Failing"
    return "healthy", "Healthy"


HEALTH_FILTERS: dict[str, Q] = {
    "disabled": Q(enabled=False),
    "not_configured": Q(enabled=True, configured=False),
    "failing": Q(enabled=True, configured=True, last_finished_status="failed"),
    "healthy": Q(enabled=True, configured=True) & ~Q(last_finished_status="failed"),
}


# --- The dashboard -----------------------------------------------------------------------


@dataclass
class Dashboard:
    """The portal's figures over [start, end) (aware UTC datetimes; runs are
    counted by their creation time).

    * `per_day`: [(date, {status: count})] for every day of the range.
    * `finished`, `succeeded`, `success_rate` (percent, one decimal, None
      when nothing finished).
    * `failing_merchants`: merchants failing `failing_days` days in a row,
      as of now (see `failing_merchant_ids`).
    * `long_running`: runs now at 1010; `failed_push_items`: items failed now.
    * `disabled`, `not_configured`: merchants now.
    """

    start: datetime
    end: datetime
    failing_days: int
    per_day: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    success_rate: float | None = None
    failing_merchants: int = 0
    failing_merchant_ids: list[str] = field(default_factory=list)
    long_running: int = 0
    failed_push_items: int = 0
    disabled: int = 0
    not_configured: int = 0


STATUSES = [s.value for s in SyncRun.Status]


def dashboard_figures(
    *,
    user: Any,
    start: datetime,
    end: datetime,
    failing_days: int = 3,
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard for what `user` may see (see `Dashboard`). Six aggregate
    queries whatever the data: per status per day (`runs_per_day_and_status`),
    failing merchants, 1010 runs, failed push items, merchant states."""
    out = Dashboard(start=start, end=end, failing_days=failing_days)
    runs = scope_to_user(SyncRun.objects.all(), user=user, merchant_path="merchant")
    counts = runs_per_day_and_status(user=user, start=start, end=end)
    day = start.date()
    while datetime.combine(day, datetime.min.time(), tzinfo=start.tzinfo) < end:
        out.per_day.append((day, {s: counts.get(day, {}).get(s, 0) for s in STATUSES}))
        day += timedelta(days=1)
    out.succeeded = sum(c.get("succeeded", 0) for c in counts.values())
    out.failed = sum(c.get("failed", 0) for c in counts.values())
    out.finished = out.succeeded + out.failed
    if out.finished:
        out.success_rate = round(100 * out.succeeded / out.finished, 1)

    failing = failing_merchant_ids(user=user, end=now or timezone.now(), days=failing_days)
    out.failing_merchant_ids = [str(pk) for pk in failing]
    out.failing_merchants = len(out.failing_merchant_ids)
    out.long_running = runs.filter(status_code=SyncRun.StatusCode.IN_PROGRESS_LONG.value).count()
    out.failed_push_items = scope_to_user(
        PushItem.objects.filter(status=PushItem.Status.FAILED), user=user, merchant_path="merchant"
    ).count()
    states = merchants_visible_to(user).aggregate(
        disabled=Count("pk", filter=Q(enabled=False)),
        not_configured=Count("pk", filter=Q(configured=False)),
    )
    out.disabled = states["disabled"]
    out.not_configured = states["not_configured"]
    return out


def runs_per_day_and_status(
    *, user: Any, start: datetime, end: datetime
) -> dict[date, dict[str, int]]:
    """{UTC day: {status: runs}} for the runs `user` may see created in the
    UTC days from `start`'s to the one holding `end` (exclusive when `end` is
    a midnight; `start` is read as its day). Days and statuses without runs
    are absent. On PostgreSQL from the trigger-kept `SyncRunDailyCount` (a
    few rows per partner and day, whatever the number of runs); elsewhere by
    counting the runs."""
    first = start.astimezone(UTC).date()
    end_utc = end.astimezone(UTC)
    last = (
        end_utc.date() if end_utc.time() == datetime.min.time() else end_utc.date() + timedelta(1)
    )
    counts: dict[date, dict[str, int]] = {}
    if daily_counts_kept():
        rows = SyncRunDailyCount.objects.filter(day__gte=first, day__lt=last)
        if not is_operator(user):
            membership = membership_of(user)
            if membership is None or not user.is_active:
                return counts
            rows = rows.filter(partner_id=membership.partner_id)
        query = rows.values("day", "status").annotate(n=Sum("n")).order_by()
    else:
        runs = scope_to_user(SyncRun.objects.all(), user=user, merchant_path="merchant")
        lower = datetime.combine(first, datetime.min.time(), UTC)
        upper = datetime.combine(last, datetime.min.time(), UTC)
        query = (
            runs.filter(created_at__gte=lower, created_at__lt=upper)
            .annotate(day=TruncDate("created_at", tzinfo=UTC))
            .values("day", "status")
            .annotate(n=Count("*"))
            .order_by()
        )
    for row in query:
        if row["n"]:
            counts.setdefault(row["day"], {})[row["status"]] = row["n"]
    return counts


def failing_merchant_ids(*, user: Any, end: datetime, days: int) -> QuerySet:
    """Ids (a values_list queryset, usable as a subquery) of the visible
    merchants failing `days` days in a row up to `end`: runs failed on at
    least `days` distinct UTC days among the `days` days before `end`'s day
    and `end`'s day itself (today's run may not have run yet), and none
    succeeded in that time. One aggregate query: the failed runs of the
    window (index on status, created_at), each merchant's successes checked
    on (merchant, created_at)."""
    runs = scope_to_user(SyncRun.objects.all(), user=user, merchant_path="merchant")
    first_day = datetime.combine((end - timedelta(days=days)).date(), datetime.min.time(), UTC)
    window = {"created_at__gte": first_day, "created_at__lt": end}
    succeeded = SyncRun.objects.filter(
        merchant_id=OuterRef("merchant_id"), status="succeeded", **window
    )
    return (
        runs.filter(status="failed", **window)
        .filter(~Exists(succeeded))
        .values("merchant_id")
        .annotate(fail_days=Count(TruncDate("created_at", tzinfo=UTC), distinct=True))
        .filter(fail_days__gte=days)
        .order_by()
        .values_list("merchant_id", flat=True)
    )


def last_success_of(merchant: Merchant) -> datetime | None:
    """End of the merchant's last successful non-historic period, or None."""
    return (
        _non_historic_successes()
        .filter(merchant=merchant)
        .aggregate(last=Max("period_end"))["last"]
    )


def next_due_words(merchant: Merchant, now: datetime | None = None) -> str:
    """When the merchant's next period is due, from `syncs.periods`: "due now
    (start to end)", "next at <instant>" (times in the active zone, named:
    `portal_time.when_text`), or why never."""
    if not merchant.enabled:
        return "never (disabled)"
    config: SyncConfiguration | None = getattr(merchant, "sync_configuration", None)
    if config is None or not merchant.configured:
        return "never (not configured)"
    now = now or timezone.now()
    due = period_due(config=config, last_success=getattr(merchant, "last_success", None), now=now)
    if due is not None:
        return f"due now ({when_text(due[0])} to {when_text(due[1])})"
    return f"next at {when_text(latest_due(config, now + timedelta(days=1)))}"
