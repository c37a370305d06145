"""Alerts: what support and the merchant must hear of without looking.

Four things raise an **incident** (`Incident`): a failing sync (kind
`sync_failed`), a merchant disabled after a month of failures
(`sync_disabled`), a deauthorised connection (`connection_deauthorized`,
one per connection) and a payout that does not match what it settles
(`payout_residual`, one per payout; see `payouts.payout_residuals`).

An incident stays open while its cause lasts and is alerted **once**: the
first time it is seen, or for a failing sync once it has failed the
partner's `alert_after_failing_days` days in a row. Repeats of the cause only
refresh it (`last_seen_at`, `detail`). It is resolved when the cause goes
(a sync succeeds, the merchant is enabled, the connection is authorised
again, the payout reconciles); the next failure is a new incident and alerts
again.

An alert goes, each recorded as an `Alert` row (admin: Alerts):

* by email to the partner's support team (`Partner.alert_emails`, plus the
  operators' `ALERT_EMAILS`), in English, with the merchant's ids;
* by email to the merchant (`Merchant.alert_email`, unless
  `alerts_opt_out`), in the merchant's language (`Merchant.language`, en or
  fr, Django gettext), saying what happened, what to do, and linking their
  alert settings page (a signed link, `merchant_alerts.alert_settings_url`);
* to the partner's webhooks as `alert.raised` (and `alert.resolved` when it
  ends), through the API's delivery log.

Emails leave after the change that raised them commits, through Django's
mail backend (`EMAIL_BACKEND`: SMTP by default, console in development, any
django-anymail provider); a failure is recorded on the row and logged,
never raised. Once a day (`setup_schedules`), each partner with something
open or resolved in the last 24 hours gets a digest (`alerts_digests_send`).

Nothing here ever fails a sync: the hooks called from the sync engine log
and swallow their errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial, wraps
from typing import Any, ParamSpec
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from commerce_sync.core.models import Alert, Connection, Incident, Merchant, Partner, SyncRun
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.merchant_alerts import alert_settings_url
from commerce_sync.core.services.payouts import payout_residuals
from commerce_sync.webhooks.services import webhook_event_emit

log = logging.getLogger(__name__)
P = ParamSpec("P")
Kind = Incident.Kind
DIGEST_WINDOW = timedelta(hours=24)
DIGEST_TASK = "commerce_sync.core.tasks.alerts_digests_send"


def _never_raises(function: Callable[P, Any]) -> Callable[P, None]:
    @wraps(function)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            function(*args, **kwargs)
        except Exception:
            log.exception("alert hook failed", extra={"hook": function.__name__})

    return safe


# Recipients and links ---------------------------------------------------------------


def partner_support_recipients(*, partner: Partner) -> list[str]:
    """The addresses that receive `partner`'s support alerts and digest: the
    partner's `alert_emails`, then the operators' `ALERT_EMAILS`, each once,
    in that order."""
    seen: dict[str, None] = {}
    for address in [*(partner.alert_emails or []), *settings.ALERT_EMAILS]:
        address = str(address).strip()
        if address and address.lower() not in {a.lower() for a in seen}:
            seen[address] = None
    return list(seen)


def merchant_settings_link(merchant: Merchant) -> str:
    """The merchant's alert settings page, a signed link of its own that
    needs no session (see `merchant_alerts.alert_settings_url`)."""
    return alert_settings_url(merchant)


def _portal_link() -> str:
    return f"{settings.SITE_URL}/portal/"


# Texts --------------------------------------------------------------------------------


def _facts(incident: Incident) -> dict[str, Any]:
    from commerce_sync.core.platforms import NAMES

    merchant = incident.merchant
    detail = incident.detail or {}
    return {
        "name": merchant.name,
        "partner": merchant.partner.name,
        "days": detail.get("failing_days", ""),
        "since": detail.get("failing_since") or incident.opened_at.astimezone(UTC).date(),
        "error": incident.message or _("no error was recorded"),
        "platform": NAMES.get(detail.get("platform", ""), detail.get("platform", "")),
        "payout": detail.get("payout_id", ""),
        "amount": f"{detail.get('amount', '')} {detail.get('currency', '')}".strip(),
        "residual": f"{detail.get('residual', '')} {detail.get('currency', '')}".strip(),
        "link": merchant_settings_link(merchant),
    }


def _subject(kind: str, facts: dict[str, Any]) -> str:
    """The merchant's subject line, in the active language."""
    if kind == Kind.SYNC_FAILED:
        return _("%(name)s: your sales have not reached your accounts since %(since)s") % facts
    if kind == Kind.SYNC_DISABLED:
        return _("%(name)s: syncing to your accounts has stopped") % facts
    if kind == Kind.CONNECTION_DEAUTHORIZED:
        return _("%(name)s: reconnect %(platform)s") % facts
    return _("%(name)s: payout %(payout)s does not match its sales") % facts


