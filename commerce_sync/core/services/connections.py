"""Connections: the one way the core obtains a connector, and the state
changes a sync makes to a connection (a grant revoked on the platform).

The core turns a `Connection` row into the plain `ConnectorContext` that
connectors are built from (they never see the ORM), then asks the registry
for the adapter serving the connection's platform key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from django.db import transaction

from commerce_sync.core.models import Connection
from commerce_sync.core.services.alerts import alert_raise
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.credentials import ConnectionTokenSource
from commerce_sync.errors import CredentialsRevoked
from commerce_sync.webhooks.events import webhook_connection_changed
from connectors import registry
from connectors.context import ConnectorContext
from connectors.protocols import AccountingTarget, CommerceSource


def connection_context(*, connection: Connection) -> ConnectorContext[Any]:
    """What a connector is given: the merchant's facts, the settings parsed
    for the platform (e.g. `XeroSettings`), the stored credentials and a
    token source factory over this row. Raises `ConfigurationError` when a
    required setting is missing (e.g. Xero's tenant)."""
    merchant = connection.merchant
    return ConnectorContext(
        connection_id=str(connection.pk),
        platform_key=connection.platform_key,
        merchant_id=merchant.pk,
        merchant_name=merchant.name,
        currency=merchant.currency,
        time_zone=merchant.time_zone,
        country=merchant.country,
        settings=registry.settings_parse(
            platform_key=connection.platform_key, raw=connection.settings or {}
        ),
        credentials=connection.credentials or {},
        token_source=partial(ConnectionTokenSource, connection),
    )


def connection_source(*, connection: Connection) -> CommerceSource:
    """The commerce adapter reading this connection; `ConfigurationError`
    for an unknown platform or missing settings."""
    return registry.commerce_source(connection_context(connection=connection))


def connection_target(*, connection: Connection) -> AccountingTarget:
    """The accounting adapter writing into this connection; `ConfigurationError`
    for an unknown platform or missing settings."""
    return registry.accounting_target(connection_context(connection=connection))


def connection_ledger_path(*, connection: Connection) -> Path:
    """The Beancount file a `beancount` connection books into."""
    return registry.ledger_path(connection_context(connection=connection))


def connection_mark_deauthorized(
    *, connection: Connection, reason: str, actor: str = SYSTEM
) -> None:
    """Mark `connection` Deauthorized with `reason` as its last error, audit
    the change and alert the merchant (who must reconnect), atomically."""
    with transaction.atomic():
        before = connection.status
        connection.status = Connection.Status.DEAUTHORIZED
        connection.last_error = reason
        connection.save(update_fields=["status", "last_error", "updated_at"])
        audit_log_write(
            actor=actor,
            action="connection.deauthorized",
            obj=connection,
            changes={"from": before, "to": connection.status, "reason": reason},
        )
        alert_raise(
            merchant=connection.merchant,
            code="connection_deauthorized",
            message=f"The {connection.platform_key} connection was deauthorised: {reason}. The merchant must reconnect it.",
        )
        webhook_connection_changed(connection=connection, type="connection.deauthorized")


@contextmanager
def deauthorizes(connection: Connection) -> Iterator[None]:
    """Around calls to a platform: a CredentialsRevoked raised inside marks
    `connection` Deauthorized (see `connection_mark_deauthorized`); the
    error goes on up."""
    try:
        yield
    except CredentialsRevoked as error:
        connection_mark_deauthorized(connection=connection, reason=error.message)
        raise
