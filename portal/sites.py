"""The health portal's admin site, mounted at /portal/.

A separate `AdminSite` from the operator's /admin/: operators (superusers)
see every partner; a support user (`PartnerMembership`) sees only their
partner's merchants and what hangs off them. Every ModelAdmin here inherits
`PartnerScopedAdmin`, whose querysets go through one selector
(`portal.selectors.scope_to_user` / `merchants_visible_to`), so lists,
filters, searches, details, actions and exports are all cut the same way;
another partner's object is a 404.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import cached_property, wraps
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.contrib.messages.views import SuccessMessageMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path, reverse_lazy
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from commerce_sync.core.admin import ReadOnlyModelAdmin
from commerce_sync.core.admin_actions import retry_failed_items
from commerce_sync.core.models import (
    AuditLog,
    Connection,
    Merchant,
    PushItem,
    SyncConfiguration,
    SyncConfigurationVersion,
    SyncRun,
)
from portal import views
from portal.selectors import (
    HEALTH_FILTERS,
    failing_merchant_ids,
    is_operator,
    membership_of,
    merchant_health,
    merchants_with_health,
    next_due_words,
    scope_to_user,
)
from portal.templatetags.portal_time import when_text


def portal_time_zone(user: Any) -> ZoneInfo:
    """The zone the portal shows `user`'s times in: their membership's
    `time_zone`, else settings.TIME_ZONE."""
    membership = membership_of(user)
    name = (membership.time_zone if membership is not None else "") or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def portal_access(user: Any) -> bool:
    """Operators and active partner members may use the portal."""
    if not getattr(user, "is_active", False):
        return False
    return is_operator(user) or membership_of(user) is not None


class SetPasswordView(SuccessMessageMixin, auth_views.PasswordResetConfirmView):
    """A support user's one-time set-password page (Django's password reset
    confirmation), saying on the login page that the password is set."""

    success_message = "Your password is set: sign in with it."


class PortalSite(admin.AdminSite):
    site_header = "Commerce Sync health portal"
    site_title = "Health portal"
    index_title = "Sync health"
    index_template = "portal/dashboard.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return portal_access(request.user)

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Django's admin_view, with every portal page rendered in the user's
        time zone (`PartnerMembership.time_zone`, else settings.TIME_ZONE);
        templates label each time with it (`portal_time.when`)."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def zoned(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            with timezone.override(portal_time_zone(request.user)):
                response = inner(request, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()  # inside the zone: TemplateResponses render lazily
                return response

        return zoned

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        return {
            **super().each_context(request),
            "portal_zone": timezone.get_current_timezone_name(),
        }

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "set-password/<uidb64>/<token>/",
                self._set_password_view,
                name="set_password",
            ),
            path("invite/", self.admin_view(self._invite_view), name="invite"),
            path("time-zone/", self.admin_view(self._time_zone_view), name="time_zone"),
            path("alerts/", self.admin_view(self._alert_settings_view), name="alert_settings"),
            *super().get_urls(),
        ]

    def _set_password_view(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return SetPasswordView.as_view(
            template_name="portal/set_password.html",
            success_url=reverse_lazy("portal:login"),
            extra_context={**self.each_context(request), "title": "Set your password"},
        )(request, **kwargs)

    def _time_zone_view(self, request: HttpRequest) -> HttpResponse:
        return views.time_zone(request, context=self.each_context(request))

    def _alert_settings_view(self, request: HttpRequest) -> HttpResponse:
        return views.alert_settings(request, context=self.each_context(request))

    def _invite_view(self, request: HttpRequest) -> HttpResponse:
        return views.invite(request, context=self.each_context(request))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The dashboard: figures for ?from=YYYY-MM-DD&to=YYYY-MM-DD (default:
        the last 30 days, to now) and ?failing_days=N (default 3)."""
        context = views.dashboard_context(request)
        return super().index(request, extra_context={**context, **(extra_context or {})})


portal_site = PortalSite(name="portal")


def actor_for(request: HttpRequest) -> str:
    """The audit actor of a portal user: operator:<username> or support:<partner>:<username>."""
    membership = membership_of(request.user)
    if membership is None:
        return f"operator:{request.user.get_username()}"
    return f"support:{membership.partner.slug}:{request.user.get_username()}"


class _Lines:
    """A file-like that hands back what `csv.writer` writes (one row's text)."""

    def write(self, text: str) -> str:
        return text


