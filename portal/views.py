"""The portal's own pages (dashboard, merchant and sync detail, invitations).

Thin: they read through `portal.selectors`, act through the core services,
and are reached only through `portal.sites`, which scopes the object first.
"""

from __future__ import annotations

import difflib
import json
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from commerce_sync.core.admin import EmailListField
from commerce_sync.core.models import (
    Connection,
    Merchant,
    PushItem,
    SyncConfigurationVersion,
    SyncRun,
)
from commerce_sync.core.services.partners import partner_alerts_set
from commerce_sync.core.services.payouts import payout_reports
from commerce_sync.core.services.syncs import sync_request
from commerce_sync.errors import ApplicationError
from commerce_sync.syncs.recovery import push_items_retry_failed
from portal.explain import message_advice, status_words
from portal.models import PartnerMembership
from portal.selectors import (
    Dashboard,
    dashboard_figures,
    is_operator,
    membership_of,
    merchant_health,
    next_due_words,
)
from portal.services import (
    membership_time_zone_set,
    support_user_create,
    support_user_deactivate,
    support_user_link_reissue,
)

# --- The dashboard ---------------------------------------------------------------------------

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "pending": "#9e9e9e"}


def _date_param(request: HttpRequest, name: str) -> date | None:
    text = request.GET.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        messages.error(request, f"{name}={text!r} is not a date (YYYY-MM-DD): ignored")
        return None


def whole_number(text: str) -> int | None:
    """`text` as a non-negative whole number in ASCII digits, else None
    ("²" and "٣" pass str.isdigit(); the first then breaks int())."""
    return int(text) if text.isascii() and text.isdigit() else None


def _runs_url(**params: str) -> str:
    return reverse("portal:core_syncrun_changelist") + "?" + urlencode(params)


def _day_bounds(day: date) -> tuple[str, str]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


# The longest range the dashboard draws (a bar a day): longer ones are cut, said.
MAX_RANGE_DAYS = 366


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's context: ?from, ?to (dates, UTC days, `to` inclusive;
    default the last 30 days to now; a future `to` is today, and a range over
    MAX_RANGE_DAYS starts that many days before its end, each said in a
    message) and ?failing_days (default 3)."""
    now = timezone.now()
    try:
        start, end = _dashboard_range(request, now)
    except OverflowError:  # e.g. to=0001-01-01: 30 days before it is no date
        messages.error(request, "The range is out of bounds: showing the last 30 days")
        end, start = now, datetime.combine((now - timedelta(days=29)).date(), time(), tzinfo=UTC)
    failing_text = request.GET.get("failing_days", "3")
    failing_days = whole_number(failing_text) or 0
    failing_days = failing_days if failing_days < 367 else 0
    if not failing_days:
        messages.error(request, f"Failing for {failing_text!r} days is not 1 to 366: showing 3")
        failing_days = 3
    figures = dashboard_figures(user=request.user, start=start, end=end, failing_days=failing_days)
    range_params = {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}
    merchants = reverse("portal:core_merchant_changelist")
    links = {
        "success_rate": _runs_url(**range_params),
        "succeeded": _runs_url(status__exact="succeeded", **range_params),
        "failed": _runs_url(status__exact="failed", **range_params),
        "failing_merchants": f"{merchants}?failing_days={failing_days}",
        "long_running": _runs_url(status_code__exact="1010"),
        "failed_push_items": reverse("portal:core_pushitem_changelist") + "?status__exact=failed",
        "disabled": f"{merchants}?enabled__exact=0",
        "not_configured": f"{merchants}?configured__exact=0",
    }
    return {
        "dashboard": figures,
        "chart": chart_svg(figures),
        "links": links,
        "range_from": start.date().isoformat(),
        "range_to": (end - timedelta(microseconds=1)).date().isoformat(),
        "colours": COLOURS,
        "membership": membership_of(request.user),
        "is_operator": is_operator(request.user),
    }


def chart_svg(figures: Dashboard, height: int = 160) -> SafeString:
    """Runs per status per day as an inline SVG stacked bar chart (no script,
    no external asset); each bar segment links to that day's runs of that
    status and carries a <title> with the figure."""
    days = figures.per_day
    width_per_day = 22
    top = max([sum(c.values()) for _, c in days] + [1])
    bars = []
    for index, (day, counts) in enumerate(days):
        x = 30 + index * width_per_day
        y = height
        gte, lt = _day_bounds(day)
        for status in ("succeeded", "failed", "running", "pending"):
            n = counts.get(status, 0)
            if not n:
                continue
            h = max(1, round((height - 10) * n / top))
            y -= h
            bars.append(
                format_html(
                    '<a href="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {}</title></rect></a>",
                    _runs_url(status__exact=status, created_at__gte=gte, created_at__lt=lt),
                    x,
                    y,
                    width_per_day - 4,
                    h,
                    COLOURS[status],
                    day.isoformat(),
                    status,
                    n,
                )
            )
        if index % 7 == 0:
            bars.append(
                format_html(
                    '<text x="{}" y="{}" font-size="10">{}</text>',
                    x,
                    height + 14,
                    day.strftime("%m-%d"),
                )
            )
    width = 40 + len(days) * width_per_day
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Syncs per status per day"'
        ' width="{}" height="{}" viewBox="0 0 {} {}">'
        '<text x="0" y="10" font-size="10">{}</text><line x1="28" y1="{}" x2="{}" y2="{}"'
        ' stroke="#666"/>{}</svg>',
        width,
        height + 20,
        width,
        height + 20,
        top,
        height,
        width,
        height,
        format_html_join("", "{}", ((bar,) for bar in bars)),
    )


def _dashboard_range(request: HttpRequest, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the dashboard's ?from and ?to (see `dashboard_context`).
    Raises OverflowError for dates too near date.min."""
    first = _date_param(request, "from")
    last = _date_param(request, "to")
    if last is not None and last > now.date():
        messages.info(request, f"to={last} is in the future: showing up to today")
        last = now.date()
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC) if last else now
    start = (
        datetime.combine(first, time(), tzinfo=UTC)
        if first
        else datetime.combine((end - timedelta(days=30)).date(), time(), tzinfo=UTC)
        + timedelta(days=1)
    )
    if start >= end:
        messages.error(request, "The range ends before it starts: showing the last 30 days")
        end, start = now, datetime.combine((now - timedelta(days=29)).date(), time(), tzinfo=UTC)
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        start = datetime.combine((end - timedelta(days=MAX_RANGE_DAYS)).date(), time(), tzinfo=UTC)
        messages.warning(
            request,
            f"The dashboard shows at most {MAX_RANGE_DAYS} days: showing from {start.date()}",
        )
    return start, end


