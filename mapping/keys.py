"""Deterministic idempotency keys, and the document headers that carry them.

A document's key is a pure function of the merchant's prefix, its group and
its kind (plus what tells documents of one kind apart, such as a payment
type): mapping the same period again gives the same keys, which is what lets
targets refuse duplicates.
"""

from __future__ import annotations

import hashlib

from mapping.books import Book, GroupKey
from mapping.documents import Header

KEY_LIMIT = 120  # Xero caps idempotency keys at 128 characters


def document_key(prefix: str, group: GroupKey, kind: str, *extra: str) -> str:
    """`prefix:day:currency:location:section:kind[:extra...]`, or, when longer
    than KEY_LIMIT characters, `prefix[:40]:day:kind:` and a 32-hex SHA-256 digest."""
    day, currency, location, section = group
    parts = [
        prefix,
        day.isoformat(),
        currency,
        location or "-",
        section or "day",
        kind,
        *extra,
    ]
    text = ":".join(parts)
    if len(text) > KEY_LIMIT:
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        text = f"{prefix[:40]}:{day.isoformat()}:{kind}:{digest}"
    return text


def document_header(
    prefix: str, group: GroupKey, kind: str, description: str, book: Book, *extra: str
) -> Header:
    """The header of one document of `group`, with its key and the book's flags."""
    day, currency, location, _ = group
    return Header(
        document_key(prefix, group, kind, *extra),
        currency,
        day,
        location,
        description,
        tuple(sorted(book.flags)),
    )