def _what_happened(kind: str, facts: dict[str, Any]) -> str:
    if kind == Kind.SYNC_FAILED:
        return (
            _(
                "The daily sync of %(name)s to your accounting software has failed for "
                "%(days)s day(s) in a row, since %(since)s."
            )
            % facts
        )
    if kind == Kind.SYNC_DISABLED:
        return (
            _(
                "Syncing has been stopped for %(name)s because it failed every day for a "
                "month: nothing is posted to your accounts until it is turned back on."
            )
            % facts
        )
    if kind == Kind.CONNECTION_DEAUTHORIZED:
        return (
            _(
                "The connection of %(name)s to %(platform)s is no longer authorised, so "
                "nothing can be synced through it."
            )
            % facts
        )
    return (
        _(
            "Payout %(payout)s of %(amount)s does not equal the payments, refunds and fees "
            "it settles: %(residual)s is unexplained."
        )
        % facts
    )


def _what_to_do(kind: str, facts: dict[str, Any]) -> str:
    if kind == Kind.SYNC_FAILED:
        return _(
            "Open your settings page, check that every account is mapped and that your "
            "connections are still linked, then save. The next sync covers the missed days "
            "by itself; nothing is lost."
        )
    if kind == Kind.SYNC_DISABLED:
        return (
            _(
                "Fix the cause on your settings page (account mappings, connections), then ask "
                "%(partner)s support to turn syncing back on; the missed days are synced then."
            )
            % facts
        )
    if kind == Kind.CONNECTION_DEAUTHORIZED:
        return (
            _(
                "Open your settings page and reconnect %(platform)s. Syncing resumes at the next "
                "scheduled sync and catches up the days missed."
            )
            % facts
        )
    return _(
        "Compare the payout with your payment provider's statement: a fee or refund missing "
        "from your point of sale is the usual cause. Correct it there; the next sync posts "
        "the difference."
    )


def _merchant_email(incident: Incident) -> tuple[str, str]:
    """(subject, body) for the merchant, in the active language."""
    facts = _facts(incident)
    lines = [
        _("Hello,"),
        "",
        _what_happened(incident.kind, facts),
        _("What went wrong: %(error)s") % facts,
        "",
        _("What to do: %(todo)s") % {"todo": _what_to_do(incident.kind, facts)},
        "",
        _("Your settings: %(link)s") % facts,
        "",
        _(
            "You receive this email because alerts are on for %(name)s. You can turn them "
            "off on your settings page."
        )
        % facts,
    ]
    return _subject(incident.kind, facts), "\n".join(lines)


def _support_email(incident: Incident) -> tuple[str, str]:
    """(subject, body) for the partner's support team (English)."""
    merchant = incident.merchant
    with translation.override("en"):
        facts = _facts(incident)
        subject = (
            f"[Commerce Sync] {merchant.name}: {incident.get_kind_display().lower()} "
            f"({incident.kind})"
        )
        lines = [
            _what_happened(incident.kind, facts),
            f"Detail: {incident.message or '-'}",
            "",
            f"Merchant: {merchant.name}",
            f"Merchant id: {merchant.pk}",
            f"Your merchant id: {merchant.external_id or '-'}",
            f"Incident: {incident.pk}, open since {incident.opened_at:%Y-%m-%d %H:%M} UTC",
            "",
            f"What to do: {_what_to_do(incident.kind, facts)}",
            f"Merchant's settings page: {facts['link']}",
            f"Health portal: {_portal_link()}",
        ]
        if not merchant.alert_email or merchant.alerts_opt_out:
            lines.append("The merchant was not emailed (no alert address, or opted out).")
    return subject, "\n".join(lines)


# Sending -------------------------------------------------------------------------------


