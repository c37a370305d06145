from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from commerce_sync.core.models import (
    Frequency,
    Merchant,
    Partner,
    PartnerSyncFlowSettings,
    PushItem,
    SyncConfiguration,
    SyncConfigurationVersion,
    SyncRun,
)
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.webhooks.events import webhook_configuration_updated
from mapping.config import parse_configuration
from mapping.errors import MappingError


@transaction.atomic
def merchant_create(
    *,
    partner: Partner,
    name: str,
    country: str,
    currency: str,
    time_zone: str,
    external_id: str = "",
    description: str = "",
    tags: dict[str, str] | None = None,
    actor: str = SYSTEM,
) -> Merchant:
    """Create a merchant of `partner` and audit it (`merchant.create`).

    Raises Django's `ValidationError` naming the field for a bad country
    (ISO 3166 alpha-2), currency (ISO 4217), time zone (IANA), tags (see
    `tags_validate`) or an `external_id` the partner already uses.
    """
    if external_id and Merchant.objects.filter(partner=partner, external_id=external_id).exists():
        raise ValidationError(
            {"external_id": f"Another merchant already has the partner id {external_id!r}."}
        )
    merchant = Merchant(
        partner=partner,
        name=name,
        country=country,
        currency=currency,
        time_zone=time_zone,
        external_id=external_id,
        description=description,
        tags=tags_validate(tags or {}),
    )
    merchant.full_clean()
    merchant.save()
    audit_log_write(
        actor=actor,
        action="merchant.create",
        obj=merchant,
        changes={
            "name": name,
            "external_id": external_id,
            "country": country,
            "currency": currency,
            "time_zone": time_zone,
        },
    )
    return merchant


_CONFIG_FIELDS = ("document", "frequency", "start_date", "sync_hour", "time_zone")


@transaction.atomic
def sync_configuration_save(
    *,
    merchant: Merchant,
    document: dict[str, Any],
    start_date: date,
    sync_hour: int,
    time_zone: str,
    frequency: str = Frequency.DAILY,
    actor: str,
) -> SyncConfiguration:
    """Store a new version of the merchant's configuration and mark it configured.

    Validating `document` against the accounting target is the caller's job;
    this checks the schedule fields and keeps the history.
    """
    try:  # the structure and the rules that need no target (payout conflicts ...)
        parse_configuration(document)
    except MappingError as error:
        raise ValidationError({"document": [issue.message for issue in error.issues]}) from None
    # The merchant row lock serialises concurrent saves, so versions never collide.
    Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk").get()
    config = SyncConfiguration.objects.filter(merchant=merchant).first()
    previous = {name: getattr(config, name) for name in _CONFIG_FIELDS} if config else {}
    if config is None:
        config = SyncConfiguration(merchant=merchant)
    values = {
        "document": document,
        "frequency": frequency,
        "start_date": start_date,
        "sync_hour": sync_hour,
        "time_zone": time_zone,
    }
    for name, value in values.items():
        setattr(config, name, value)
    config.version += 1
    config.full_clean()
    config.save()

    SyncConfigurationVersion.objects.create(
        merchant=merchant, version=config.version, created_by=actor, **values
    )
    if not merchant.configured:
        merchant.configured = True
        merchant.save(update_fields=["configured", "updated_at"])

    changed = sorted(name for name in _CONFIG_FIELDS if previous.get(name) != values[name])
    audit_log_write(
        actor=actor,
        action="sync_configuration.save",
        obj=config,
        changes={"version": config.version, "changed": changed},
    )
    webhook_configuration_updated(merchant=merchant, config=config, changed=changed)
    return config


# --- Companies (the partner API) ---------------------------------------------------

MAX_TAGS = 10


def tags_validate(tags: Any) -> dict[str, str]:
    """Codat's company `tags` rules (`Company.companyDetails.tags` in the yaml):
    at most 10, names of 1 to 27 characters, string values of at most 100.
    Returns the tags; raises `ValidationError` on `tags` naming the problem."""
    if not isinstance(tags, dict):
        raise ValidationError({"tags": "Send tags as an object of name: text."})
    if len(tags) > MAX_TAGS:
        raise ValidationError({"tags": f"At most {MAX_TAGS} tags."})
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 27 or "\x00" in key:
            raise ValidationError({"tags": f"Tag name {key!r} must have 1 to 27 characters."})
        if not isinstance(value, str) or len(value) > 100 or "\x00" in value:
            raise ValidationError({"tags": f"Tag {key!r} must be text of at most 100 characters."})
    return dict(tags)


def merchant_defaults(*, partner: Partner) -> dict[str, str]:
    """{"country", "currency", "time_zone"} for a merchant the API creates
    without them: the partner's `PartnerSyncFlowSettings.merchant_defaults`
    (keys `country`, `currency`, `timeZone`), else the MERCHANT_DEFAULT_*
    settings."""
    chosen = {}
    row = PartnerSyncFlowSettings.objects.filter(partner=partner).first()
    if row is not None:
        chosen = row.merchant_defaults or {}
    return {
        "country": chosen.get("country") or settings.MERCHANT_DEFAULT_COUNTRY,
        "currency": chosen.get("currency") or settings.MERCHANT_DEFAULT_CURRENCY,
        "time_zone": chosen.get("timeZone") or settings.MERCHANT_DEFAULT_TIME_ZONE,
    }


_UPDATABLE = (
    "name",
    "description",
    "tags",
    "country",
    "currency",
    "time_zone",
    "alert_email",
    "alerts_opt_out",
    "language",
)


@transaction.atomic
def merchant_update(*, merchant: Merchant, actor: str, **values: Any) -> Merchant:
    """Change the given fields of `merchant` (any of name, description, tags,
    country, currency, time_zone, alert_email, alerts_opt_out, language;
    others raise `TypeError`) and audit the
    changed names with their old and new values. `ValidationError` names a
    bad field."""
    unknown = set(values) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"merchant_update cannot change {sorted(unknown)}")
    if "tags" in values:
        values["tags"] = tags_validate(values["tags"])
    row = Merchant.objects.select_for_update().get(pk=merchant.pk)
    changes = {
        name: {"from": getattr(row, name), "to": value}
        for name, value in values.items()
        if getattr(row, name) != value
    }
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    if changes:
        row.save(update_fields=[*changes, "updated_at"])
        audit_log_write(actor=actor, action="merchant.update", obj=row, changes=changes)
    return row


class MerchantHasHistory(Exception):
    """Raised by `merchant_delete` for a merchant with sync runs or push items:
    its history (what was posted, under which keys) must be kept."""


@transaction.atomic
def merchant_delete(*, merchant: Merchant, actor: str) -> None:
    """Delete a merchant that never synced, with its connections, configuration
    and setup links; the audit row (`merchant.delete`) keeps its id and name.

    Raises `MerchantHasHistory` when the merchant has sync runs or push items:
    deleting would lose what was posted to its books and the keys that keep
    writes exactly-once; such a merchant is disabled instead (not here).
    """
    row = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if (
        SyncRun.objects.filter(merchant=row).exists()
        or PushItem.objects.filter(merchant=row).exists()
    ):
        raise MerchantHasHistory(
            "This company has sync history, which is kept; it cannot be deleted."
        )
    audit_log_write(
        actor=actor,
        action="merchant.delete",
        obj=row,
        changes={"name": row.name, "external_id": row.external_id},
    )
    row.delete()
