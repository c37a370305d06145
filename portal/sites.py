"""The health portal's admin site, mounted at /portal/.

A separate `AdminSite` so support staff get their own views and, later,
querysets scoped to their partner, without touching the operator's /admin/.
"""

from django.contrib import admin

from commerce_sync.core.admin import ReadOnlyModelAdmin
from commerce_sync.core.admin_actions import retry_failed_items
from commerce_sync.core.models import PushItem, SyncRun


class PortalSite(admin.AdminSite):
    site_header = "Commerce Sync health portal"
    site_title = "Health portal"
    index_title = "Sync health"


class SyncRunPortalAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "merchant", "kind", "period_start", "period_end", "status", "status_code"]
    list_filter = ["status", "kind", "status_code"]
    list_select_related = ["merchant"]
    date_hierarchy = "period_start"
    ordering = ["-period_start"]
    actions = [retry_failed_items]


class PushItemPortalAdmin(ReadOnlyModelAdmin):
    list_display = [
        "key",
        "kind",
        "merchant",
        "status",
        "attempts",
        "last_error",
        "target_id",
        "updated_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["merchant"]
    ordering = ["-created_at"]


portal_site = PortalSite(name="portal")
portal_site.register(SyncRun, SyncRunPortalAdmin)
portal_site.register(PushItem, PushItemPortalAdmin)