def _email_send(alert_id: int) -> None:
    """Send the email stored as `Alert` `alert_id` and record the outcome."""
    alert = Alert.objects.get(pk=alert_id)
    if alert.status != Alert.Status.PENDING:
        return
    try:
        EmailMessage(
            subject=alert.subject,
            body=alert.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(alert.recipients),
        ).send()
    except Exception as error:
        log.exception("alert email not sent", extra={"alert": alert_id})
        alert.status = Alert.Status.FAILED
        alert.error = f"{type(error).__name__}: {error}"[:2000]
    else:
        alert.status = Alert.Status.SENT
        alert.sent_at = timezone.now()
    alert.save(update_fields=["status", "error", "sent_at"])


def _email_queue(**fields: Any) -> Alert:
    """Record an email to send after commit; returns the row."""
    alert = Alert.objects.create(channel=Alert.Channel.EMAIL, **fields)
    transaction.on_commit(partial(_never_raises(_email_send), alert.pk), robust=True)
    return alert


def _webhook_data(incident: Incident) -> dict[str, Any]:
    detail = dict(incident.detail or {})
    return {
        "companyId": str(incident.merchant_id),
        "incidentId": incident.pk,
        "kind": incident.kind,
        "key": incident.key,
        "message": incident.message[:1000],
        "openedAt": incident.opened_at.isoformat(),
        "resolvedAt": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "detail": detail,
        "settingsUrl": merchant_settings_link(incident.merchant),
    }


def _webhook_send(incident: Incident, type: str, kind: str) -> None:
    event = webhook_event_emit(
        partner=incident.merchant.partner_id, type=type, data=_webhook_data(incident)
    )
    if event is not None:
        Alert.objects.create(
            partner_id=incident.merchant.partner_id,
            merchant=incident.merchant,
            incident=incident,
            kind=kind,
            channel=Alert.Channel.WEBHOOK,
            audience=Alert.Audience.PARTNER_API,
            subject=type,
            webhook_event_id=event.id,
            status=Alert.Status.SENT,  # delivery and retries: the webhook delivery log
            sent_at=timezone.now(),
        )


def _incident_alert(incident: Incident, now: datetime) -> None:
    """Send the incident's alerts (support, merchant, webhooks) and mark it alerted."""
    merchant = incident.merchant
    incident.alerted_at = now
    incident.save(update_fields=["alerted_at"])
    common = {
        "partner_id": merchant.partner_id,
        "merchant": merchant,
        "incident": incident,
        "kind": incident.kind,
    }
    support = partner_support_recipients(partner=merchant.partner)
    if support:
        subject, body = _support_email(incident)
        _email_queue(
            audience=Alert.Audience.SUPPORT,
            recipients=support,
            language="en",
            subject=subject[:300],
            body=body,
            **common,
        )
    if merchant.alert_email and not merchant.alerts_opt_out:
        language = merchant.language or settings.LANGUAGE_CODE
        with translation.override(language):
            subject, body = _merchant_email(incident)
        _email_queue(
            audience=Alert.Audience.MERCHANT,
            recipients=[merchant.alert_email],
            language=language,
            subject=subject[:300],
            body=body,
            **common,
        )
    _webhook_send(incident, "alert.raised", incident.kind)
    audit_log_write(
        actor=SYSTEM,
        action=f"alert.{incident.kind}",
        obj=merchant,
        changes={"incident": incident.pk, "message": incident.message},
    )
    # The words in the message too: the laptop demo's text logs drop `extra`,
    # and a bare "alert" on standard error told the operator nothing.
    log.error(
        "alert %s for %s: %s",
        incident.kind,
        merchant.name,
        incident.message,
        extra={"merchant": str(merchant.pk), "alert": incident.kind, "detail": incident.message},
    )


# Incidents -----------------------------------------------------------------------------


