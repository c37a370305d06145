"""The product's error taxonomy and the status codes a sync ends with.

Every anticipated failure is an `ApplicationError` carrying a message a
merchant or support agent can act on and the Codat-compatible `StatusCode` a
sync ends with. Transient errors are retried; everything else is permanent.

This module imports nothing of ours and nothing of Django's, so connectors and
`mapping` can raise these errors without Django set up. That is why
`StatusCode` is a plain `enum.IntEnum` with labels rather than Django's
`models.IntegerChoices`: the model field takes `StatusCode.choices()`.
"""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """The status code of a sync run, as Codat's Sync for Commerce reports it
    (Codat docs, `error-documentation.md`; noted in
    shared/reference/codat/NOTES.md). Members are ints (stored as such in
    `SyncRun.status_code`) and carry a human `label`.

    1xxx: the run is under way; 2xxx: it succeeded; 4xxx: it failed for a
    reason the merchant fixes (setup, connection, subscription); 5xxx: it
    failed on our side or on the data (server, duplicate, data, write).
    """

    label: str

    def __new__(cls, value: int, label: str) -> StatusCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    IN_PROGRESS = 1000, "In progress"
    IN_PROGRESS_LONG = 1010, "In progress for over ten minutes"
    SUCCESS = 2000, "Success, data written"
    SUCCESS_NO_DATA = 2040, "Success, nothing to write"
    CONFIGURATION_ERROR = 4000, "Configuration error"
    CONNECTION_DELETED = 4040, "Company or connection deleted"
    CONNECTION_DEAUTHORIZED = 4220, "Connection deauthorised"
    SUBSCRIPTION_EXPIRED = 4260, "Accounting subscription expired"
    SERVER_ERROR = 5000, "Server error"
    DUPLICATION_PROTECTION = 5080, "Duplication protection"
    DATA_PROCESSING_ERROR = 5120, "Data processing error"
    DATA_WRITE_ERROR = 5130, "Data write error"

    @classmethod
    def choices(cls) -> list[tuple[int, str]]:
        """`[(value, label), ...]` in declaration order, for a model field's
        `choices` (the same list Django's `IntegerChoices.choices` gives)."""
        return [(member.value, member.label) for member in cls]


class ApplicationError(Exception):
    """Base of every anticipated failure; `message` is shown to the merchant,
    `detail` is kept for support only.

    Raised directly only for a permanent failure no subclass names (e.g. the
    Zettle client when Zettle refuses a request as malformed). Any
    `ApplicationError` that escapes a sync ends the run with its
    `status_code`; a command or task that cannot start a run prints
    "refused (<code>) <message>".
    """

    status_code: StatusCode = StatusCode.SERVER_ERROR
    transient = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # kept for support, never shown to a merchant
        # A whole-target refusal (CredentialsRevoked, SubscriptionExpired)
        # raised part-way through a batch: the documents of that batch
        # already in the target, key -> their id there (`connectors.batching`
        # notes them), which the sync records as pushed.
        self.settled: dict[str, str] = {}


class ConfigurationError(ApplicationError):
    """The merchant's setup prevents the sync; the merchant fixes it.

    Raised by the sync service when the merchant is disabled, lacks a linked
    commerce or accounting connection, asks for a range that ends before it
    starts, or maps to accounts (tax rates, contacts) missing or archived in
    the target; by the connector registry when no connector is installed for
    a connection's platform; and by connectors when a connection's settings
    are incomplete (no tenant, realm, location or base URL) or the platform
    refuses access for a setup reason (a missing scope, a frozen store,
    refused client credentials, an unsafe partner URL). The run ends 4000;
    a mapping configuration the engine refuses ends it 4000 as well.
    """

    status_code = StatusCode.CONFIGURATION_ERROR


class CredentialsRevoked(ApplicationError):
    """The platform no longer honours the connection's grant.

    Raised by a connector's client or OAuth code when the platform answers
    401 again after a token refresh (or 403 for missing scopes), refuses
    the refresh itself (`invalid_grant` ...) or no refresh token is stored;
    also by an OAuth callback whose state we did not issue. The sync service
    marks the connection Deauthorized (the merchant must connect again), the
    push item being written fails and waits for a retry, and the run ends
    4040.
    """

    status_code = StatusCode.CONNECTION_DELETED


class SubscriptionExpired(ApplicationError):
    """The merchant's accounting subscription has lapsed.

    Raised by an accounting target's client when the platform says so (Xero's
    403 naming an expired or suspended organisation, QuickBooks' subscription
    faults and 403, the HTTP ledger's 402). The push item being written fails
    and waits for a retry; the run ends 4260.
    """

    status_code = StatusCode.SUBSCRIPTION_EXPIRED


class DataProcessingError(ApplicationError):
    """The commerce data cannot be read or processed as it is.

    Raised by a commerce source's client when the platform answers with
    something unusable (invalid JSON, a page announced without its cursor, a
    rejected query), by an adapter when a record is malformed, and by the
    sync service when source records fail to parse. Nothing is written; the
    run ends 5120.
    """

    status_code = StatusCode.DATA_PROCESSING_ERROR


class DocumentRejected(ApplicationError):
    """The target refused one document (validation, an unknown account ...).

    Raised by an accounting target's adapter or client when the platform
    refuses that document alone. The push item fails with the platform's
    message, the run's other items are still written, and the run ends 5130;
    the failed items can be retried once the cause is fixed.
    """

    status_code = StatusCode.DATA_WRITE_ERROR


class DuplicateSync(ApplicationError):
    """A sync request would duplicate or collide with another sync.

    Raised by the sync service, before any run is created, when another sync
    already holds the merchant's lock, or when a historic range overlaps a
    sync that already posted data. The request is refused with 5080 and
    nothing is written.
    """

    status_code = StatusCode.DUPLICATION_PROTECTION


class NothingDue(ApplicationError):
    """A sync to the latest date was requested but nothing is due: the
    merchant is already synced to the latest sync hour passed (or to the
    `syncTo` asked for). Raised by `sync_run_request` before any run is
    created; nothing is written. Its code is 2040, success with no data.
    """

    status_code = StatusCode.SUCCESS_NO_DATA


class TransientError(ApplicationError):
    """A fault that may pass if the call is tried again (base class).

    Raised only as one of its subclasses; callers catch it. The push loop
    and the connector clients retry it under their retry policy; one that
    outlasts the retries fails its push item, or, if it escapes the run,
    ends the run 5000 and the next run tries again.
    """

    transient = True


class RateLimited(TransientError):
    """The platform, or our own limiter, asks us to slow down.

    Raised by a connector client when the platform answers 429 (or keeps
    throttling), and by the shared rate limiter when the wait for a slot
    would pass its deadline. `retry_after` is the wait asked for, in
    seconds, or None when none was given; retries never come sooner.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformUnavailable(TransientError):
    """The platform failed to answer (5xx, timeout, connection error).

    Raised by connector clients and OAuth code when the platform or its
    sign-in service answers 5xx, times out or cannot be reached.
    """


class IllegalTransition(ApplicationError):
    """Raised by `commerce_sync.syncs.transitions` when a sync run or push
    item is asked to move between two statuses its state machine does not
    connect (a succeeded run back to running, a pushed item back to
    pending). Nothing is saved; it means a bug, so it keeps the 5000 code."""
