"""Signed GET-image URLs: `sig` is the URL-safe base64 (unpadded) HMAC-SHA256, keyed by the
project's secret, of the canonical query: every other parameter, decoded, sorted by name then
value, each name and value percent-encoded (RFC 3986 unreserved characters kept) and joined
as `name=value` with `&`. An optional `exp` (unix seconds) is signed like any parameter."""

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

from serve_app.errors import SignatureInvalid

SIGNATURE_PARAM = "sig"
EXPIRY_PARAM = "exp"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The signed string: never includes `sig`, whatever position it had in the URL."""
    kept = sorted((name, value) for name, value in pairs if name != SIGNATURE_PARAM)
    return "&".join(f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in kept)


def sign(secret: str, pairs: Iterable[tuple[str, str]]) -> str:
    digest = hmac.new(secret.encode(), canonical_query(pairs).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_query(secret: str, query: str, *, expires_at: int | None = None) -> str:
    """`query` (any order, `+` or `%20` for spaces) in canonical form with `exp` and `sig` added."""
    pairs = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True) if name != SIGNATURE_PARAM]
    if expires_at is not None:
        pairs = [(name, value) for name, value in pairs if name != EXPIRY_PARAM] + [(EXPIRY_PARAM, str(expires_at))]
    return f"{canonical_query(pairs)}&{SIGNATURE_PARAM}={sign(secret, pairs)}"


def verify(secret: str, raw_query: str, *, now: float) -> None:
    """Raises SignatureInvalid unless `raw_query` carries exactly one valid, unexpired `sig`."""
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    given = [value for name, value in pairs if name == SIGNATURE_PARAM]
    if not given:
        raise SignatureInvalid("this project requires signed URLs; add `sig` (see `pixelray projects sign`)")
    if len(given) > 1:
        raise SignatureInvalid("send `sig` once")
    expected = sign(secret, pairs)
    if not hmac.compare_digest(expected.encode(), given[0].rstrip("=").encode()):
        raise SignatureInvalid("the signature does not match the parameters; sign the URL again")
    expiry = [value for name, value in pairs if name == EXPIRY_PARAM]
    if expiry:
        if len(expiry) > 1 or not expiry[0].isdigit():
            raise SignatureInvalid("`exp` must be one unix time in seconds")
        if now > int(expiry[0]):
            raise SignatureInvalid(f"this signed URL expired at unix time {expiry[0]}")