def incident_report(
    *,
    merchant: Merchant,
    kind: str,
    message: str,
    key: str = "",
    detail: dict[str, Any] | None = None,
    alert: bool = True,
    now: datetime | None = None,
) -> Incident:
    """The cause of an incident of `kind` (an `Incident.Kind`) about
    `merchant` (and `key` within it) was seen at `now`: open the incident if
    none is open, else refresh it; send its alerts once, when `alert` is
    true and it has not been alerted. Returns the incident. Atomic."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(merchant=merchant, kind=kind, key=key, resolved_at__isnull=True)
            .first()
        )
        if incident is None:
            try:
                with transaction.atomic():
                    incident = Incident.objects.create(
                        merchant=merchant,
                        kind=kind,
                        key=key,
                        message=message,
                        detail=detail or {},
                        opened_at=now,
                        last_seen_at=now,
                    )
            except IntegrityError:  # opened meanwhile by another worker
                incident = Incident.objects.select_for_update().get(
                    merchant=merchant, kind=kind, key=key, resolved_at__isnull=True
                )
        else:
            incident.message = message
            incident.detail = {**incident.detail, **(detail or {})}
            incident.last_seen_at = now
            incident.save(update_fields=["message", "detail", "last_seen_at"])
        incident.merchant = merchant
        if alert and incident.alerted_at is None:
            _incident_alert(incident, now)
    return incident


def incident_resolve(
    *,
    merchant: Merchant,
    kind: str,
    key: str = "",
    actor: str = SYSTEM,
    now: datetime | None = None,
) -> Incident | None:
    """Close `merchant`'s open incident of `kind` (and `key`), if any; the
    partner's webhooks hear `alert.resolved` when it had been alerted.
    Returns the incident closed, or None. Atomic."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(merchant=merchant, kind=kind, key=key, resolved_at__isnull=True)
            .first()
        )
        if incident is None:
            return None
        incident.resolved_at = now
        incident.save(update_fields=["resolved_at"])
        incident.merchant = merchant
        audit_log_write(
            actor=actor,
            action="incident.resolve",
            obj=merchant,
            changes={"incident": incident.pk, "kind": kind, "key": key},
        )
        if incident.alerted_at is not None:
            _webhook_send(incident, "alert.resolved", "resolved")
    return incident


def alert_raise(
    *,
    merchant: Merchant,
    code: str,
    message: str,
    actor: str = SYSTEM,
    key: str = "",
    detail: dict[str, Any] | None = None,
) -> Incident:
    """An incident of kind `code` ("sync_disabled", "connection_deauthorized",
    ...) about `merchant`, alerted once (see `incident_report`)."""
    return incident_report(merchant=merchant, kind=code, message=message, key=key, detail=detail)


# Hooks called by the sync engine ------------------------------------------------------


def _local_day(merchant: Merchant, moment: datetime) -> str:
    """The merchant's business day (ISO date) of `moment`, in its time zone."""
    config = getattr(merchant, "sync_configuration", None)
    zone = ZoneInfo(config.time_zone if config is not None else merchant.time_zone)
    return moment.astimezone(zone).date().isoformat()


def failing_days(run: SyncRun) -> int:
    """Days a failed scheduled/latest run has been failing: its period runs
    from the end of the last success, so its length in days (at least 1)."""
    return max(1, round((run.period_end - run.period_start) / timedelta(days=1)))


@_never_raises
def alerts_after_run(*, run: SyncRun) -> None:
    """After a run ended: a failed scheduled/latest run opens or refreshes
    the merchant's `sync_failed` incident (alerted once it has failed the
    partner's threshold of days); a succeeded one resolves it. Payouts in a
    succeeded run's period are reconciled: a residual opens a `payout_residual`
    incident per payout, a payout that now reconciles resolves its own."""
    if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        return
    # A savepoint: an error here leaves the caller's transaction usable.
    with transaction.atomic():
        _after_run(run)


def _after_run(run: SyncRun) -> None:
    merchant = run.merchant  # the engine's own object: its configuration is loaded
    open_ = set(
        Incident.objects.filter(merchant=merchant, resolved_at__isnull=True).values_list(
            "kind", "key"
        )
    )
    if run.kind != SyncRun.Kind.HISTORIC:
        if run.status == SyncRun.Status.FAILED:
            days = failing_days(run)
            errors = [m.get("message", "") for m in run.messages or [] if m.get("level") == "error"]
            incident_report(
                merchant=merchant,
                kind=Kind.SYNC_FAILED,
                message=str(errors[-1]) if errors else f"Status {run.status_code}",
                detail={
                    "failing_days": days,
                    "failing_since": _local_day(merchant, run.period_start),
                    "sync_id": str(run.pk),
                    "status_code": int(run.status_code),
                },
                alert=days >= merchant.partner.alert_after_failing_days,
            )
        elif (Kind.SYNC_FAILED, "") in open_:
            incident_resolve(merchant=merchant, kind=Kind.SYNC_FAILED)
    # Payouts are judged against what was posted: a refused run's mapping
    # (its configuration may be the very problem) says nothing about them.
    if run.status == SyncRun.Status.SUCCEEDED and run.counters.get("records_read"):
        payouts_check(
            merchant=merchant,
            start=run.period_start,
            end=run.period_end,
            open_keys={key for kind, key in open_ if kind == Kind.PAYOUT_RESIDUAL},
        )


