"""The operator's admin (unscoped). Engine-owned rows are read-only here:
editing them by hand would bypass the services' state checks and audit."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import HttpRequest

from commerce_sync.core import models
from commerce_sync.core.admin_actions import retry_failed_items
from commerce_sync.core.platforms import platform_get, platforms_all
from commerce_sync.core.services.audit import operator_actor
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.core.services.partners import (
    partner_api_key_create,
    partner_api_key_revoke,
    partner_create,
)


class ReadOnlyModelAdmin(admin.ModelAdmin):
    def has_retry_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Actions that change a sync's state (`retry_failed_items`) need
        `core.retry_syncrun`, not the view permission."""
        return bool(request.user.has_perm("core.retry_syncrun"))

    def audit_actor(self, request: HttpRequest) -> str:
        """Who this admin's actions are audited as: operator:<username>."""
        return operator_actor(request.user.get_username())

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


class EmailListField(forms.CharField):
    """A list of email addresses typed one per line or separated by commas."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        addresses = [part.strip() for part in text.replace(",", "\n").splitlines()]
        addresses = [address for address in addresses if address]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    "%(value)s is not an email address (one address per line).",
                    code="invalid",
                    params={"value": address},
                ) from None
        return addresses


class PartnerForm(forms.ModelForm):
    alert_emails = EmailListField(
        required=False,
        help_text="Support team addresses for alerts and the daily digest, one per line.",
    )

    class Meta:
        model = models.Partner
        fields = ["name", "slug", "branding", "alert_emails", "alert_after_failing_days"]


@admin.register(models.Partner)
class PartnerAdmin(admin.ModelAdmin):
    """A new partner is made by `partner_create` (audited), as by `manage.py
    partner_create`; its keys are issued under "Partner API keys"."""

    form = PartnerForm
    list_display = ["name", "slug", "alert_after_failing_days", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]
    inlines = [PartnerApiKeyInline]

    def save_model(
        self, request: HttpRequest, obj: models.Partner, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = partner_create(
            name=obj.name,
            slug=obj.slug,
            branding=obj.branding,
            actor=operator_actor(request.user.get_username()),
        )
        obj.pk, obj.created_at = created.pk, created.created_at
        obj.save(update_fields=["alert_emails", "alert_after_failing_days"])


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
    ADD_FIELDS = [
        "partner",
        "name",
        "external_id",
        "description",
        "tags",
        "country",
        "currency",
        "time_zone",
        "alert_email",
        "alerts_opt_out",
        "language",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:  # a new merchant: made by `merchant_create`, enabled, unconfigured
            return self.ADD_FIELDS
        return super().get_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "country": settings.MERCHANT_DEFAULT_COUNTRY,
            "currency": settings.MERCHANT_DEFAULT_CURRENCY,
            "time_zone": settings.MERCHANT_DEFAULT_TIME_ZONE,
            **super().get_changeform_initial_data(request),
        }

    def save_model(
        self, request: HttpRequest, obj: models.Merchant, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = merchant_create(
            partner=obj.partner,
            name=obj.name,
            country=obj.country,
            currency=obj.currency,
            time_zone=obj.time_zone,
            external_id=obj.external_id,
            description=obj.description,
            tags=obj.tags,
            actor=operator_actor(request.user.get_username()),
        )
        obj.pk, obj.created_at = created.pk, created.created_at
        obj._state.adding = False
        obj.save(update_fields=["alert_email", "alerts_opt_out", "language", "updated_at"])


def _platform_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for platform in platforms_all():
        groups.setdefault(platform.source_type, []).append((platform.key, platform.name))
    return list(groups.items())


class ConnectionAddForm(forms.ModelForm):
    """A new connection: its merchant, its side and the platform on that
    side. No credentials here: platforms that need them are authorised
    through the partner API (`PUT .../authorization`), the setup flow or
    `manage.py connect`."""

    platform_key = forms.ChoiceField(label="Platform", choices=_platform_choices)

    class Meta:
        model = models.Connection
        fields = ["merchant", "source_type", "platform_key", "settings"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        key, side = data.get("platform_key"), data.get("source_type")
        if key and side and platform_get(key, source_type=side.capitalize()) is None:
            others = ", ".join(p.key for p in platforms_all() if p.connection_source_type == side)
            self.add_error(
                "platform_key",
                f"{key} is not a {side} platform; choose one of {others}.",
            )
        merchant = data.get("merchant")
        if (
            merchant is not None
            and side == models.Connection.SourceType.ACCOUNTING
            and merchant.connections.filter(source_type=side)
            .exclude(status=models.Connection.Status.UNLINKED)
            .exists()
        ):
            self.add_error(
                None,
                "This merchant already has an accounting connection; unlink it first "
                "(a merchant books into one ledger).",
            )
        return data


@admin.register(models.Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # `credentials` has no form field, so it can never be shown or edited here.
    list_display = ["merchant", "platform_key", "source_type", "status", "updated_at"]
    list_filter = ["source_type", "status", "platform_key"]
    search_fields = ["merchant__name", "platform_key", "id"]
    readonly_fields = ["id", "merchant", "source_type", "created_at", "updated_at"]
    list_select_related = ["merchant"]
    autocomplete_fields = ["merchant"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["merchant", "source_type", "platform_key", "settings"]
        return super().get_fields(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ConnectionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: models.Connection, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = connection_create(
            merchant=obj.merchant,
            platform_key=obj.platform_key,
            source_type=obj.source_type,
            settings=obj.settings or {},
            actor=operator_actor(request.user.get_username()),
        )
        obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        obj._state.adding = False

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


class AlertInline(admin.TabularInline):
    model = models.Alert
    fields = ["created_at", "channel", "audience", "recipients", "subject", "status", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Incident)
class IncidentAdmin(ReadOnlyModelAdmin):
    """Incidents are opened, alerted and resolved by the alerts service."""

    list_display = ["merchant", "kind", "key", "opened_at", "alerted_at", "resolved_at"]
    list_filter = ["kind", "merchant__partner", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["merchant__name", "merchant__external_id", "key", "message"]
    list_select_related = ["merchant"]
    ordering = ["-opened_at"]
    date_hierarchy = "opened_at"
    inlines = [AlertInline]


@admin.register(models.Alert)
class AlertAdmin(ReadOnlyModelAdmin):
    """What was sent: each email (support, merchant), webhook and digest."""

    list_display = ["created_at", "kind", "channel", "audience", "partner", "merchant", "status"]
    list_filter = ["kind", "channel", "audience", "status", "partner"]
    search_fields = ["subject", "merchant__name", "webhook_event_id"]
    list_select_related = ["partner", "merchant"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
