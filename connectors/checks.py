"""System checks: a bad credentials key should stop startup, not the first sync."""

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def check_credentials_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not settings.CREDENTIALS_KEYS:
        errors.append(Error("CREDENTIALS_KEYS is empty.", id="connectors.E001"))
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
