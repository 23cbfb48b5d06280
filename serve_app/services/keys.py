"""API keys: 256 random bits, shown once, stored as a SHA-256 hash with a short clear prefix."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "pxr_"
LOOKUP_PREFIX_LENGTH = 16


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    # A fast hash is enough: keys carry 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(plaintext=plaintext, prefix=plaintext[:LOOKUP_PREFIX_LENGTH], key_hash=hash_key(plaintext))


def key_matches(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), key_hash)


def parse_authorization(header: str | None) -> str | None:
    """The key from `Bearer KEY` or `Token KEY` (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() not in ("bearer", "token") or not credentials:
        return None
    return credentials
