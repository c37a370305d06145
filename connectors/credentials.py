"""Connection credentials, encrypted at rest with Fernet.

`settings.CREDENTIALS_KEYS` is a list of Fernet keys: the first encrypts, every
one decrypts. Rotation: prepend a new key, run `manage.py rotate_credentials`,
then drop the old key. The column only ever holds a Fernet token, so a database
dump, a query log or `dumpdata` never shows a secret.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from commerce_sync.errors import ApplicationError


class CredentialsUnreadable(ApplicationError):
    """A stored token matches none of the configured keys."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def get_fernet() -> MultiFernet:
    # Looked up per call so tests (and a reloaded config) can change the keys.
    keys = tuple(settings.CREDENTIALS_KEYS)
    if not keys:
        raise ImproperlyConfigured("CREDENTIALS_KEYS is empty.")
    return _fernet_for(keys)


def encrypt_json(value: Any) -> str:
    plaintext = json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))
    return get_fernet().encrypt(plaintext.encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        plaintext = get_fernet().decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadable(
            "Stored credentials cannot be decrypted with the configured keys.",
            detail="Is a key missing from CREDENTIALS_KEYS?",
        ) from None
    return json.loads(plaintext)


def reencrypt(token: str) -> str:
    """The same secret encrypted with the newest (first) key."""
    try:
        return get_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "Stored credentials cannot be decrypted with the configured keys."
        ) from None


class EncryptedJSONField(models.TextField):
    """A JSON value (normally a dict) stored as a Fernet token.

    Only `isnull` lookups exist: every encryption uses a fresh IV, so comparing
    ciphertexts could never match.
    """

    description = "JSON encrypted with Fernet"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        # Strings arrive from deserialisation (loaddata), in the form value_to_string made.
        if isinstance(value, str):
            return decrypt_json(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else encrypt_json(value)

    def value_to_string(self, obj: models.Model) -> str | None:
        # Serialisers (dumpdata) get the ciphertext, never the plaintext.
        return self.get_prep_value(self.value_from_object(obj))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise FieldError(f"{self.name} is encrypted and supports only isnull lookups.")
        return super().get_lookup(lookup_name)

    def formfield(self, **kwargs: Any) -> None:
        # Never rendered in a form, admin included.
        return None