def payouts_check(
    *, merchant: Merchant, start: datetime, end: datetime, open_keys: set[str] | None = None
) -> int:
    """Reconcile `merchant`'s payouts created in [start, end): an incident
    per payout with a residual, resolving those that now match (`open_keys`:
    the payout ids with an open incident, when the caller knows them; else
    each matching payout is looked up). Returns how many have a residual."""
    flagged = 0
    for result in payout_residuals(merchant=merchant, start=start, end=end):
        if result.residual is None:
            continue
        if result.flagged:
            flagged += 1
            incident_report(
                merchant=merchant,
                kind=Kind.PAYOUT_RESIDUAL,
                key=result.payout_id,
                message=(
                    f"Payout {result.payout_id} of {result.amount} {result.currency} leaves "
                    f"{result.residual} {result.currency} in the clearing account"
                ),
                detail={
                    "payout_id": result.payout_id,
                    "amount": str(result.amount),
                    "currency": result.currency,
                    "residual": str(result.residual),
                    "payments": str(result.payments),
                    "refunds": str(result.refunds),
                    "fees": str(result.fees + result.fee_refunds),
                },
            )
        elif open_keys is None or result.payout_id in open_keys:
            incident_resolve(merchant=merchant, kind=Kind.PAYOUT_RESIDUAL, key=result.payout_id)
    return flagged


@_never_raises
def alerts_after_connection_linked(*, connection: Connection) -> None:
    """A connection authorised again ends its deauthorisation incident."""
    incident_resolve(
        merchant=connection.merchant,
        kind=Kind.CONNECTION_DEAUTHORIZED,
        key=str(connection.pk),
    )


# The daily digest ----------------------------------------------------------------------


def alerts_digest_send(*, partner: Partner, now: datetime | None = None) -> Alert | None:
    """`partner`'s digest for the day of `now` (UTC): the incidents open now
    and those resolved in the last 24 hours, mailed to the support team.
    Sent at most once a day (a second call returns None), and not at all
    when there is nothing to say or nobody to tell (None)."""
    now = now or timezone.now()
    day: date = now.astimezone(UTC).date()
    recipients = partner_support_recipients(partner=partner)
    if not recipients:
        return None
    incidents = Incident.objects.filter(merchant__partner=partner).select_related("merchant")
    open_ = list(incidents.filter(resolved_at__isnull=True).order_by("opened_at"))
    resolved = list(
        incidents.filter(resolved_at__gte=now - DIGEST_WINDOW, resolved_at__lte=now).order_by(
            "resolved_at"
        )
    )
    if not open_ and not resolved:
        return None
    lines = [f"Commerce Sync daily digest for {partner.name}, {day:%Y-%m-%d}.", ""]
    lines.append(f"Open incidents: {len(open_)}")
    for incident in open_:
        alerted = "alerted" if incident.alerted_at else "below the alert threshold"
        lines.append(
            f"- {incident.merchant.name} ({incident.merchant.external_id or incident.merchant_id}): "
            f"{incident.get_kind_display()} since {incident.opened_at:%Y-%m-%d %H:%M} UTC, "
            f"{alerted}. {incident.message}"
        )
    lines += ["", f"Resolved in the last 24 hours: {len(resolved)}"]
    for incident in resolved:
        lines.append(
            f"- {incident.merchant.name}: {incident.get_kind_display()} "
            f"({incident.opened_at:%Y-%m-%d %H:%M} to {incident.resolved_at:%Y-%m-%d %H:%M} UTC)"
        )
    lines += ["", f"Health portal: {_portal_link()}"]
    try:
        with transaction.atomic():
            return _email_queue(
                partner=partner,
                kind="digest",
                audience=Alert.Audience.SUPPORT,
                recipients=recipients,
                language="en",
                subject=f"[Commerce Sync] {partner.name}: {len(open_)} open incident(s), "
                f"{len(resolved)} resolved ({day:%Y-%m-%d})",
                body="\n".join(lines),
                digest_date=day,
            )
    except IntegrityError:  # today's digest went already
        return None


def alerts_digests_send(*, now: datetime | None = None) -> int:
    """Every partner's daily digest (see `alerts_digest_send`); returns how
    many were sent. One partner's failure is logged and the others go on."""
    sent = 0
    for partner in Partner.objects.order_by("pk"):
        try:
            if alerts_digest_send(partner=partner, now=now) is not None:
                sent += 1
        except Exception:
            log.exception("digest failed", extra={"partner": partner.slug})
    return sent
