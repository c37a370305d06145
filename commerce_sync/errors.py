"""The product's error taxonomy.

Every anticipated failure is an `ApplicationError` carrying a message a
merchant or support agent can act on and the Codat-compatible status code a
sync ends with. Transient errors are retried; everything else is permanent.
"""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 5000
    transient = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # kept for support, never shown to a merchant


class ConfigurationError(ApplicationError):
    status_code = 4000


class CredentialsRevoked(ApplicationError):
    status_code = 4040


class SubscriptionExpired(ApplicationError):
    status_code = 4260


class DataProcessingError(ApplicationError):
    status_code = 5120


class DocumentRejected(ApplicationError):
    """The target refused one document (validation, unknown account ...)."""

    status_code = 5130


class DuplicateSync(ApplicationError):
    status_code = 5080


class TransientError(ApplicationError):
    transient = True


class RateLimited(TransientError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformUnavailable(TransientError):
    pass


class IllegalTransition(ApplicationError):
    """Raised by `commerce_sync.syncs.transitions` when a sync run or push
    item is asked to move between two statuses its state machine does not
    connect (a succeeded run back to running, a pushed item back to
    pending). Nothing is saved; it means a bug, so it keeps the 5000 code."""
