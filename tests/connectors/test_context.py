"""The connector context's settings: each platform's `from_json` reads what
its builder needs and refuses what is missing with a ConfigurationError."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from commerce_sync.errors import ConfigurationError
from connectors import registry
from connectors.context import (
    BeancountSettings,
    ConnectorContext,
    HttpLedgerSettings,
    NoSettings,
    PartnerSettings,
    QuickBooksSettings,
    SandboxSettings,
    ShopifySettings,
    SquareSettings,
    XeroSettings,
    ZettleSettings,
)


def test_defaults_when_nothing_is_set() -> None:
    assert SandboxSettings.from_json({}) == SandboxSettings(orders_per_day=40)
    assert BeancountSettings.from_json({}) == BeancountSettings(ledger_path="")
    assert SquareSettings.from_json({}) == SquareSettings(location_ids=(), currency="")
    assert ZettleSettings.from_json({}) == ZettleSettings(organization_uuid="")
    assert NoSettings.from_json({"anything": 1}) == NoSettings()


def test_settings_are_read_and_typed() -> None:
    tracking = {"category": "Region", "options": {"L1": "North"}}
    assert XeroSettings.from_json(
        {"tenant_id": "t-1", "bank_contact_id": "c-9", "tracking": tracking}
    ) == XeroSettings(tenant_id="t-1", bank_contact_id="c-9", tracking=tracking)
    assert QuickBooksSettings.from_json({"realm_id": 42}) == QuickBooksSettings(realm_id="42")
    assert SandboxSettings.from_json({"orders_per_day": "12"}).orders_per_day == 12
    assert SquareSettings.from_json({"location_ids": ["A", "B"], "currency": "EUR"}) == (
        SquareSettings(location_ids=("A", "B"), currency="EUR")
    )
    assert PartnerSettings.from_json(
        {
            "base_url": "https://partner.example",
            "auth": {"type": "client_credentials", "token_url": "https://t", "scope": "read"},
            "page_size": "50",
        }
    ) == PartnerSettings(
        base_url="https://partner.example",
        auth_type="client_credentials",
        token_url="https://t",
        scope="read",
        page_size=50,
    )


@pytest.mark.parametrize(
    ("parse", "raw", "message"),
    [
        (XeroSettings.from_json, {}, "no organisation"),
        (QuickBooksSettings.from_json, {"realm_id": ""}, "realm"),
        (ShopifySettings.from_json, {}, "no shop"),
        (HttpLedgerSettings.from_json, {}, "base_url"),
        (PartnerSettings.from_json, {}, "base_url"),
        (
            PartnerSettings.from_json,
            {"base_url": "https://p", "auth": {"type": "client_credentials"}},
            "token_url",
        ),
    ],
)
def test_missing_settings_are_a_configuration_error(parse: Any, raw: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse(raw)


def test_every_platform_has_its_settings_class_and_others_read_none() -> None:
    assert set(registry.SETTINGS) >= set(registry.ACCOUNTING_TARGETS)
    assert set(registry.COMMERCE_SOURCES) <= set(registry.SETTINGS)
    assert registry.settings_parse(platform_key="xero", raw={"tenant_id": "t"}) == XeroSettings(
        tenant_id="t"
    )
    assert registry.settings_parse(platform_key="unknown", raw={"x": 1}) == NoSettings()


def _context(platform_key: str, settings: Any) -> ConnectorContext:
    return ConnectorContext(
        connection_id="c-1",
        platform_key=platform_key,
        merchant_id=uuid4(),
        merchant_name="Café",
        currency="GBP",
        time_zone="Europe/London",
        country="GB",
        settings=settings,
        credentials={"api_key": "s3cr3t-key"},
        token_source=lambda oauth: pytest.fail("no tokens needed"),
    )


def test_the_context_never_shows_its_secrets() -> None:
    context = _context("http-ledger", HttpLedgerSettings(base_url="http://127.0.0.1:9"))
    assert "s3cr3t-key" not in repr(context) and "c-1" in repr(context)


def test_an_unknown_platform_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="No commerce connector"):
        registry.commerce_source(_context("nowhere", NoSettings()))
    with pytest.raises(ConfigurationError, match="No accounting connector"):
        registry.accounting_target(_context("nowhere", NoSettings()))


def test_adapters_are_built_from_a_plain_context(settings: Any, tmp_path: Any) -> None:
    """No database: the context is all a connector needs."""
    settings.LEDGER_DIR = str(tmp_path)
    ledger = _context("beancount", BeancountSettings())
    target = registry.accounting_target(ledger)
    assert target.ledger_path == tmp_path / f"{ledger.merchant_id}.beancount"
    source = registry.commerce_source(_context("sandbox", SandboxSettings(orders_per_day=3)))
    assert source.platform_key == "sandbox"
    http = registry.accounting_target(
        _context("http-ledger", HttpLedgerSettings(base_url="http://127.0.0.1:9"))
    )
    assert http.platform_key == "http-ledger"
