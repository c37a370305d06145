"""Secrets guarded suite-wide (test code).

Every secret a test can know of is registered here: each string the app
encrypts into a connection's credentials (tokens, refresh tokens, API keys,
client secrets, webhook secrets: whatever a connector or a refresh stores,
so a token issued by a successful refresh is known the moment it is saved),
and the fixed values factories and doubles hand out (`register`).

The autouse fixture `secrets_guarded` (tests/conftest.py) captures every log
record the app emits at any level and every HTTP response body Django
produces during a test, and fails the test if any registered value appears
in one of them. The failure names the logger or URL and the secret's length,
never the secret itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MINIMUM = 8  # shorter values ("at-1") are too common in text to search for
_LOCK = threading.Lock()
KNOWN: set[str] = set()


def register(*values: object) -> None:
    """Remember secret values (strings of MINIMUM characters or more)."""
    with _LOCK:
        KNOWN.update(v for v in values if isinstance(v, str) and len(v) >= MINIMUM)


SECRET_NAMES = ("token", "secret", "key", "password", "verifier")


def register_credentials(value: Any, name: str = "") -> None:
    """Every string inside a credentials value held under a secret's name
    (access_token, refresh_token, api_key, client_secret, ...; not tenant or
    realm ids, expiry times or token types)."""
    if isinstance(value, dict):
        for key, each in value.items():
            register_credentials(each, str(key).lower())
    elif isinstance(value, (list, tuple)):
        for each in value:
            register_credentials(each, name)
    elif any(part in name for part in SECRET_NAMES) and not name.endswith(("_type", "_at")):
        register(value)


class Capture(logging.Handler):
    """Keeps (where, text) of every record and every response body."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep both
            text = f"{record.msg} {record.args}"
        parts = [text, repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
        parts += [repr(v) for k, v in vars(record).items() if k not in _STANDARD]
        with _LOCK:
            self.texts.append((f"log {record.name}", " ".join(parts)))

    def body(self, where: str, content: bytes) -> None:
        with _LOCK:
            self.texts.append((f"response {where}", content.decode("utf-8", "replace")))

    def leaks(self) -> list[str]:
        with _LOCK:
            known, texts = sorted(KNOWN), list(self.texts)
        return [
            f"a secret of {len(secret)} characters appeared in {where}"
            for where, text in texts
            for secret in known
            if secret in text
        ]


_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
}


@contextmanager
def guarded() -> Iterator[Capture]:
    """Capture logs (every logger, every level) and Django response bodies."""
    from django.core.handlers.base import BaseHandler

    from connectors import credentials

    capture = Capture()
    root = logging.getLogger()
    level = root.level
    # Loggers that do not propagate to the root get the handler too.
    isolated = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    root.addHandler(capture)
    for logger in isolated:
        logger.addHandler(capture)
    root.setLevel(logging.DEBUG)
    original_encrypt = credentials.encrypt_json
    original_response = BaseHandler.get_response

    def encrypt_json(value: Any) -> str:
        register_credentials(value)
        return original_encrypt(value)

    def get_response(self: BaseHandler, request: Any) -> Any:
        response = original_response(self, request)
        if not getattr(response, "streaming", False):
            capture.body(request.get_full_path(), response.content)
        return response

    credentials.encrypt_json = encrypt_json  # type: ignore[assignment]
    BaseHandler.get_response = get_response  # type: ignore[method-assign]
    try:
        yield capture
    finally:
        credentials.encrypt_json = original_encrypt
        BaseHandler.get_response = original_response  # type: ignore[method-assign]
        root.setLevel(level)
        root.removeHandler(capture)
        for logger in isolated:
            logger.removeHandler(capture)
