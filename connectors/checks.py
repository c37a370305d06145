"""System checks: a bad credentials key should stop startup, not the first sync."""

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured


def missing_secrets() -> list[str]:
    """What a server or worker must not start without."""
    missing = []
    try:
        settings.SECRET_KEY  # noqa: B018 - Django raises on an empty key
    except ImproperlyConfigured:
        missing.append("SECRET_KEY must be set when DEBUG is off")
    if not settings.CREDENTIALS_KEYS:
        missing.append("CREDENTIALS_KEYS must be set when DEBUG is off")
    return missing


@register()
def check_secrets(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    return [Error(f"{text}.", id="connectors.E001") for text in missing_secrets()]


@register()
def check_credentials_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for position, key in enumerate(settings.CREDENTIALS_KEYS, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                Error(
                    f"Key {position} in CREDENTIALS_KEYS is not a Fernet key.",
                    hint="Generate one with cryptography.fernet.Fernet.generate_key().",
                    id="connectors.E002",
                )
            )
    return errors


def refuse_to_serve_without_secrets() -> None:
    """Called by the WSGI and ASGI entry points: gunicorn runs no system checks."""
    missing = missing_secrets()
    if missing:
        raise ImproperlyConfigured("; ".join(missing))
