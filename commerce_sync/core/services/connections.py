"""Connection state changes the sync makes: a grant revoked on the platform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from commerce_sync.core.models import Connection
from commerce_sync.core.services.alerts import alert_raise
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.errors import CredentialsRevoked


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
