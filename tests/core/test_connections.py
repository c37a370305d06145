"""The core's one way to a connector: a context built from the connection row,
the adapter from the registry, the partner-push source registered from here."""

from __future__ import annotations

from typing import Any

import pytest

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import (
    connection_context,
    connection_ledger_path,
    connection_source,
    connection_target,
)
from commerce_sync.core.services.credentials import ConnectionTokenSource
from commerce_sync.errors import ConfigurationError
from commerce_sync.inbound.sources import PartnerPushSource, push_source_build
from connectors import registry
from connectors.context import NoSettings, SandboxSettings, XeroSettings
from connectors.xero.oauth import xero_oauth_client
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def test_the_context_carries_the_merchant_settings_and_credentials(merchant: Any) -> None:
    connection = ConnectionFactory(
        merchant=merchant, platform_key="xero", settings={"tenant_id": "t-1"}
    )
    context = connection_context(connection=connection)
    assert context.connection_id == str(connection.pk)
    assert context.platform_key == "xero"
    assert context.merchant_id == merchant.pk and context.merchant_name == merchant.name
    assert (context.currency, context.time_zone, context.country) == (
        merchant.currency,
        merchant.time_zone,
        merchant.country,
    )
    assert context.settings == XeroSettings(tenant_id="t-1")
    assert context.credentials == connection.credentials
    assert str(connection.credentials["access_token"]) not in repr(context)
    tokens = context.token_source(xero_oauth_client())
    assert isinstance(tokens, ConnectionTokenSource) and tokens.connection is connection


def test_missing_settings_stop_the_adapter_with_a_clear_message(merchant: Any) -> None:
    connection = ConnectionFactory(merchant=merchant, platform_key="xero", settings={})
    with pytest.raises(ConfigurationError, match="no organisation"):
        connection_target(connection=connection)


def test_an_unknown_platform_is_a_configuration_error(merchant: Any) -> None:
    connection = ConnectionFactory(merchant=merchant, platform_key="nowhere", settings={})
    with pytest.raises(ConfigurationError, match="No commerce connector"):
        connection_source(connection=connection)


def test_partner_push_is_registered_from_the_core(merchant: Any) -> None:
    assert registry.COMMERCE_SOURCES["partner-push"] is push_source_build
    connection = ConnectionFactory(merchant=merchant, platform_key="partner-push", settings={})
    assert connection_context(connection=connection).settings == NoSettings()
    source = connection_source(connection=connection)
    assert isinstance(source, PartnerPushSource) and source.merchant_id == merchant.pk


def test_the_ledger_path_defaults_to_the_merchant_file(merchant: Any, settings: Any) -> None:
    settings.LEDGER_DIR = "/srv/ledgers"
    ledger = ConnectionFactory(merchant=merchant, accounting=True, settings={})
    assert str(connection_ledger_path(connection=ledger)) == f"/srv/ledgers/{merchant.pk}.beancount"
    ledger.settings = {"ledger_path": "/books/cafe.beancount"}
    assert str(connection_ledger_path(connection=ledger)) == "/books/cafe.beancount"


def test_building_adapters_for_a_merchant_connection_costs_no_query(
    merchant: Any, django_assert_num_queries: Any
) -> None:
    ConnectionFactory(merchant=merchant, settings={"orders_per_day": 5})
    connection = merchant.connections.get(source_type=Connection.SourceType.COMMERCE)
    with django_assert_num_queries(0):
        context = connection_context(connection=connection)
        source = connection_source(connection=connection)
    assert context.settings == SandboxSettings(orders_per_day=5)
    assert source.platform_key == "sandbox"
