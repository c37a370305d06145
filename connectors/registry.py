"""Adapters by platform key: the one place that knows which class serves a
connection. Builders take a `ConnectorContext` (built by the core from the
connection) and return a protocol object; `SETTINGS` names the settings class
whose `from_json` reads each platform's connection settings.

A source that lives above the connectors (the core's `partner-push`, which
reads what partners pushed into our own tables) joins through
`commerce_source_register`, called from its app's `ready()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from commerce_sync.errors import ConfigurationError
from connectors.context import (
    BeancountSettings,
    CloverSettings,
    ConnectorContext,
    ExactSettings,
    FreeAgentSettings,
    HttpLedgerSettings,
    LightspeedKSettings,
    MyobSettings,
    NoSettings,
    PartnerSettings,
    QuickBooksSettings,
    SageSettings,
    SandboxSettings,
    ShopifySettings,
    SquareSettings,
    SumUpSettings,
    XeroSettings,
    ZettleSettings,
)
from connectors.protocols import AccountingTarget, CommerceSource

SettingsParser = Callable[[Mapping[str, Any]], Any]


def _sandbox(context: ConnectorContext[SandboxSettings]) -> CommerceSource:
    from connectors.sandbox import SandboxSource

    return SandboxSource(
        merchant_seed=context.settings.seed or str(context.merchant_id),
        time_zone=context.time_zone,
        currency=context.currency,
        orders_per_day=context.settings.orders_per_day,
        country=context.country,
    )


def ledger_path(context: ConnectorContext[BeancountSettings]) -> Path:
    """The Beancount file of a `beancount` connection: its `ledger_path`
    setting, else `<LEDGER_DIR>/<merchant id>.beancount`."""
    configured = context.settings.ledger_path
    return (
        Path(configured)
        if configured
        else Path(settings.LEDGER_DIR) / f"{context.merchant_id}.beancount"
    )


def _beancount(context: ConnectorContext[BeancountSettings]) -> AccountingTarget:
    from connectors.beancount import BeancountTarget

    return BeancountTarget(
        ledger_path=ledger_path(context),
        title=f"{context.merchant_name} (Commerce Sync)",
        operating_currency=context.currency,
    )


def _http_ledger(context: ConnectorContext[HttpLedgerSettings]) -> AccountingTarget:
    from connectors.http_ledger import HttpLedgerTarget

    return HttpLedgerTarget(
        base_url=context.settings.base_url, api_key=context.credentials.get("api_key", "")
    )


def _partner(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.partner.adapter import partner_source_build

    return partner_source_build(context)


def _zettle(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.zettle.adapter import zettle_source_build

    return zettle_source_build(context)


def _square(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.square.adapter import square_source_build

    return square_source_build(context)


def _shopify(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.shopify.adapter import shopify_source_build

    return shopify_source_build(context)


def _stripe(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.stripe.adapter import stripe_source_build

    return stripe_source_build(context)


def _sumup(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.sumup.adapter import sumup_source_build

    return sumup_source_build(context)


def _lightspeed_k(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.lightspeed_k.adapter import lightspeed_k_source_build

    return lightspeed_k_source_build(context)


def _clover(context: ConnectorContext[Any]) -> CommerceSource:
    from connectors.clover.adapter import clover_source_build

    return clover_source_build(context)


def _xero(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.xero.adapter import xero_target_build

    return xero_target_build(context)


def _quickbooks(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.quickbooks.adapter import quickbooks_target_build

    return quickbooks_target_build(context)


def _freeagent(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.freeagent.adapter import freeagent_target_build

    return freeagent_target_build(context)


def _exact(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.exact.adapter import exact_target_build

    return exact_target_build(context)


def _sage(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.sage.adapter import sage_target_build

    return sage_target_build(context)


def _myob(context: ConnectorContext[Any]) -> AccountingTarget:
    from connectors.myob.adapter import myob_target_build

    return myob_target_build(context)


COMMERCE_SOURCES: dict[str, Callable[[ConnectorContext[Any]], CommerceSource]] = {
    "sandbox": _sandbox,
    "partner": _partner,
    "square": _square,
    "shopify": _shopify,
    "zettle": _zettle,
    "stripe": _stripe,
    "sumup": _sumup,
    "lightspeed-k": _lightspeed_k,
    "clover": _clover,
}
ACCOUNTING_TARGETS: dict[str, Callable[[ConnectorContext[Any]], AccountingTarget]] = {
    "beancount": _beancount,
    "http-ledger": _http_ledger,
    "xero": _xero,
    "quickbooks": _quickbooks,
    "exact": _exact,
    "freeagent": _freeagent,
    "sage": _sage,
    "myob": _myob,
}
SETTINGS: dict[str, SettingsParser] = {
    "sandbox": SandboxSettings.from_json,
    "partner": PartnerSettings.from_json,
    "square": SquareSettings.from_json,
    "shopify": ShopifySettings.from_json,
    "zettle": ZettleSettings.from_json,
    "stripe": NoSettings.from_json,
    "sumup": SumUpSettings.from_json,
    "lightspeed-k": LightspeedKSettings.from_json,
    "clover": CloverSettings.from_json,
    "beancount": BeancountSettings.from_json,
    "http-ledger": HttpLedgerSettings.from_json,
    "xero": XeroSettings.from_json,
    "quickbooks": QuickBooksSettings.from_json,
    "exact": ExactSettings.from_json,
    "freeagent": FreeAgentSettings.from_json,
    "sage": SageSettings.from_json,
    "myob": MyobSettings.from_json,
}


def commerce_source_register(
    platform_key: str,
    builder: Callable[[ConnectorContext[Any]], CommerceSource],
    *,
    settings_parser: SettingsParser = NoSettings.from_json,
) -> None:
    """Add a commerce source served from outside `connectors` (at start-up)."""
    COMMERCE_SOURCES[platform_key] = builder
    SETTINGS[platform_key] = settings_parser


def settings_parse(*, platform_key: str, raw: Mapping[str, Any]) -> Any:
    """The platform's settings object read from a connection's JSON settings
    (`NoSettings` for a platform without a settings class). Raises
    `ConfigurationError` when a required setting is missing."""
    return SETTINGS.get(platform_key, NoSettings.from_json)(raw)


def commerce_source(context: ConnectorContext[Any]) -> CommerceSource:
    """The commerce adapter for this context; `ConfigurationError` when no
    connector serves its platform key."""
    builder = COMMERCE_SOURCES.get(context.platform_key)
    if builder is None:
        raise ConfigurationError(
            f"No commerce connector is installed for platform {context.platform_key!r}"
        )
    return builder(context)


def accounting_target(context: ConnectorContext[Any]) -> AccountingTarget:
    """The accounting adapter for this context; `ConfigurationError` when no
    connector serves its platform key."""
    builder = ACCOUNTING_TARGETS.get(context.platform_key)
    if builder is None:
        raise ConfigurationError(
            f"No accounting connector is installed for platform {context.platform_key!r}"
        )
    return builder(context)
