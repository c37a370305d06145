"""Adapters by platform key: the one place that knows which class serves a
connection. Builders take the connection and return a protocol object."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from commerce_sync.errors import ConfigurationError
from connectors.protocols import AccountingTarget, CommerceSource

if TYPE_CHECKING:
    from commerce_sync.core.models import Connection


def _sandbox(connection: Connection) -> CommerceSource:
    from connectors.sandbox import SandboxSource

    merchant = connection.merchant
    return SandboxSource(
        merchant_seed=str(merchant.pk),
        time_zone=merchant.time_zone,
        currency=merchant.currency,
        orders_per_day=int(connection.settings.get("orders_per_day", 40)),
        country=merchant.country,
    )


def ledger_path(connection: Connection) -> Path:
    configured = connection.settings.get("ledger_path")
    return (
        Path(configured)
        if configured
        else Path(settings.LEDGER_DIR) / f"{connection.merchant_id}.beancount"
    )


def _beancount(connection: Connection) -> AccountingTarget:
    from connectors.beancount import BeancountTarget

    merchant = connection.merchant
    return BeancountTarget(
        ledger_path=ledger_path(connection),
        title=f"{merchant.name} (Commerce Sync)",
        operating_currency=merchant.currency,
    )


def _http_ledger(connection: Connection) -> AccountingTarget:
    from connectors.http_ledger import HttpLedgerTarget

    return HttpLedgerTarget(
        base_url=connection.settings["base_url"], api_key=connection.credentials.get("api_key", "")
    )


COMMERCE_SOURCES: dict[str, Callable[[Connection], CommerceSource]] = {"sandbox": _sandbox}
ACCOUNTING_TARGETS: dict[str, Callable[[Connection], AccountingTarget]] = {
    "beancount": _beancount,
    "http-ledger": _http_ledger,
}


def commerce_source(connection: Connection) -> CommerceSource:
    builder = COMMERCE_SOURCES.get(connection.platform_key)
    if builder is None:
        raise ConfigurationError(
            f"No commerce connector is installed for platform {connection.platform_key!r}"
        )
    return builder(connection)


def accounting_target(connection: Connection) -> AccountingTarget:
    builder = ACCOUNTING_TARGETS.get(connection.platform_key)
    if builder is None:
        raise ConfigurationError(
            f"No accounting connector is installed for platform {connection.platform_key!r}"
        )
    return builder(connection)
