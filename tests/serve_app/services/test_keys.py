"""API key format, hashing and Authorization parsing."""

import pytest

from serve_app.services.keys import (
    KEY_PREFIX,
    LOOKUP_PREFIX_LENGTH,
    generate_key,
    hash_key,
    key_matches,
    parse_authorization,
)


def test_keys_carry_at_least_256_random_bits_and_differ():
    keys = {generate_key().plaintext for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        # token_urlsafe(32): 43 base64url characters = 258 bits after the fixed prefix.
        assert key.startswith(KEY_PREFIX) and len(key) - len(KEY_PREFIX) >= 43


def test_only_the_hash_and_a_short_prefix_are_kept():
    key = generate_key()
    assert key.prefix == key.plaintext[:LOOKUP_PREFIX_LENGTH]
    assert key.key_hash == hash_key(key.plaintext) and key.plaintext not in key.key_hash
    assert key_matches(key.plaintext, key.key_hash)
    assert not key_matches(key.plaintext + "x", key.key_hash)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("Token abc", "abc"),
        ("bearer   abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_and_token_schemes_are_accepted(header, expected):
    assert parse_authorization(header) == expected
