"""Partner API keys: random tokens of which only a hash and a prefix are kept."""

import hashlib
import secrets

PREFIX_LENGTH = 8


def api_key_generate() -> str:
    return secrets.token_urlsafe(32)


def api_key_hash(plaintext: str) -> str:
    # A fast hash is enough: the key is 256 random bits, not a guessable password.
    return hashlib.sha256(plaintext.encode()).hexdigest()
