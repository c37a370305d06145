"""Connection credentials: re-encryption with the newest key, and the token
source that keeps a connection's OAuth tokens fresh.

Platforms such as Xero rotate the refresh token on every use, so two workers
refreshing at once would each spend the same refresh token and one of them
would store a token the platform has already replaced. `ConnectionTokenSource`
therefore refreshes under a row lock on the connection, after re-reading it:
the first worker refreshes, the second finds the new token and uses it.
Tokens are secrets: they never appear in a repr, a log line or an exception
message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from commerce_sync.core.models import Connection
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.errors import CredentialsRevoked
from connectors.credentials import reencrypt
from connectors.oauth import OAuthClient

# Refresh this long before expiry, so a token never dies in the middle of a call.
REFRESH_MARGIN = timedelta(minutes=2)


def credential_rotate(*, actor: str = SYSTEM) -> int:
    """Re-encrypt every connection's credentials with the newest key.

    Works on the raw tokens (no decode/encode of the JSON) and one row at a
    time under a row lock, so a token refresh running concurrently is never
    overwritten with the old secret. Safe to re-run. Returns the row count.
    """
    rotated = 0
    for pk in list(Connection.objects.order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            token = (
                Connection.objects.select_for_update()
                .filter(pk=pk)
                # Cast to plain text so the field's decryption is bypassed.
                .annotate(token=Cast("credentials", output_field=models.TextField()))
                .values_list("token", flat=True)
                .first()
            )
            if token is None:  # deleted meanwhile
                continue
            Connection.objects.filter(pk=pk).update(
                credentials=models.Value(reencrypt(token), output_field=models.TextField())
            )
            rotated += 1
    audit_log_write(actor=actor, action="credentials.rotate", obj=None, changes={"rows": rotated})
    return rotated


def _expires_at(credentials: dict[str, Any]) -> datetime | None:
    raw = credentials.get("expires_at")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _fresh(credentials: dict[str, Any], margin: timedelta = REFRESH_MARGIN) -> bool:
    expires = _expires_at(credentials)
    return (
        bool(credentials.get("access_token"))
        and expires is not None
        and expires - timezone.now() > margin
    )


class ConnectionTokenSource:
    """`connectors.common.TokenSource` over a connection's stored credentials
    {"access_token", "refresh_token", "expires_at" (ISO 8601)}, refreshed
    with the platform's `OAuthClient`. Raises `CredentialsRevoked` when no
    refresh token is stored or the platform refuses it."""

    def __init__(self, connection: Connection, oauth: OAuthClient) -> None:
        self.connection = connection
        self.oauth = oauth
        self.refreshes = 0  # how many refreshes this source made (tests, counters)
        seconds = getattr(oauth.platform, "refresh_margin_seconds", None)
        self.margin = REFRESH_MARGIN if seconds is None else timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"ConnectionTokenSource(connection={self.connection.pk})"

    def access_token(self) -> str:
        credentials = self.connection.credentials or {}
        if _fresh(credentials, self.margin):
            return credentials["access_token"]
        return self._refresh(stale=credentials.get("access_token"), force=False)

    def refresh_now(self, *, rejected: str) -> str:
        return self._refresh(stale=rejected, force=True)

    def _refresh(self, *, stale: str | None, force: bool) -> str:
        with transaction.atomic():
            # The lock serialises refreshes of this connection across workers;
            # the re-read sees what a worker that held the lock before us stored.
            row = (
                Connection.objects.select_for_update()
                .only("credentials")
                .get(pk=self.connection.pk)
            )
            credentials = dict(row.credentials or {})
            current = credentials.get("access_token")
            replaced = current is not None and current != stale
            if (replaced or not force) and _fresh(credentials, self.margin):
                self.connection.credentials = credentials
                return current
            refresh_token = credentials.get("refresh_token")
            if not refresh_token:
                raise CredentialsRevoked(
                    f"This {self.oauth.platform.name} connection holds no refresh token; connect it again."
                )
            tokens = self.oauth.refresh(refresh_token)
            credentials.update(tokens.as_credentials())
            Connection.objects.filter(pk=row.pk).update(
                credentials=credentials, updated_at=timezone.now()
            )
            self.refreshes += 1
        self.connection.credentials = credentials
        return tokens.access_token
