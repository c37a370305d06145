"""Error reporting to Sentry (sentry-sdk), switched on by `SENTRY_DSN`.

What may leave the machine is kept to the error and its place: no personal
data (`send_default_pii=False`: no cookies, user, client address or request
bodies), no local variables of the frames (they hold credentials, keys and
records while a sync runs), and every field named like a secret (the SDK's
list plus ours: access/refresh tokens, client secrets, signing secrets, API
keys, credentials) replaced by "[Filtered]", at any depth.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

# Field names of our own secrets, beyond the SDK's defaults (matched without case).
SECRET_FIELDS = [
    "access_token",
    "refresh_token",
    "client_secret",
    "credentials",
    "credentials_keys",
    "secret_key",
    "hashed_key",
    "signing_secret",
    "secrets",
    "whsec",
    "code",
    "code_verifier",
    "metrics_token",
    "x-api-key",
    "dsn",
]


# Any key containing one of these (without case) is filtered wherever it sits,
# contexts and tags included (the SDK's scrubber leaves contexts alone).
SECRET_STEMS = (
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "sessionid",
    "hashed_key",
    "code_verifier",
    "dsn",
)
FILTERED = "[Filtered]"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and any(stem in key.lower() for stem in SECRET_STEMS)
            else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's `before_send`: every secret-named key of the event filtered,
    at any depth (the last guard after the SDK's own scrubber)."""
    return dict(_scrub(event))


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float, **extra: Any) -> None:
    """Start the Sentry SDK for this process (web or worker) with the
    privacy settings above; `extra` goes to `sentry_sdk.init` (tests pass a
    transport)."""
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + SECRET_FIELDS, recursive=True),
        before_send=scrub_event,  # type: ignore[arg-type]
        traces_sample_rate=traces_sample_rate,
        **extra,
    )
