"""Parse a compact JWS without trusting it.

Nothing here checks a signature or a claim: ``parse_unverified`` only turns a
string into a header, claims, the signing input and the signature, refusing
anything that is not a plain compact JWS of bounded size. The strictness is
deliberate: two parsers that disagree on a token are how JWT bugs are made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revoker.core.detail import shown
from revoker.core.errors import MalformedToken, TokenTooLarge

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "UnverifiedToken",
    "b64url_decode",
    "b64url_encode",
    "header_type",
    "parse_unverified",
    "peek_header",
    "token_fingerprint",
]

DEFAULT_MAX_TOKEN_BYTES = 8 * 1024

_B64URL = re.compile(r"[A-Za-z0-9_-]*")

# In canonical base64url the bits past the last whole byte are zero, so a
# 2-char tail may end only in these characters, and a 3-char tail in those.
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_CANONICAL_LAST_OF_2 = frozenset("AQgw")
_CANONICAL_LAST_OF_3 = frozenset("AEIMQUYcgkosw048")


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A compact JWS split and decoded, with nothing about it yet trusted."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def token_fingerprint(token: str | bytes) -> str:
    """The first 16 hex digits of the token's SHA-256: what logs may show instead of it."""
    data = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token
    return hashlib.sha256(data).hexdigest()[:16]


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict unpadded base64url: no padding, no ``+`` or ``/``, no non-canonical tail."""
    # The standard decoder takes "=", "+" and "/" and skips other junk; refuse them first.
    if not isinstance(segment, str) or _B64URL.fullmatch(segment) is None:
        raise MalformedToken("a segment is not base64url")
    return _decode_segment(segment)


def _decode_segment(segment: str) -> bytes:
    # The caller has already checked the alphabet (the whole-token regex does it once).
    length = len(segment)
    remainder = length % 4
    if remainder == 1:
        raise MalformedToken("a base64url segment has an impossible length")
    if remainder == 2 and segment[-1] not in _CANONICAL_LAST_OF_2:
        raise MalformedToken("a base64url segment is not canonical")
    if remainder == 3 and segment[-1] not in _CANONICAL_LAST_OF_3:
        raise MalformedToken("a base64url segment is not canonical")
    try:
        padded = (segment + "=" * (-length % 4)).encode("ascii").translate(_URLSAFE_TO_STANDARD)
        # strict_mode refuses whitespace and anything else outside the alphabet.
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("a segment is not base64url") from exc


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"JSON constant {name} is not allowed")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedToken("a JSON object repeats a member name")
    return obj


# Built once: json.loads with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant
)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
        value = _DECODER.decode(text)
    except MalformedToken:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError (and a leading BOM) and integers
        # past Python's digit limit; RecursionError covers deep nesting.
        raise MalformedToken(f"the {what} is not valid UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    # "\ud800" alone is the JSON spelling of invalid UTF-8 (RFC 7493 forbids it); only a
    # text with an escape can hold one, and real tokens rarely have any.
    if "\\u" in text:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError) as exc:
            raise MalformedToken(f"the {what} holds a lone surrogate or nests too deep") from exc
    return value


# Tokens of one issuer share a handful of headers ({"kid", "alg"}), so parsed
# headers are kept; filled once up to a bound, so hostile variety cannot grow it.
_HEADERS: dict[str, dict[str, Any]] = {}
_MAX_CACHED_HEADERS = 256


def _parse_header(header_b64: str) -> dict[str, Any]:
    header = _json_object(_decode_segment(header_b64), "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedToken("the header has no string 'alg'")
    if "enc" in header:
        raise MalformedToken("JWE is not accepted")
    cty = header.get("cty")
    # RFC 7515 lets a media type drop its "application/" prefix: both mean nested.
    if isinstance(cty, str) and cty.lower().removeprefix("application/") == "jwt":
        raise MalformedToken("nested JWTs are not accepted")
    if len(_HEADERS) < _MAX_CACHED_HEADERS:
        _HEADERS[header_b64] = dict(header)
    return header


def header_type(header: Mapping[str, Any]) -> str | None:
    """The header's ``typ`` as a media type to compare: lower-cased, without ``application/``.

    RFC 7515 §4.1.9: media types are case-insensitive and ``application/`` may be left
    out, so ``application/AT+JWT`` and ``at+jwt`` name one type. None when absent.
    """
    typ = header.get("typ")
    if typ is None:
        return None
    if not isinstance(typ, str):
        raise MalformedToken(f"header 'typ' must be a string, not {shown(typ)}")
    return typ.lower().removeprefix("application/")


def peek_header(token: str) -> dict[str, Any] | None:
    """The token's header, unverified and cheap (parsed headers are cached); None if unreadable."""
    header_b64 = token.partition(".")[0]
    cached = _HEADERS.get(header_b64)
    if cached is not None:
        return dict(cached)
    try:
        return _parse_header(header_b64)
    except MalformedToken:
        return None


def parse_unverified(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> UnverifiedToken:
    """Split and decode a compact JWS; raise ``TokenTooLarge`` or ``MalformedToken``.

    Only compact JWS is accepted: JWE (five segments), the JSON serialisation
    and nested JWTs (``cty: JWT``) are refused.
    """
    if not isinstance(token, str):
        raise MalformedToken("a token must be a string")
    if len(token) > max_bytes:
        raise TokenTooLarge(f"the token is longer than {max_bytes} bytes")
    # The base64url alphabet, cheaply: the strict decoder refuses anything outside the
    # standard one, so only its "+", "/" and "=" need refusing here.
    if token.count(".") != 2 or "+" in token or "/" in token or "=" in token:
        raise MalformedToken("the token is not a compact JWS (three base64url segments)")
    header_b64, payload_b64, signature_b64 = token.split(".")
    if not header_b64 or not payload_b64:
        raise MalformedToken("the token is not a compact JWS (three base64url segments)")
    cached = _HEADERS.get(header_b64)
    # A copy: callers may edit their token's header; the cached one must stay as parsed.
    header = dict(cached) if cached is not None else _parse_header(header_b64)
    claims = _json_object(_decode_segment(payload_b64), "payload")
    return UnverifiedToken(
        raw=token,
        header=header,
        claims=claims,
        signing_input=token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii"),
        signature=_decode_segment(signature_b64),
    )
