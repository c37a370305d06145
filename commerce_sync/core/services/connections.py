"""Connections: the one way the core obtains a connector, and the state
changes a sync makes to a connection (a grant revoked on the platform).

The core turns a `Connection` row into the plain `ConnectorContext` that
connectors are built from (they never see the ORM), then asks the registry
for the adapter serving the connection's platform key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from commerce_sync.core.models import AuditLog, Connection, Merchant
from commerce_sync.core.platforms import NO_AUTHORIZATION
from commerce_sync.core.services.alerts import alert_raise, alerts_after_connection_linked
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from commerce_sync.core.services.credentials import ConnectionTokenSource
from commerce_sync.errors import ConfigurationError, CredentialsRevoked
from commerce_sync.webhooks.events import webhook_connection_changed
from connectors import registry
from connectors.context import ConnectorContext
from connectors.protocols import AccountingTarget, CommerceSource

log = logging.getLogger(__name__)


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


def _platform_name(platform_key: str) -> str:
    from commerce_sync.core.platforms import NAMES

    return NAMES.get(platform_key, platform_key)


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
            message=f"The {_platform_name(connection.platform_key)} connection was deauthorised: "
            f"{reason.rstrip('. ')}. The merchant must reconnect it.",
            key=str(connection.pk),
            detail={"platform": connection.platform_key, "connection_id": str(connection.pk)},
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


# --- Creating, unlinking and authorising connections (the partner API) ------------


@transaction.atomic
def connection_create(
    *,
    merchant: Merchant,
    platform_key: str,
    source_type: str,
    credentials: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    status: str | None = None,
    actor: str = SYSTEM,
) -> Connection:
    """Create a connection of `merchant` to `platform_key` and audit it as
    `connection.create` (credentials stay out of the trail).

    `status` defaults to Linked for a platform the merchant never authorises
    (`platforms.NO_AUTHORIZATION`: sandbox, beancount, partner-push) and to
    PendingAuth for every other.

    `source_type` is `Connection.SourceType` ("commerce"/"accounting"). Raises
    Django's `ValidationError` when the row is invalid, including when the
    merchant already has an accounting connection that is not Unlinked.
    This is the one place connections are created (the API, the `connect`
    command, the setup flow), so events about a new connection belong here.
    """
    credentials = credentials or {}
    settings = settings or {}
    if status is None:
        status = (
            Connection.Status.LINKED
            if platform_key in NO_AUTHORIZATION
            else Connection.Status.PENDING_AUTH
        )
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


def _oauth_revoke(client_factory: Callable[[], Any]) -> Callable[[dict[str, Any]], None]:
    def revoke(credentials: dict[str, Any]) -> None:
        token = credentials.get("refresh_token")
        if token:
            client_factory().revoke(token)

    return revoke


def _xero_client() -> Any:
    from connectors.xero.oauth import xero_oauth_client

    return xero_oauth_client()


def _quickbooks_client() -> Any:
    from connectors.quickbooks.oauth import quickbooks_oauth_client

    return quickbooks_oauth_client()


def _sage_client() -> Any:
    from connectors.sage.oauth import sage_oauth_client

    return sage_oauth_client()


def _stripe_deauthorize(credentials: dict[str, Any]) -> None:
    """A Stripe Connect account is disconnected from the platform; a
    restricted key is the merchant's to delete (nothing to ask Stripe)."""
    account = credentials.get("stripe_account")
    if account:
        from connectors.stripe.oauth import stripe_connect_oauth_client

        stripe_connect_oauth_client().deauthorize(str(account))


# Platforms whose grant we can revoke when a connection is unlinked: a function
# of the stored credentials that asks the platform to forget the grant.
REVOKERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "xero": _oauth_revoke(_xero_client),
    "quickbooks": _oauth_revoke(_quickbooks_client),
    # Sage revokes the refresh token (`connectors.sage.oauth`).
    "sage": _oauth_revoke(_sage_client),
    "stripe": _stripe_deauthorize,
}


