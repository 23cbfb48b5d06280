"""Signed GET-image URLs: HMAC-SHA256 over the canonical query, keyed by the project secret."""

import base64
import hashlib
import hmac

import pytest

from serve_app.errors import SignatureInvalid
from serve_app.services.signing import canonical_query, signed_query, verify

SECRET = "project-secret"
NOW = 1_800_000_000


def test_the_signature_is_an_hmac_of_the_sorted_query_a_client_can_recompute():
    query = signed_query(SECRET, "seed=3&prompt=A sunset")
    expected = hmac.new(SECRET.encode(), b"prompt=A%20sunset&seed=3", hashlib.sha256).digest()
    assert query == "prompt=A%20sunset&seed=3&sig=" + base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_a_signed_query_verifies_in_any_order_and_spacing():
    signed = signed_query(SECRET, "prompt=a+fox&seed=3")
    verify(SECRET, signed, now=NOW)
    sig = signed.rsplit("&", 1)[1]
    verify(SECRET, f"{sig}&seed=3&prompt=a%20fox", now=NOW)


def test_sig_is_split_off_by_name_not_by_text():
    # A parameter whose value contains the text of `&sig=...` must stay part of what is signed.
    signed = signed_query(SECRET, "prompt=x")
    sig = signed.rsplit("=", 1)[1]
    with pytest.raises(SignatureInvalid):
        verify(SECRET, f"prompt=x&note=%26sig%3D{sig}&sig={sig}", now=NOW)
    assert canonical_query([("sig", "a"), ("b", "2"), ("a", "1")]) == "a=1&b=2"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: q.replace("fox", "cat"),
        lambda q: q + "&seed=4",
        lambda q: q[:-2] + ("AA" if not q.endswith("AA") else "BB"),
    ],
)
def test_a_tampered_query_is_rejected(tamper):
    signed = signed_query(SECRET, "prompt=a fox")
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(SECRET, tamper(signed), now=NOW)


def test_another_projects_secret_does_not_verify():
    with pytest.raises(SignatureInvalid):
        verify("other-secret", signed_query(SECRET, "prompt=a fox"), now=NOW)


def test_missing_or_repeated_sig_is_rejected():
    with pytest.raises(SignatureInvalid, match="requires signed URLs"):
        verify(SECRET, "prompt=a", now=NOW)
    signed = signed_query(SECRET, "prompt=a")
    with pytest.raises(SignatureInvalid, match="once"):
        verify(SECRET, signed + "&sig=x", now=NOW)


def test_exp_is_signed_and_enforced():
    signed = signed_query(SECRET, "prompt=a", expires_at=NOW + 10)
    verify(SECRET, signed, now=NOW + 10)
    with pytest.raises(SignatureInvalid, match="expired"):
        verify(SECRET, signed, now=NOW + 11)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(SECRET, signed.replace(f"exp={NOW + 10}", f"exp={NOW + 9999}"), now=NOW)


def test_padding_on_the_signature_is_accepted():
    signed = signed_query(SECRET, "prompt=a")
    verify(SECRET, signed + "=", now=NOW)
