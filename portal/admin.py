"""Support users in the operator's /admin/ (unscoped): who belongs to which
partner. New ones come from `manage.py support_user_create` or a partner
admin's invitation in the portal, which hand out the set-password link."""

from django.contrib import admin

from portal.models import PartnerMembership


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "role", "created_at", "created_by"]
    list_filter = ["partner", "role"]
    search_fields = ["user__username", "user__email", "partner__slug"]
    readonly_fields = ["created_at", "created_by"]
    list_select_related = ["user", "partner"]

    def has_add_permission(self, request) -> bool:
        return False  # a new user needs their set-password link: use the command or the portal