# --- Merchants -------------------------------------------------------------------------------


def _version_document(version: SyncConfigurationVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "frequency": version.frequency,
        "startDate": version.start_date.isoformat(),
        "syncHour": version.sync_hour,
        "timeZone": version.time_zone,
        "createdBy": version.created_by,
        "createdAt": version.created_at.isoformat(),
        "configuration": version.document,
    }


def merchant_detail(request: HttpRequest, *, merchant: Merchant, context: dict[str, Any]) -> Any:
    """A merchant's page: health, connections, configuration versions, runs."""
    versions = list(SyncConfigurationVersion.objects.filter(merchant=merchant).order_by("-version"))
    current = getattr(merchant, "sync_configuration", None)
    runs = list(SyncRun.objects.filter(merchant=merchant).order_by("-created_at")[:25])
    return TemplateResponse(
        request,
        "portal/merchant_detail.html",
        {
            **context,
            "title": merchant.name,
            "merchant": merchant,
            "health": merchant_health(merchant),
            "next_due": next_due_words(merchant),
            "connections": Connection.objects.filter(merchant=merchant)
            .defer("credentials")
            .order_by("source_type", "created_at"),
            "configuration": current,
            "configuration_json": json.dumps(
                current.document, indent=2, sort_keys=True, cls=DjangoJSONEncoder
            )
            if current
            else "",
            "versions": versions,
            "runs": runs,
            "history_url": reverse("portal:core_syncrun_changelist") + f"?q={merchant.pk}",
            "is_operator": is_operator(request.user),
        },
    )