def connection_grant_revocable(*, connection: Connection) -> bool:
    """Whether unlinking `connection` also asks its platform to revoke our
    grant (`REVOKERS`). Platforms that publish no revocation endpoint (e.g.
    FreeAgent: `connectors.freeagent.oauth`) only have their credentials
    deleted here; the merchant removes the app in the platform's settings.
    Stripe only for a Connect account (a restricted key is the merchant's to
    delete in Stripe)."""
    if connection.platform_key == "stripe":
        return bool((connection.credentials or {}).get("stripe_account"))
    return connection.platform_key in REVOKERS


def _revoke_after_unlink(
    *,
    connection_id: Any,
    merchant_id: Any,
    platform_key: str,
    credentials: dict[str, Any],
    actor: str,
) -> None:
    """Best effort, after the unlink committed: ask the platform to revoke the
    grant and audit the outcome (`connection.revoke`, `ok` or the error
    class). A failure never undoes the unlink."""
    revoker = REVOKERS.get(platform_key)
    if revoker is None or not credentials:
        return
    outcome = "ok"
    try:
        revoker(credentials)
    except Exception as error:
        outcome = type(error).__name__
        log.warning(
            "revoking a grant on unlink failed",
            extra={"connection": str(connection_id), "platform": platform_key, "error": outcome},
        )
    AuditLog.objects.create(
        actor=actor,
        action="connection.revoke",
        merchant_id=merchant_id,
        object_type=Connection._meta.label_lower,
        object_id=str(connection_id),
        changes={"platform_key": platform_key, "outcome": outcome},
    )


@transaction.atomic
def connection_unlink(*, connection: Connection, actor: str) -> Connection:
    """Set `connection` Unlinked (Codat's way to disconnect), forget its
    credentials and audit it as `connection.unlink`; idempotent.

    Once committed, an accounting connection whose platform supports it
    (`REVOKERS`: Xero, QuickBooks, Sage), or a Stripe Connect account, has its
    grant revoked on the platform, best effort (see `_revoke_after_unlink`).
    An Unlinked connection is history: the merchant may then create a new
    one of its kind.
    """
    row = Connection.objects.select_for_update().get(pk=connection.pk)
    if row.status == Connection.Status.UNLINKED:
        return row
    before = row.status
    credentials = dict(row.credentials or {})
    row.status = Connection.Status.UNLINKED
    row.credentials = {}
    row.save(update_fields=["status", "credentials", "updated_at"])
    audit_log_write(
        actor=actor, action="connection.unlink", obj=row, changes={"from": before, "to": row.status}
    )
    if row.source_type == Connection.SourceType.ACCOUNTING or row.platform_key == "stripe":
        transaction.on_commit(
            partial(
                _revoke_after_unlink,
                connection_id=row.pk,
                merchant_id=row.merchant_id,
                platform_key=row.platform_key,
                credentials=credentials,
                actor=actor,
            )
        )
    return row


MAX_CREDENTIAL_KEYS = 50

# The credentials each platform's connector reads (one shape, or several
# alternatives): (required keys, optional keys). OAuth platforms keep the
# token set `connectors.oauth.TokenSet.as_credentials` writes (refreshed by
# `ConnectionTokenSource`); the HTTP ledger an API key
# (`connectors.registry._http_ledger`); the partner commerce API an API key
# or OAuth client credentials (`connectors.partner.adapter`). Platforms in
# `NO_AUTHORIZATION` take none.
_TOKENS = (frozenset({"access_token", "refresh_token"}), frozenset({"expires_at"}))
CREDENTIAL_SHAPES: dict[str, tuple[tuple[frozenset[str], frozenset[str]], ...]] = {
    "xero": (_TOKENS,),
    "quickbooks": (_TOKENS,),
    "exact": (_TOKENS,),
    "shopify": (_TOKENS,),
    "square": (_TOKENS,),
    "zettle": (_TOKENS,),
    "http-ledger": ((frozenset({"api_key"}), frozenset()),),
    # A restricted (or secret) key, `connectors.stripe.adapter`.
    "stripe": ((frozenset({"api_key"}), frozenset()),),
    # An API key (`sup_sk_...`) or OAuth tokens, `connectors.sumup.adapter`.
    "sumup": ((frozenset({"api_key"}), frozenset()), _TOKENS),
    # OAuth tokens (scope financial-api), `connectors.lightspeed_k.adapter`.
    "lightspeed-k": (_TOKENS,),
    # Clover's v2 OAuth token pair, `connectors.clover.adapter`.
    "clover": (_TOKENS,),
    "partner": (
        (frozenset({"api_key"}), frozenset()),
        (frozenset({"client_id", "client_secret"}), frozenset()),
    ),
}
CREDENTIAL_SHAPES["freeagent"] = (_TOKENS,)
CREDENTIAL_SHAPES["sage"] = (_TOKENS,)
CREDENTIAL_SHAPES["myob"] = (_TOKENS,)


