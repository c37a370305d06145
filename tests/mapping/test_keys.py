"""Idempotency keys: what a target is asked to refuse a duplicate by."""

from __future__ import annotations

import hashlib
from datetime import date

from mapping.keys import KEY_LIMIT, document_key

DAY = date(2026, 3, 8)


def test_a_key_of_exactly_the_limit_is_kept_readable():
    prefix = "m" * (KEY_LIMIT - len(":2026-03-08:GBP:-:day:journalEntry"))
    key = document_key(prefix, (DAY, "GBP", None, "day"), "journalEntry")
    assert key == f"{prefix}:2026-03-08:GBP:-:day:journalEntry"
    assert len(key) == KEY_LIMIT


def test_a_longer_key_keeps_prefix_day_and_kind_and_a_digest_of_the_whole():
    """Past the limit: 40 characters of the prefix, the day, the kind and
    the first 32 hex digits of the SHA-256 of the full key, under Xero's
    128-character cap; two long keys that differ only at the end differ."""
    prefix = "merchant-" + "x" * 80
    group = (DAY, "GBP", "L1", "day")
    key = document_key(prefix, group, "payment", "Card")
    full = f"{prefix}:2026-03-08:GBP:L1:day:payment:Card"
    digest = hashlib.sha256(full.encode()).hexdigest()[:32]
    assert key == f"{prefix[:40]}:2026-03-08:payment:{digest}"
    assert len(key) <= 128
    assert document_key(prefix, group, "payment", "Cash") != key