@admin.action(description="Export the selected rows as CSV", permissions=["view"])
def export_csv(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
    """The selected rows (already scoped by the admin's queryset; "select
    all" is every row the list's filters match) as CSV with the admin's
    `export_fields`, streamed: rows are read from the database in chunks as
    they are sent, so a million rows never sit in memory at once."""
    fields: list[str] = modeladmin.export_fields
    writer = csv.writer(_Lines())

    def lines() -> Iterator[str]:
        yield writer.writerow(fields)
        for row in queryset.values_list(*fields).iterator(chunk_size=2000):
            yield writer.writerow([spreadsheet_safe(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = modeladmin.model._meta.model_name
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """`value` for a CSV cell that a spreadsheet opens as text, never as a
    formula: a string starting with = + - @ tab or CR (a merchant name or a
    vendor's error message, typed by someone else) gets a leading `'`;
    anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CappedCountPaginator(Paginator):
    """The changelist's paginator, counting at most `CAP` + 1 rows
    (`SELECT count(*) FROM (... LIMIT CAP + 1)`): an unfiltered list of
    millions of push items costs ~1 ms instead of a ~1 s COUNT(*). `capped`
    tells that more rows match than were counted; pages then go to
    CAP / per_page, and filters narrow the rest."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by()[: self.CAP + 1].count()
        self.capped = counted > self.CAP
        return min(counted, self.CAP)

    capped = False


def partner_column(merchant_path: str) -> Callable[[Any], str]:
    """The operator's "partner" changelist column for rows reaching their
    merchant by `merchant_path` ("merchant", or "pk" for merchants): the
    partner's name ("-" for a row without a merchant), sorting by it. Read
    from the row's select_related join (`PartnerScopedAdmin`), no query."""
    steps = [] if merchant_path == "pk" else merchant_path.split("__")
    ordering = "__".join([*steps, "partner__name"])

    def column(obj: Any) -> str:
        for step in steps:
            obj = getattr(obj, step)
            if obj is None:
                return "-"
        return obj.partner.name

    column.__name__ = "partner_name"
    return admin.display(description="partner", ordering=ordering)(column)


class PartnerListFilter(admin.RelatedFieldListFilter):
    """The operator's partner filter, its choices by name (one query)."""

    def field_admin_ordering(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        return ("name",)


class PartnerScopedAdmin(ReadOnlyModelAdmin):
    """Read-only and scoped: rows reach a user only through
    `scope_to_user(queryset, user, merchant_path)`. Members see no partner
    filter or column; another partner's object is a 404. Operators (who see
    every partner) get a "partner" column after `partner_column_after` and a
    partner filter, both read through the rows' join to their partner
    (select_related: no query per row)."""

    merchant_path = "merchant"
    partner_column_after = "merchant"
    # Read-only detail pages name the zone their times are shown in.
    change_form_template = "portal/readonly_detail.html"
    export_fields: list[str] = ["pk"]
    operator_only_filters: list[Any] = [("merchant__partner", PartnerListFilter)]
    actions = [export_csv]
    show_full_result_count = False  # one count less per page on large tables
    list_per_page = 50
    paginator = CappedCountPaginator

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and getattr(changelist.paginator, "capped", False):
            messages.info(
                request,
                f"More than {CappedCountPaginator.CAP:,} rows match: the first "
                f"{CappedCountPaginator.CAP:,} are paged here; filter to narrow.",
            )
        return response

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: Any) -> str:
        """The row's checkbox as Django renders it, without a widget
        template per row (a third of a 100-row page's time)."""
        return format_html(
            '<input type="checkbox" name="_selected_action" value="{}" class="action-select"'
            ' aria-label="Select this object for an action - {}">',
            obj.pk,
            obj,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_user(
            super().get_queryset(request), user=request.user, merchant_path=self.merchant_path
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return portal_access(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return portal_access(request.user)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        base = list(super().get_list_filter(request))
        return base + (self.operator_only_filters if is_operator(request.user) else [])

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        shown = list(super().get_list_display(request))
        if is_operator(request.user) and self.partner_column_after in shown:
            at = shown.index(self.partner_column_after) + 1
            shown.insert(at, partner_column(self.merchant_path))
        return shown

    def get_list_select_related(self, request: HttpRequest) -> Any:
        related = super().get_list_select_related(request)
        if not is_operator(request.user) or self.merchant_path == "pk":
            return related
        return [*(related or []), f"{self.merchant_path}__partner"]

    def audit_actor(self, request: HttpRequest) -> str:
        """Who an action of `request` is audited as (`actor_for`)."""
        return actor_for(request)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str):
        raise Http404("No such object")

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        try:
            return super().get_object(request, object_id, from_field)
        except (ValueError, TypeError):
            return None


def when_column(field: str, description: str = "") -> Callable[[Any], str]:
    """A changelist column showing datetime `field` in the portal's zone,
    labelled with it (see `portal_time.when`); sorts by the field."""

    def column(obj: Any) -> str:
        return when_text(getattr(obj, field))

    column.__name__ = f"{field}_when"
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


def _search(
    queryset: QuerySet,
    search_term: str,
    *,
    by_uuid: Callable[[UUID], Q],
    by_text: Callable[[str], Q],
) -> tuple[QuerySet, bool]:
    """A portal list's search: a blank term keeps `queryset`; a UUID filters
    by `by_uuid(uid)`, any other term (stripped) by `by_text(term)`. Never
    yields duplicates (the admin's `use_distinct` is False)."""
    term = search_term.strip()
    if not term:
        return queryset, False
    uid = _uuid(term)
    return queryset.filter(by_uuid(uid) if uid is not None else by_text(term)), False


# --- Merchants ---------------------------------------------------------------------------


class HealthFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("healthy", "Healthy"),
            ("failing", "Failing"),
            ("disabled", "Disabled"),
            ("not_configured", "Not configured"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(HEALTH_FILTERS[value]) if value in HEALTH_FILTERS else queryset


class FailingDaysFilter(admin.SimpleListFilter):
    title = "failing for"
    parameter_name = "failing_days"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(n), f"{n}+ days in a row") for n in (1, 2, 3, 7, 14)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if not 1 <= (views.whole_number(value) or 0) <= 366:
            messages.error(request, "failing_days must be a number of days from 1 to 366")
            return queryset.none()
        ids = failing_merchant_ids(user=request.user, end=timezone.now(), days=int(value))
        return queryset.filter(pk__in=ids)


class MerchantPortalAdmin(PartnerScopedAdmin):
    merchant_path = "pk"
    partner_column_after = "external_id"
    list_display = ["name", "external_id", "id", "health", "last_success_at", "next_due"]
    list_filter = [HealthFilter, FailingDaysFilter, "enabled", "configured"]
    operator_only_filters = [("partner", PartnerListFilter)]
    export_fields = ["id", "external_id", "name", "partner__slug", "enabled", "configured"]
    search_help_text = "Name, the partner's id for the merchant, or the merchant id"
    search_fields = ["name"]  # shows the box; the search itself is get_search_results
    ordering = ["name"]
    change_form_template = "portal/merchant_detail.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return merchants_with_health(
            super().get_queryset(request).select_related("partner", "sync_configuration")
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return _search(
            queryset,
            search_term,
            by_uuid=lambda uid: Q(pk=uid),
            by_text=lambda term: Q(name__icontains=term) | Q(external_id=term),
        )

    @admin.display(description="health")
    def health(self, obj: Merchant) -> str:
        return merchant_health(obj)[1]

    @admin.display(description="last success (period end)", ordering="last_success")
    def last_success_at(self, obj: Merchant) -> Any:
        return when_text(obj.last_success) if obj.last_success else "never"

    @admin.display(description="next due")
    def next_due(self, obj: Merchant) -> str:
        return next_due_words(obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        merchant = self.get_object(request, object_id)
        if merchant is None:
            raise Http404("No such merchant")
        return views.merchant_detail(
            request, merchant=merchant, context=self.admin_site.each_context(request)
        )

    def get_urls(self) -> list[URLPattern]:
        def wrap(view: Any) -> Any:
            def scoped(request: HttpRequest, object_id: str) -> HttpResponse:
                merchant = self.get_object(request, object_id)
                if merchant is None:
                    raise Http404("No such merchant")
                return view(
                    request, merchant=merchant, context=self.admin_site.each_context(request)
                )

            return self.admin_site.admin_view(scoped)

        return [
            path(
                "<path:object_id>/configuration.json",
                wrap(views.configuration_download),
                name="core_merchant_configuration_json",
            ),
            path(
                "<path:object_id>/configuration-diff/",
                wrap(views.configuration_diff),
                name="core_merchant_configuration_diff",
            ),
            *super().get_urls(),
        ]


# --- Runs, push items and the rest --------------------------------------------------------


class SyncRunPortalAdmin(PartnerScopedAdmin):
    list_display = [
        "id",
        "merchant",
        "kind",
        when_column("period_start"),
        when_column("period_end"),
        "status",
        "status_code",
        when_column("created_at"),
    ]
    list_filter = ["status", "status_code", "kind", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["merchant"]
    search_fields = ["id"]
    search_help_text = "A sync id, a merchant id, or the partner's id for the merchant"
    ordering = ["-created_at"]
    actions = [retry_failed_items, export_csv]
    export_fields = [
        "id",
        "merchant_id",
        "merchant__external_id",
        "kind",
        "period_start",
        "period_end",
        "status",
        "status_code",
        "created_at",
        "started_at",
        "finished_at",
    ]
    change_form_template = "portal/syncrun_detail.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return _search(
            queryset,
            search_term,
            by_uuid=lambda uid: Q(pk=uid) | Q(merchant_id=uid),
            by_text=lambda term: Q(merchant__external_id=term),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404("No such sync")
        if request.method == "POST":
            if not self.has_retry_permission(request, run):
                raise PermissionDenied(
                    "Retrying and re-syncing need the permission 'Can retry the failed push "
                    "items of a sync run', which your account lacks; an operator grants it "
                    "(in /admin/, under Users)"
                )
            return views.sync_run_act(request, run=run, actor=actor_for(request))
        return views.sync_run_detail(
            request,
            run=run,
            context={
                **self.admin_site.each_context(request),
                "can_act": self.has_retry_permission(request, run),
            },
        )


DOCUMENT_KINDS = [
    "journalEntry",
    "invoice",
    "payment",
    "bill",
    "billPayment",
    "deposit",
    "transfer",
]


class DocumentKindFilter(admin.SimpleListFilter):
    """The mapping engine's document types (`mapping.documents`), listed
    without a DISTINCT over millions of push items."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind, kind) for kind in DOCUMENT_KINDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(kind=self.value()) if self.value() else queryset


class PushItemPortalAdmin(PartnerScopedAdmin):
    list_display = [
        "key",
        "kind",
        "merchant",
        "status",
        "attempts",
        "last_error",
        "target_id",
        when_column("updated_at"),
    ]
    list_filter = ["status", DocumentKindFilter]
    list_select_related = ["merchant"]
    search_fields = ["key"]
    search_help_text = "A key, a target id, or a sync id"
    # Newest first by the primary key (its index): "-created_at" has no index
    # of its own here and sorted all 5,000,000 items for the first page (~5 s).
    ordering = ["-id"]
    exclude = ["payload"]
    export_fields = [
        "id",
        "merchant_id",
        "sync_run_id",
        "kind",
        "key",
        "status",
        "attempts",
        "target_id",
        "last_error",
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return _search(
            queryset,
            search_term,
            by_uuid=lambda uid: Q(sync_run_id=uid),
            by_text=lambda term: Q(key=term) | Q(target_id=term),
        )


class ConnectionPortalAdmin(PartnerScopedAdmin):
    list_display = [
        "merchant",
        "platform_key",
        "source_type",
        "status",
        "last_error",
        when_column("updated_at"),
    ]
    list_filter = ["source_type", "status", "platform_key"]
    list_select_related = ["merchant"]
    search_fields = ["merchant__name", "platform_key"]
    fields = ["merchant", "platform_key", "source_type", "status", "last_error", "settings"]
    export_fields = ["id", "merchant_id", "platform_key", "source_type", "status", "last_error"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("credentials")  # never decrypted here


class SyncConfigurationPortalAdmin(PartnerScopedAdmin):
    list_display = [
        "merchant",
        "version",
        "frequency",
        "sync_hour",
        "time_zone",
        when_column("updated_at"),
    ]
    list_select_related = ["merchant"]
    search_fields = ["merchant__name"]
    export_fields = ["merchant_id", "version", "frequency", "sync_hour", "time_zone", "start_date"]


class SyncConfigurationVersionPortalAdmin(PartnerScopedAdmin):
    list_display = ["merchant", "version", "created_by", when_column("created_at")]
    list_select_related = ["merchant"]
    search_fields = ["merchant__name"]
    ordering = ["merchant", "-version"]
    export_fields = ["merchant_id", "version", "created_by", "created_at"]


class AuditLogPortalAdmin(PartnerScopedAdmin):
    list_display = [when_column("at"), "actor", "action", "object_type", "object_id", "merchant"]
    list_filter = ["action", "object_type"]
    list_select_related = ["merchant"]
    search_fields = ["actor", "object_id"]
    ordering = ["-at"]
    export_fields = ["at", "actor", "action", "object_type", "object_id", "merchant_id"]


portal_site.register(Merchant, MerchantPortalAdmin)
portal_site.register(SyncRun, SyncRunPortalAdmin)
portal_site.register(PushItem, PushItemPortalAdmin)
portal_site.register(Connection, ConnectionPortalAdmin)
portal_site.register(SyncConfiguration, SyncConfigurationPortalAdmin)
portal_site.register(SyncConfigurationVersion, SyncConfigurationVersionPortalAdmin)
portal_site.register(AuditLog, AuditLogPortalAdmin)
