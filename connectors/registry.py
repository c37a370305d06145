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


def _partner(connection: Connection) -> CommerceSource:
    from connectors.partner.adapter import partner_source_build

    return partner_source_build(connection)


def _partner_push(connection: Connection) -> CommerceSource:
    from connectors.partner.push_source import PartnerPushSource

    return PartnerPushSource(merchant=connection.merchant)


def _zettle(connection: Connection) -> CommerceSource:
    from connectors.zettle.adapter import zettle_source_build

    return zettle_source_build(connection)


def _square(connection: Connection) -> CommerceSource:
    from connectors.square.adapter import square_source_build

    return square_source_build(connection)


def _shopify(connection: Connection) -> CommerceSource:
    from connectors.shopify.adapter import shopify_source_build

    return shopify_source_build(connection)


def _xero(connection: Connection) -> AccountingTarget:
    from connectors.xero.adapter import xero_target_build

    return xero_target_build(connection)


def _quickbooks(connection: Connection) -> AccountingTarget:
    from connectors.quickbooks.adapter import quickbooks_target_build

    return quickbooks_target_build(connection)


COMMERCE_SOURCES: dict[str, Callable[[Connection], CommerceSource]] = {
    "sandbox": _sandbox,
    "partner": _partner,
    "partner-push": _partner_push,
    "square": _square,
    "shopify": _shopify,
    "zettle": _zettle,
}
ACCOUNTING_TARGETS: dict[str, Callable[[Connection], AccountingTarget]] = {
    "beancount": _beancount,
    "http-ledger": _http_ledger,
    "xero": _xero,
    "quickbooks": _quickbooks,
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