def configuration_download(
    request: HttpRequest, *, merchant: Merchant, context: dict[str, Any]
) -> HttpResponse:
    """?version=N (default: the newest) as a JSON attachment."""
    versions = SyncConfigurationVersion.objects.filter(merchant=merchant)
    wanted = request.GET.get("version", "")
    if wanted:
        number = whole_number(wanted)
        if number is None:
            return JsonResponse({"error": "version must be a whole number"}, status=400)
        version = versions.filter(version=number).first()
    else:
        version = versions.order_by("-version").first()
    if version is None:
        return JsonResponse({"error": "no such configuration version"}, status=404)
    response = JsonResponse(
        _version_document(version), encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = (
        f'attachment; filename="configuration-{merchant.pk}-v{version.version}.json"'
    )
    return response


def configuration_diff(
    request: HttpRequest, *, merchant: Merchant, context: dict[str, Any]
) -> HttpResponse:
    """?a=N&b=M: a unified diff between two versions' JSON."""
    versions = {
        v.version: v
        for v in SyncConfigurationVersion.objects.filter(merchant=merchant).order_by("version")
    }
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if not (whole_number(a) in versions and whole_number(b) in versions):
        messages.error(request, "Choose two existing versions to compare")
        return HttpResponseRedirect(reverse("portal:core_merchant_change", args=[merchant.pk]))
    left, right = versions[int(a)], versions[int(b)]

    def lines(version: SyncConfigurationVersion) -> list[str]:
        document = _version_document(version)
        document.pop("createdAt")
        document.pop("createdBy")
        return json.dumps(document, indent=2, sort_keys=True, cls=DjangoJSONEncoder).splitlines()

    diff = list(difflib.unified_diff(lines(left), lines(right), f"v{a}", f"v{b}", lineterm="", n=3))
    return TemplateResponse(
        request,
        "portal/configuration_diff.html",
        {
            **context,
            "title": f"{merchant.name}: configuration v{a} → v{b}",
            "merchant": merchant,
            "diff": diff,
            "a": a,
            "b": b,
        },
    )


# --- Sync runs -------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key in sorted(value):
            rows.extend(_flatten(f"{prefix} > {key}" if prefix else str(key), value[key]))
        return rows
    return [(prefix, value)]


# The push items a run's page lists; the push item list pages through the rest.
ITEMS_SHOWN = 200


def sync_run_detail(request: HttpRequest, *, run: SyncRun, context: dict[str, Any]) -> Any:
    """A run's page: period, times, connections, counters, timings, messages
    in plain words, push items (?items=<status> filters them; the first
    ITEMS_SHOWN shown, and the page says when there are more),
    the configuration version used, actions and the payout reconciliation."""
    merchant = run.merchant
    item_counts = dict(
        PushItem.objects.filter(sync_run=run)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    items = PushItem.objects.filter(sync_run=run).defer("payload").order_by("created_at", "id")
    item_filter = request.GET.get("items", "")
    if item_filter in PushItem.Status.values:
        items = items.filter(status=item_filter)
    # The engine reads the configuration when the run starts (a queued run
    # may wait while a new version is saved): the version in force then.
    config_version = (
        SyncConfigurationVersion.objects.filter(
            merchant=merchant, created_at__lte=run.started_at or timezone.now()
        )
        .order_by("-version")
        .first()
    )
    happened, to_do = status_words(run.status_code)
    duration = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None
    )
    return TemplateResponse(
        request,
        "portal/syncrun_detail.html",
        {
            **context,
            "title": f"Sync {run.pk}",
            "run": run,
            "merchant": merchant,
            # Text, not datetimes: the date filter would move them to the viewer's zone.
            "local_start": f"{timezone.localtime(run.period_start, _zone(merchant)):%Y-%m-%d %H:%M}",
            "local_end": f"{timezone.localtime(run.period_end, _zone(merchant)):%Y-%m-%d %H:%M}",
            "duration": duration,
            "status_label": SyncRun.StatusCode(run.status_code).label
            if run.status_code in SyncRun.StatusCode._value2member_map_
            else str(run.status_code),
            "happened": happened,
            "to_do": to_do,
            "connections": Connection.objects.filter(merchant=merchant)
            .exclude(status=Connection.Status.UNLINKED)
            .defer("credentials")
            .order_by("source_type"),
            "counters": _flatten("", run.counters or {}),
            "timings": sorted((run.timings or {}).items()),
            "run_messages": [
                {**m, "advice": message_advice(str(m.get("code", "")))} for m in run.messages or []
            ],
            "item_counts": item_counts,
            "item_statuses": [(s, item_counts.get(s, 0)) for s in PushItem.Status.values],
            "item_filter": item_filter,
            "items": items[:ITEMS_SHOWN],
            "items_total": sum(item_counts.values())
            if item_filter not in PushItem.Status.values
            else item_counts.get(item_filter, 0),
            "items_shown": ITEMS_SHOWN,
            "items_list_url": reverse("portal:core_pushitem_changelist")
            + "?"
            + urlencode(
                {
                    "q": str(run.pk),
                    **(
                        {"status__exact": item_filter}
                        if item_filter in PushItem.Status.values
                        else {}
                    ),
                }
            ),
            "can_retry": item_counts.get("failed", 0) > 0,
            # Died mid-push: items left "pushing" by a run that is not pending.
            "interrupted": item_counts.get(PushItem.Status.PUSHING, 0)
            if run.status in (SyncRun.Status.RUNNING, SyncRun.Status.FAILED)
            else 0,
            "config_version": config_version,
            "reconciliations": payout_reports(
                merchant=merchant, start=run.period_start, end=run.period_end
            ),
        },
    )


def _zone(merchant: Merchant) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(merchant.time_zone)


def sync_run_act(request: HttpRequest, *, run: SyncRun, actor: str) -> HttpResponse:
    """POST action=retry (the failed items, and those a run that died
    mid-push left "pushing" or pending: `push_items_retry_failed`, which fails
    the dead run first, then looks each once-sent item up in the target by its
    key before writing it, so nothing is written twice) or action=resync (this
    range, historic); the outcome, or the refusal with its code, as a message.
    A run whose sync is still alive (it holds the merchant's lock) is refused."""
    detail = reverse("portal:core_syncrun_change", args=[run.pk])
    action = request.POST.get("action")
    if action == "retry":
        unwritten = PushItem.objects.filter(sync_run=run).exclude(status=PushItem.Status.PUSHED)
        if run.status == SyncRun.Status.PENDING or not unwritten.exists():
            messages.warning(request, "This sync has no failed or interrupted items to retry")
            return HttpResponseRedirect(detail)
        try:
            run = push_items_retry_failed(run=run, actor=actor)
        except ApplicationError as error:
            messages.error(request, f"Refused ({error.status_code.value}): {error.message}")
            return HttpResponseRedirect(detail)
        failed = PushItem.objects.filter(sync_run=run, status=PushItem.Status.FAILED).count()
        level = messages.SUCCESS if run.status == SyncRun.Status.SUCCEEDED else messages.WARNING
        messages.add_message(
            request,
            level,
            f"Retried: the sync {run.status} ({run.status_code}), {failed} item(s) still failed",
        )
        return HttpResponseRedirect(detail)
    if action == "resync":
        zone = _zone(run.merchant)
        first = timezone.localtime(run.period_start, zone).date()
        until = timezone.localtime(run.period_end, zone).date()
        try:
            new = sync_request(merchant=run.merchant, first=first, until=until, actor=actor)
        except ApplicationError as error:
            messages.error(request, f"Refused ({error.status_code.value}): {error.message}")
            return HttpResponseRedirect(detail)
        last = until - timedelta(days=1)  # `until` is exclusive: the day after the last
        days = f"{first}" if last == first else f"{first} to {last} (inclusive)"
        messages.success(request, f"Re-sync of {days} queued as sync {new.pk}")
        return HttpResponseRedirect(reverse("portal:core_syncrun_change", args=[new.pk]))
    messages.error(request, f"Unknown action {action!r}: use retry or resync")
    return HttpResponseRedirect(detail)


# --- The user's time zone ----------------------------------------------------------------------


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Show times in",
        required=False,
        choices=lambda: (
            [("", "The site's time zone")]
            + [(name, name) for name in sorted(zoneinfo.available_timezones())]
        ),
    )


