"""The schedule: which merchants to enqueue, long runs, and the 31-day rule.

The dispatcher (`commerce_sync.core.tasks.dispatch_due_syncs`) runs every few
minutes on any worker. Everything it does is safe to do twice: a merchant
enqueued twice syncs once (the lock) and the second task finds nothing due.
A merchant whose syncs fail for 31 days of periods is disabled here, and
turned back on here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from commerce_sync.core.models import Connection, Incident, Merchant, SyncRun
from commerce_sync.core.services.alerts import alert_raise, incident_resolve
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.syncs.periods import last_success_ends, period_due
from commerce_sync.webhooks.events import webhook_sync_disabled

DISABLE_AFTER_DAYS = 31
LONG_RUN = timedelta(minutes=10)
# A run requested through the API waits this long for its worker; older, its
# task is taken as lost: the next sync of the merchant fails it and goes on.
QUEUED_EXPIRY = timedelta(minutes=30)
DISPATCH_SCHEDULE_NAME = "dispatch-due-syncs"
DISPATCH_EVERY_MINUTES = 5


def merchants_due(*, now: datetime | None = None) -> list[Merchant]:
    """Enabled, configured merchants with both connections linked, no run in
    progress or queued (a requested run younger than `QUEUED_EXPIRY`), and a
    period due at `now` (default: the current time)."""
    now = now or timezone.now()
    linked = Connection.objects.filter(status=Connection.Status.LINKED)
    candidates = (
        Merchant.objects.filter(enabled=True, configured=True, sync_configuration__isnull=False)
        .filter(connections__in=linked.filter(source_type=Connection.SourceType.COMMERCE))
        .filter(connections__in=linked.filter(source_type=Connection.SourceType.ACCOUNTING))
        .select_related("sync_configuration")
        .distinct()
    )
    last_success = last_success_ends()
    running = set(
        SyncRun.objects.filter(
            Q(status=SyncRun.Status.RUNNING)
            | Q(status=SyncRun.Status.PENDING, created_at__gte=now - QUEUED_EXPIRY)
        ).values_list("merchant_id", flat=True)
    )
    return [
        merchant
        for merchant in candidates
        if period_due(
            config=merchant.sync_configuration, last_success=last_success.get(merchant.pk), now=now
        )
        is not None
        and merchant.pk not in running
    ]


def long_runs_flag(*, now: datetime | None = None) -> int:
    """Runs in progress for over ten minutes show 1010 instead of 1000;
    returns how many were flagged."""
    now = now or timezone.now()
    return SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING,
        status_code=SyncRun.StatusCode.IN_PROGRESS,
        started_at__lt=now - LONG_RUN,
    ).update(status_code=SyncRun.StatusCode.IN_PROGRESS_LONG)


def merchant_disable_if_failing(*, merchant: Merchant, run: SyncRun, actor: str = SYSTEM) -> bool:
    """After a failed run: when nothing has succeeded for 31 days of
    periods, stop syncing and say why (audited; the partner and merchant
    are alerted). Returns whether the merchant was disabled."""
    if run.status != SyncRun.Status.FAILED:
        return False
    failing_since = run.period_start
    if run.period_end - failing_since < timedelta(days=DISABLE_AFTER_DAYS):
        return False
    last_error = next(
        (m["message"] for m in reversed(run.messages) if m.get("level") == "error"), ""
    )
    reason = (
        f"Sync failed for {DISABLE_AFTER_DAYS} consecutive days (since {failing_since:%Y-%m-%d}); "
        f"last error: {last_error or f'status {run.status_code}'}. Fix the cause, then re-enable."
    )
    with transaction.atomic():
        merchant.enabled = False
        merchant.disabled_reason = reason
        merchant.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        audit_log_write(
            actor=actor, action="merchant.sync_disabled", obj=merchant, changes={"reason": reason}
        )
        alert_raise(
            merchant=merchant,
            code=Incident.Kind.SYNC_DISABLED,
            message=reason,
            actor=actor,
            detail={"failing_since": f"{failing_since:%Y-%m-%d}"},
        )
        webhook_sync_disabled(merchant=merchant, reason=reason)
    return True


@transaction.atomic
def merchant_sync_enable(
    *, merchant: Merchant, start_date: date | None = None, actor: str = SYSTEM
) -> Merchant:
    """Turn a disabled merchant back on; a new start date skips the days it
    was off (the configuration keeps a version of the change)."""
    merchant.enabled = True
    merchant.disabled_reason = ""
    merchant.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    audit_log_write(
        actor=actor,
        action="merchant.sync_enabled",
        obj=merchant,
        changes={"start_date": start_date},
    )
    incident_resolve(merchant=merchant, kind=Incident.Kind.SYNC_DISABLED, actor=actor)
    if start_date is not None:
        config = merchant.sync_configuration
        sync_configuration_save(
            merchant=merchant,
            document=config.document,
            start_date=start_date,
            sync_hour=config.sync_hour,
            time_zone=config.time_zone,
            frequency=config.frequency,
            actor=actor,
        )
        merchant.refresh_from_db()
    return merchant