# Non-secret keys a platform's authorization body carries beside its
# credentials, each required (in the body or already in the settings) and
# stored in the connection's settings, never with the secrets: Clover's
# tokens belong to one merchant in one region (`connectors.context.CloverSettings`);
# SumUp's API paths name the merchant (`merchant_code`, `connectors.context.SumUpSettings`);
# Exact's tokens reach administrations on one country's host (`division`, `host`:
# `connectors.context.ExactSettings`); Sage's tokens reach every business of the login and
# MYOB's every company file, so the one booked into is named (`business_id`,
# `company_file`: `SageSettings`, `MyobSettings`); without it the connection would be
# Linked yet unable to build its target. Checked in this order, each with those before it.
AUTHORIZATION_SETTINGS: dict[str, tuple[str, ...]] = {
    "clover": ("merchant_id", "region"),
    "sumup": ("merchant_code",),
    "exact": ("division", "host"),
    "sage": ("business_id",),
    "myob": ("company_file",),
}


# Non-secret keys a platform's authorization body may carry, each kept in the
# connection's settings when sent: FreeAgent's `transit_category` (a nominal
# code, digits), through which its journals reach a bank account
# (`connectors.context.FreeAgentSettings`).
AUTHORIZATION_OPTIONAL_SETTINGS: dict[str, tuple[str, ...]] = {
    "freeagent": ("transit_category",),
}


def _shape_text(shape: tuple[frozenset[str], frozenset[str]]) -> str:
    required, optional = shape
    text = ", ".join(sorted(required))
    return text + (f" (optional: {', '.join(sorted(optional))})" if optional else "")


