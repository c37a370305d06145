"""The operator's admin (unscoped). Engine-owned rows are read-only here:
editing them by hand would bypass the services' state checks and audit."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from commerce_sync.core import models
from commerce_sync.core.admin_actions import retry_failed_items
from commerce_sync.core.services.audit import operator_actor
from commerce_sync.core.services.partners import partner_api_key_create, partner_api_key_revoke


class ReadOnlyModelAdmin(admin.ModelAdmin):
    def has_retry_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Actions that change a sync's state (`retry_failed_items`) need
        `core.retry_syncrun`, not the view permission."""
        return bool(request.user.has_perm("core.retry_syncrun"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PartnerApiKeyInline(admin.TabularInline):
    model = models.PartnerApiKey
    fields = ["name", "prefix", "created_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are issued by a service, which returns the plaintext once


@admin.register(models.Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]
    inlines = [PartnerApiKeyInline]


@admin.register(models.PartnerApiKey)
class PartnerApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued by `partner_api_key_create` (the add form asks for the
    partner and a name; the key is shown once, in a message) and revoked by
    the "Revoke" action; the prefix is never editable and the hash never shown."""

    list_display = ["prefix", "name", "partner", "created_at", "revoked_at"]
    list_filter = ["partner"]
    search_fields = ["prefix", "name"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["partner", "name"]
        # The key's hash is never shown: with it, anyone could test guesses offline.
        return ["partner", "name", "prefix", "created_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["partner", "prefix", "created_at", "revoked_at"]

    def save_model(
        self, request: HttpRequest, obj: models.PartnerApiKey, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plaintext = partner_api_key_create(
            partner=obj.partner,
            name=obj.name,
            actor=operator_actor(request.user.get_username()),
        )
        for name in ("id", "prefix", "hashed_key", "created_at"):
            setattr(obj, name, getattr(key, name))
        messages.warning(
            request,
            f"The new API key for {obj.partner} is {plaintext} - copy it now: it is not "
            "shown again. Partners send it as Authorization: Basic <base64 of the key> "
            "or Bearer <key>.",
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[models.PartnerApiKey]) -> None:
        actor = operator_actor(request.user.get_username())
        for key in queryset.filter(revoked_at__isnull=True):
            partner_api_key_revoke(key=key, actor=actor)


@admin.register(models.PartnerSyncFlowSettings)
class PartnerSyncFlowSettingsAdmin(admin.ModelAdmin):
    list_display = ["partner", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(models.SetupLink)
class SetupLinkAdmin(ReadOnlyModelAdmin):
    # Only the code's hash is stored; it is not shown.
    list_display = ["merchant", "created_at", "expires_at", "used_at", "locale"]
    exclude = ["hashed_code"]
    list_select_related = ["merchant"]


class ConnectionInline(admin.TabularInline):
    model = models.Connection
    fields = ["platform_key", "source_type", "status", "last_error", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Connection]:
        return super().get_queryset(request).defer("credentials")


@admin.register(models.Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "partner",
        "external_id",
        "country",
        "currency",
        "enabled",
        "configured",
    ]
    list_filter = ["partner", "enabled", "configured", "country"]
    search_fields = ["name", "external_id", "id"]
    readonly_fields = ["id", "configured", "created_at", "updated_at"]
    list_select_related = ["partner"]
    inlines = [ConnectionInline]


@admin.register(models.Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # `credentials` has no form field, so it can never be shown or edited here.
    list_display = ["merchant", "platform_key", "source_type", "status", "updated_at"]
    list_filter = ["source_type", "status", "platform_key"]
    search_fields = ["merchant__name", "platform_key", "id"]
    readonly_fields = ["id", "merchant", "source_type", "created_at", "updated_at"]
    list_select_related = ["merchant"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Connection]:
        # Deferred, so a list never decrypts, and a save never rewrites, the secret.
        return super().get_queryset(request).defer("credentials")


@admin.register(models.SyncConfiguration)
class SyncConfigurationAdmin(ReadOnlyModelAdmin):
    list_display = ["merchant", "version", "frequency", "sync_hour", "time_zone", "updated_at"]
    search_fields = ["merchant__name"]
    list_select_related = ["merchant"]


@admin.register(models.SyncConfigurationVersion)
class SyncConfigurationVersionAdmin(ReadOnlyModelAdmin):
    list_display = ["merchant", "version", "created_by", "created_at"]
    search_fields = ["merchant__name"]
    list_select_related = ["merchant"]
    ordering = ["merchant", "-version"]


class PushItemInline(admin.TabularInline):
    model = models.PushItem
    fields = ["kind", "key", "status", "attempts", "target_id", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.SyncRun)
class SyncRunAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "merchant",
        "kind",
        "period_start",
        "period_end",
        "status",
        "status_code",
        "data_pushed",
        "created_at",
    ]
    list_filter = ["status", "status_code", "kind", "merchant__partner", "period_start"]
    search_fields = ["id", "merchant__name", "merchant__external_id"]
    list_select_related = ["merchant"]
    date_hierarchy = "period_start"
    ordering = ["-period_start"]
    inlines = [PushItemInline]
    actions = [retry_failed_items]


@admin.register(models.PushItem)
class PushItemAdmin(ReadOnlyModelAdmin):
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
    list_filter = ["status", "kind", "merchant__partner"]
    search_fields = ["key", "target_id", "merchant__name", "sync_run__id"]
    list_select_related = ["merchant"]
    ordering = ["-created_at"]


@admin.register(models.SourceRecord)
class SourceRecordAdmin(ReadOnlyModelAdmin):
    list_display = ["source_id", "kind", "merchant", "created_date", "modified_date", "posted_run"]
    list_filter = ["kind", "merchant__partner"]
    search_fields = ["source_id", "merchant__name"]
    list_select_related = ["merchant"]
    ordering = ["-created_date"]


@admin.register(models.AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "merchant"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor", "object_id", "merchant__name"]
    list_select_related = ["merchant"]
    date_hierarchy = "at"
    ordering = ["-at"]