def time_zone(request: HttpRequest, *, context: dict[str, Any]) -> Any:
    """A support user picks the zone the portal shows their times in
    (`PartnerMembership.time_zone`, audited; blank: settings.TIME_ZONE).
    Operators have no membership: their times are in TIME_ZONE."""
    membership = membership_of(request.user)
    if membership is None:
        raise PermissionDenied("Operators see times in the site's TIME_ZONE setting")
    form = TimeZoneForm(request.POST or None, initial={"time_zone": membership.time_zone})
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["time_zone"]
        membership_time_zone_set(
            membership=membership,
            time_zone=chosen,
            actor=f"support:{membership.partner.slug}:{request.user.get_username()}",
        )
        messages.success(request, f"Times are now shown in {chosen or 'the site time zone'}")
        return HttpResponseRedirect(reverse("portal:index"))
    return TemplateResponse(
        request, "portal/time_zone.html", {**context, "title": "Your time zone", "form": form}
    )


# --- Invitations -------------------------------------------------------------------------------


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    role = forms.ChoiceField(choices=PartnerMembership.Role.choices)


def invite(request: HttpRequest, *, context: dict[str, Any]) -> Any:
    """A partner admin invites a support user of their own partner; the
    one-time set-password link is shown once, to pass on."""
    membership = membership_of(request.user)
    if membership is None or membership.role != PartnerMembership.Role.ADMIN:
        raise PermissionDenied("Only a partner's admins invite support users")
    actor = f"support:{membership.partner.slug}:{request.user.get_username()}"
    if request.method == "POST" and "reissue" in request.POST:
        return _link_reissue(request, partner_id=membership.partner_id, actor=actor)
    if request.method == "POST" and "deactivate" in request.POST:
        return _deactivate(request, membership=membership, actor=actor)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = support_user_create(
                partner=membership.partner,
                actor=actor,
                base_url=request.build_absolute_uri("/"),
                **form.cleaned_data,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"Invited {form.cleaned_data['username']}. Send them this one-time link to "
                f"set their password (it is not shown again): {invitation.url}",
            )
            return HttpResponseRedirect(reverse("portal:invite"))
    members = PartnerMembership.objects.filter(partner=membership.partner).select_related("user")
    return TemplateResponse(
        request,
        "portal/invite.html",
        {**context, "title": "Support users", "form": form, "members": members},
    )


