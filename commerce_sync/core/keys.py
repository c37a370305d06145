"""Partner API keys: random tokens of which only a hash and a prefix are kept."""

import hashlib
import secrets

PREFIX_LENGTH = 8


def api_key_generate() -> str:
    """A new key: 32 random bytes as URL-safe base64 (43 characters), never
    starting with "-", so that its prefix can follow `--prefix` on a command
    line (argparse takes a value starting with "-" for an option and refuses
    it; about one key in 64 would otherwise start so)."""
    while True:
        plaintext = secrets.token_urlsafe(32)
        if not plaintext.startswith("-"):
            return plaintext


def api_key_hash(plaintext: str) -> str:
    # A fast hash is enough: the key is 256 random bits, not a guessable password.
    return hashlib.sha256(plaintext.encode()).hexdigest()