def credentials_check(*, platform_key: str, credentials: dict[str, Any]) -> None:
    """Raise Django's `ValidationError` naming the problem when `credentials`
    (already a flat {string: string} object) are not what `platform_key`'s
    connector reads (CREDENTIAL_SHAPES): a key missing or unknown, an empty
    value, `expires_at` not an ISO 8601 date-time, or any credential for a
    platform that needs none. Platforms not listed take any flat object."""
    if platform_key in NO_AUTHORIZATION:
        if credentials:
            raise ValidationError(
                {
                    "credentials": f"{platform_key} needs no credentials: send {{}} "
                    "(its connection is Linked already)."
                }
            )
        return
    shapes = CREDENTIAL_SHAPES.get(platform_key)
    if shapes is None:
        return
    keys = set(credentials)
    expected = " or ".join(_shape_text(shape) for shape in shapes)
    fits = [shape for shape in shapes if shape[0] <= keys <= shape[0] | shape[1]]
    if not fits:
        nearest = max(shapes, key=lambda shape: len(keys & (shape[0] | shape[1])))
        missing = sorted(nearest[0] - keys)
        unknown = sorted(keys - nearest[0] - nearest[1])
        detail = {name: "Required for this platform." for name in missing}
        detail |= {name: "Not a credential of this platform." for name in unknown}
        detail["credentials"] = f"{platform_key} takes {expected}."
        raise ValidationError(detail)
    empty = sorted(name for name in keys if not str(credentials[name]).strip())
    if empty:
        raise ValidationError({name: "Must not be empty." for name in empty})
    if "expires_at" in credentials:
        try:
            moment = datetime.fromisoformat(str(credentials["expires_at"]).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValidationError(
                {"expires_at": "An ISO 8601 date-time with its offset, e.g. 2026-01-01T12:00:00Z."}
            )


@transaction.atomic
def connection_authorization_update(
    *, connection: Connection, credentials: dict[str, str], actor: str
) -> Connection:
    """Replace `connection`'s credentials with `credentials` (stored encrypted,
    never returned or audited: the trail names the keys only). A connection
    waiting for authorisation or deauthorised becomes Linked.

    Raises Django's `ValidationError` naming the problem when `credentials`
    is empty (except `{}` for a platform needing none), is not a flat
    {string: string} object (at most 50 keys), is not the platform's shape
    (`credentials_check`), or the connection is Unlinked (create a new
    connection instead).
    """
    if not isinstance(credentials, dict) or (
        not credentials and connection.platform_key not in NO_AUTHORIZATION
    ):
        raise ValidationError({"credentials": "Send a JSON object of the platform's credentials."})
    if len(credentials) > MAX_CREDENTIAL_KEYS:
        raise ValidationError({"credentials": f"At most {MAX_CREDENTIAL_KEYS} keys."})
    for key, value in credentials.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 100 or "\x00" in key:
            raise ValidationError(
                {"credentials": "Each key is a non-empty name of at most 100 characters."}
            )
        if not isinstance(value, str):
            raise ValidationError({key: "Each credential is a string."})
    named = AUTHORIZATION_SETTINGS.get(connection.platform_key, ())
    optional = AUTHORIZATION_OPTIONAL_SETTINGS.get(connection.platform_key, ())
    chosen = {key: credentials[key] for key in (*named, *optional) if key in credentials}
    credentials = {k: v for k, v in credentials.items() if k not in chosen}
    for key in optional:
        if key not in chosen:
            continue
        # Kept as sent, it is the category's id in every later call: spaces
        # or digits of another script would name no FreeAgent category.
        chosen[key] = chosen[key].strip()
        if not (chosen[key].isascii() and chosen[key].isdigit()):
            raise ValidationError({key: "A nominal code, digits 0-9 only (e.g. 750)."})
    credentials_check(platform_key=connection.platform_key, credentials=credentials)
    row = Connection.objects.select_for_update().get(pk=connection.pk)
    if row.status == Connection.Status.UNLINKED:
        raise ValidationError(
            {"status": "This connection is Unlinked; create a new connection to authorise."}
        )
    if named:
        merged = {**(row.settings or {}), **chosen}
        missing = {k: "Required for this platform." for k in named if not merged.get(k)}
        if missing:
            raise ValidationError(missing)
        for count, key in enumerate(named, start=1):  # key by key: a refusal names its key
            try:
                registry.settings_parse(
                    platform_key=row.platform_key, raw={k: merged[k] for k in named[:count]}
                )
            except ConfigurationError as error:
                raise ValidationError({key: error.message}) from None
        try:
            registry.settings_parse(platform_key=row.platform_key, raw=merged)
        except ConfigurationError as error:
            raise ValidationError({"credentials": error.message}) from None
        row.settings = merged
    if optional and chosen:
        row.settings = {**(row.settings or {}), **chosen}
    before = row.status
    row.credentials = dict(credentials)
    if row.status in (Connection.Status.PENDING_AUTH, Connection.Status.DEAUTHORIZED):
        row.status = Connection.Status.LINKED
        row.last_error = ""
    row.save(update_fields=["credentials", "settings", "status", "last_error", "updated_at"])
    audit_log_write(
        actor=actor,
        action="connection.authorization_update",
        obj=row,
        changes={
            "keys": sorted(credentials),
            "from": before,
            "to": row.status,
            **({"settings": chosen} if chosen else {}),
        },
    )
    if before == Connection.Status.DEAUTHORIZED:
        alerts_after_connection_linked(connection=row)
    return row
