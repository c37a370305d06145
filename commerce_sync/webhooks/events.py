"""The events the core emits, built from its objects: one function per
hook, each called in one line where the thing happens, each never raising
(a webhook never fails the work it reports; errors are logged).

Payloads carry only the partner's own ids, statuses, messages and dates,
never credentials or connection settings. The body sent is
{"type": ..., "timestamp": ISO date-time, "data": {...}} where `data` is:

* sync.completed / sync.failed: companyId, syncId, kind (scheduled, latest,
  historic), status, statusCode, statusText, periodStart, periodEnd,
  startedAt, finishedAt, dataPushed, errorMessage (the last error, or null)
* sync.disabled: companyId, reason, disabledAt
* connection.created / connection.deauthorized: companyId, connectionId,
  platformKey, sourceType, status, reason (deauthorized only)
* configuration.updated: companyId, version, changed (field names), updatedDate
* alert.raised / alert.resolved (sent by `core/services/alerts.py`, once per
  incident): companyId, incidentId, kind (sync_failed, sync_disabled,
  connection_deauthorized, payout_residual), key (a connection or payout id,
  or ""), message, openedAt, resolvedAt (null while open), detail (the
  kind's facts: failing_days, payout figures ...), settingsUrl
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, SyncConfiguration, SyncRun
from commerce_sync.errors import StatusCode
from commerce_sync.webhooks.services import webhook_event_emit

log = logging.getLogger(__name__)
P = ParamSpec("P")


def _never_raises(function: Callable[P, Any]) -> Callable[P, None]:
    @wraps(function)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            function(*args, **kwargs)
        except Exception:
            log.exception("webhook event not built", extra={"hook": function.__name__})

    return safe


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@_never_raises
def webhook_sync_run_finished(*, run: SyncRun) -> None:
    """After a run's status move: sync.completed or sync.failed when it
    ended (any other move emits nothing)."""
    if run.status == SyncRun.Status.SUCCEEDED:
        type = "sync.completed"
    elif run.status == SyncRun.Status.FAILED:
        type = "sync.failed"
    else:
        return
    errors = [m.get("message") for m in run.messages or [] if m.get("level") == "error"]
    try:
        status_text = StatusCode(run.status_code).label
    except ValueError:
        status_text = ""
    webhook_event_emit(
        partner=run.merchant.partner_id,
        type=type,
        data={
            "companyId": str(run.merchant_id),
            "syncId": str(run.pk),
            "kind": run.kind,
            "status": run.status,
            "statusCode": int(run.status_code),
            "statusText": status_text,
            "periodStart": _iso(run.period_start),
            "periodEnd": _iso(run.period_end),
            "startedAt": _iso(run.started_at),
            "finishedAt": _iso(run.finished_at),
            "dataPushed": bool(run.data_pushed),
            "errorMessage": str(errors[-1])[:1000] if errors else None,
        },
    )


@_never_raises
def webhook_sync_disabled(*, merchant: Merchant, reason: str) -> None:
    """sync.disabled: the merchant's syncs stopped (31 days of failures)."""
    webhook_event_emit(
        partner=merchant.partner_id,
        type="sync.disabled",
        data={
            "companyId": str(merchant.pk),
            "reason": reason[:1000],
            "disabledAt": timezone.now().isoformat(),
        },
    )


@_never_raises
def webhook_connection_changed(*, connection: Connection, type: str) -> None:
    """connection.created or connection.deauthorized for `connection`."""
    data: dict[str, Any] = {
        "companyId": str(connection.merchant_id),
        "connectionId": str(connection.pk),
        "platformKey": connection.platform_key,
        "sourceType": connection.source_type,
        "status": connection.status,
    }
    if type == "connection.deauthorized":
        data["reason"] = (connection.last_error or "")[:1000]
    webhook_event_emit(partner=connection.merchant.partner_id, type=type, data=data)


@_never_raises
def webhook_configuration_updated(
    *, merchant: Merchant, config: SyncConfiguration, changed: list[str]
) -> None:
    """configuration.updated: a new version of `merchant`'s configuration."""
    webhook_event_emit(
        partner=merchant.partner_id,
        type="configuration.updated",
        data={
            "companyId": str(merchant.pk),
            "version": config.version,
            "changed": list(changed),
            "updatedDate": _iso(config.updated_at),
        },
    )
