from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from commerce_sync.core.models import (
    Connection,
    Frequency,
    Merchant,
    Partner,
    SyncConfiguration,
    SyncConfigurationVersion,
)
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.webhooks.events import webhook_configuration_updated, webhook_connection_changed
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
    actor: str = SYSTEM,
) -> Merchant:
    merchant = Merchant(
        partner=partner,
        name=name,
        country=country,
        currency=currency,
        time_zone=time_zone,
        external_id=external_id,
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


@transaction.atomic
def connection_create(
    *,
    merchant: Merchant,
    platform_key: str,
    source_type: str,
    credentials: dict[str, Any],
    settings: dict[str, Any],
    status: str,
    actor: str = SYSTEM,
) -> Connection:
    connection = Connection(
        merchant=merchant,
        platform_key=platform_key,
        source_type=source_type,
        credentials=credentials,
        settings=settings,
        status=status,
    )
    connection.full_clean()  # includes "one active accounting connection"
    connection.save()
    audit_log_write(
        actor=actor,
        action="connection.create",
        obj=connection,
        # Credentials stay out of the trail; the settings are not secret.
        changes={
            "platform_key": platform_key,
            "source_type": source_type,
            "status": status,
            "settings": settings,
        },
    )
    webhook_connection_changed(connection=connection, type="connection.created")
    return connection


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