def _member(request: HttpRequest, *, partner_id: Any, field: str) -> PartnerMembership:
    """The member of the admin's own partner whose id is POSTed in `field`
    (another partner's, or none: 404)."""
    member = (
        PartnerMembership.objects.select_related("user", "partner")
        .filter(partner_id=partner_id, pk=whole_number(request.POST[field]))
        .first()
    )
    if member is None:
        raise Http404("No such support user of your partner")
    return member


def _deactivate(request: HttpRequest, *, membership: PartnerMembership, actor: str) -> HttpResponse:
    """POST deactivate=<membership id>: that member of the admin's partner
    can no longer sign in (`support_user_deactivate`); never the admin. A
    second click (a double post) says it is done already."""
    member = _member(request, partner_id=membership.partner_id, field="deactivate")
    name = member.user.get_username()
    if member.pk == membership.pk:
        messages.error(request, "You cannot take away your own access: ask another admin")
    elif not member.user.is_active:
        messages.info(request, f"Access removed already: {name} cannot sign in")
    else:
        support_user_deactivate(membership=member, actor=actor)
        messages.success(request, f"Access removed: {name} can no longer sign in")
    return HttpResponseRedirect(reverse("portal:invite"))


def _link_reissue(request: HttpRequest, *, partner_id: Any, actor: str) -> HttpResponse:
    """POST reissue=<membership id> of the admin's own partner (another
    partner's, or none: 404; one whose access was removed: refused, said):
    its new set-password link, shown once."""
    member = _member(request, partner_id=partner_id, field="reissue")
    if not member.user.is_active:
        messages.error(request, f"{member.user.get_username()} has no access: no link for them")
        return HttpResponseRedirect(reverse("portal:invite"))
    url = support_user_link_reissue(
        membership=member, actor=actor, base_url=request.build_absolute_uri("/")
    )
    messages.success(
        request,
        f"Send {member.user.get_username()} this one-time link to set a new password (it is not "
        f"shown again; their present password works until they do): {url}",
    )
    return HttpResponseRedirect(reverse("portal:invite"))


# --- The partner's alert settings ----------------------------------------------------------------


class AlertSettingsForm(forms.Form):
    alert_emails = EmailListField(
        label="Alert your support team at",
        required=False,
        help_text="One address per line: alerts and the daily digest go there.",
    )
    alert_after_failing_days = forms.IntegerField(
        label="Alert on a failing sync after",
        min_value=1,
        max_value=31,
        help_text="days in a row (1-31)",
    )


def alert_settings(request: HttpRequest, *, context: dict[str, Any]) -> Any:
    """The member's partner's alert settings (`Partner.alert_emails`,
    `alert_after_failing_days`): every member reads them, a partner admin
    changes them (`partner_alerts_set`, audited). Operators set any
    partner's in the operator admin."""
    membership = membership_of(request.user)
    if membership is None:
        raise PermissionDenied("Operators set a partner's alerts in /admin/ under Partners")
    partner = membership.partner
    can_change = membership.role == PartnerMembership.Role.ADMIN
    if request.method == "POST" and not can_change:
        raise PermissionDenied("Only a partner's admins change its alert settings")
    initial = {
        "alert_emails": partner.alert_emails,
        "alert_after_failing_days": partner.alert_after_failing_days,
    }
    form = AlertSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            partner_alerts_set(
                partner=partner,
                actor=f"support:{partner.slug}:{request.user.get_username()}",
                **form.cleaned_data,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Alert settings saved")
            return HttpResponseRedirect(reverse("portal:alert_settings"))
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    return TemplateResponse(
        request,
        "portal/alert_settings.html",
        {**context, "title": "Alerts", "form": form, "can_change": can_change, "partner": partner},
    )
