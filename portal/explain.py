"""Plain-language words for what a run's status code and messages mean and
what a support agent does about each. The codes are Codat's Sync for
Commerce status codes (`commerce_sync.errors.StatusCode`)."""

from __future__ import annotations

from commerce_sync.errors import StatusCode

# status code -> (what happened, what to do)
STATUS_WORDS: dict[int, tuple[str, str]] = {
    StatusCode.IN_PROGRESS: ("The sync is queued or running.", "Wait: it usually ends in minutes."),
    StatusCode.IN_PROGRESS_LONG: (
        "The sync has been running for over ten minutes.",
        "Check the platforms' status pages; if it stays stuck, an operator can look at the "
        "worker logs for this sync id.",
    ),
    StatusCode.SUCCESS: ("The sync finished and wrote its documents.", "Nothing to do."),
    StatusCode.SUCCESS_NO_DATA: (
        "The sync finished; there was nothing to write for the period.",
        "Nothing to do, unless the merchant expected sales that day: then check the "
        "commerce connection is the right store.",
    ),
    StatusCode.CONFIGURATION_ERROR: (
        "The merchant's setup stopped the sync (a missing connection, or accounts, tax rates "
        "or contacts missing or archived in the accounting software).",
        "Ask the merchant to open their settings page and fix what the message names, then "
        "re-sync this range.",
    ),
    StatusCode.CONNECTION_DELETED: (
        "A connection was deleted or its authorisation was withdrawn.",
        "Ask the merchant to connect the platform again from their settings page, then "
        "retry the failed items.",
    ),
    StatusCode.CONNECTION_DEAUTHORIZED: (
        "The platform no longer accepts the connection's authorisation.",
        "Ask the merchant to reconnect, then retry the failed items.",
    ),
    StatusCode.SUBSCRIPTION_EXPIRED: (
        "The merchant's accounting subscription has lapsed.",
        "Ask the merchant to renew it with their accounting provider, then retry the failed items.",
    ),
    StatusCode.SERVER_ERROR: (
        "Something failed on our side.",
        "Retry; if it fails again, give an operator this sync id.",
    ),
    StatusCode.DUPLICATION_PROTECTION: (
        "The sync was refused because another one was queued, running or overlapped the range.",
        "Wait for the other sync to finish; nothing was written twice.",
    ),
    StatusCode.DATA_PROCESSING_ERROR: (
        "The commerce data could not be read or processed as it is.",
        "Give an operator this sync id and the message; nothing was written.",
    ),
    StatusCode.DATA_WRITE_ERROR: (
        "The accounting software refused some documents; the others were written.",
        "Read each failed item's error, have the merchant fix the cause (often an archived "
        "account), then retry the failed items.",
    ),
}

# a message's code (an exception or issue name) -> what to do
MESSAGE_ADVICE: dict[str, str] = {
    "ConfigurationError": "The merchant fixes their settings, then re-sync this range.",
    "CredentialsRevoked": "The merchant reconnects the platform, then retry the failed items.",
    "SubscriptionExpired": "The merchant renews their accounting subscription, then retry.",
    "DocumentRejected": "Fix what the accounting software refused, then retry the failed items.",
    "DataProcessingError": "Give an operator the sync id; the data needs a look.",
    "RateLimited": "The platform asked us to slow down; retry later.",
    "PlatformUnavailable": "The platform was unavailable; retry later.",
    "DuplicateSync": "Another sync was under way; wait for it.",
    "Requested": "",
}


def status_words(code: int) -> tuple[str, str]:
    """(what happened, what to do) for a status code; a generic pair if unknown."""
    return STATUS_WORDS.get(
        code, (f"Status code {code}.", "Give an operator this sync id if it is unexpected.")
    )


def message_advice(code: str) -> str:
    """What to do about a run message with this code ("" when nothing)."""
    return MESSAGE_ADVICE.get(code, "")
