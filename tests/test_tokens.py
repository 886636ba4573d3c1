"""The untrusting parser: strict base64url, strict JSON, compact JWS only, bounded size."""

from __future__ import annotations

import contextlib
import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revoker.core.errors import MalformedToken, TokenRejected, TokenTooLarge
from revoker.core.tokens import (
    DEFAULT_MAX_TOKEN_BYTES,
    b64url_decode,
    b64url_encode,
    parse_unverified,
    token_fingerprint,
)

HEADER = {"alg": "RS256", "kid": "k1"}
CLAIMS = {"sub": "user-1", "iss": "https://issuer.example", "exp": 1_700_000_000}
SIGNATURE = b"\x01\x02\x03 not a real signature"
B64URL_ALPHABET = string.ascii_letters + string.digits + "-_"


def seg(value: Any) -> str:
    """A base64url segment of ``value``: bytes as they are, anything else as JSON."""
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return b64url_encode(data)


def compact(header: Any = HEADER, claims: Any = CLAIMS, signature: bytes = SIGNATURE) -> str:
    return f"{seg(header)}.{seg(claims)}.{b64url_encode(signature)}"


def assert_malformed(token: Any, **kwargs: Any) -> None:
    with pytest.raises(MalformedToken) as info:
        parse_unverified(token, **kwargs)
    assert info.value.reason == "malformed"


def non_canonical(segment: str) -> str:
    """The same bytes with the unused low bits of the last character set."""
    assert len(segment) % 4 in (2, 3)
    last = _INDEX[segment[-1]]
    spare_bits = 0b1111 if len(segment) % 4 == 2 else 0b11
    return segment[:-1] + _ALPHABET_STD[last | spare_bits]


# Standard base64url order (A-Z a-z 0-9 - _), which is not the order of B64URL_ALPHABET.
_ALPHABET_STD = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_INDEX = {char: i for i, char in enumerate(_ALPHABET_STD)}


# --- base64url -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"f", b"fo", b"foo", b"\xff\xfe\xfd", bytes(range(256))],
    ids=lambda d: f"{len(d)}B",
)
def test_b64url_round_trip(data: bytes) -> None:
    """What b64url_encode writes, b64url_decode reads back unchanged, with no padding."""
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("Zm8=", id="padding-one"),
        pytest.param("Zg==", id="padding-two"),
        pytest.param("Zm9v====", id="padding-extra"),
        pytest.param("+/8A", id="plus-and-slash"),
        pytest.param("Zm+v", id="plus"),
        pytest.param("Zm/v", id="slash"),
        pytest.param("Zm9v ", id="trailing-space"),
        pytest.param(" Zm9v", id="leading-space"),
        pytest.param("Zm 9v", id="inner-space"),
        pytest.param("Zm9v\n", id="trailing-newline"),
        pytest.param("Zm\t9v", id="tab"),
        pytest.param("Zm9v\r\n", id="crlf"),
        pytest.param("Zh", id="non-canonical-1-byte"),
        pytest.param("Zm9", id="non-canonical-2-bytes"),
        pytest.param("Z", id="impossible-length-1"),
        pytest.param("Zm9vZ", id="impossible-length-5"),
        pytest.param("Zm9\u00fc", id="non-ascii"),
        pytest.param("Zm9v.", id="dot"),
        pytest.param("Zm9v\x00", id="nul"),
    ],
)
def test_b64url_decode_is_strict(segment: str) -> None:
    """Padding, '+', '/', whitespace, a non-canonical tail and an impossible length are refused."""
    with pytest.raises(MalformedToken):
        b64url_decode(segment)


def test_b64url_decode_refuses_bytes() -> None:
    """Only text is decoded: bytes are refused rather than coerced."""
    with pytest.raises(MalformedToken):
        b64url_decode(b"Zm9v")  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_b64url_round_trip_any_bytes(data: bytes) -> None:
    """Every byte string survives encode then decode."""
    assert b64url_decode(b64url_encode(data)) == data


@given(st.text(alphabet=B64URL_ALPHABET + "=+/ \n", max_size=40))
def test_b64url_decode_is_injective(segment: str) -> None:
    """A segment decodes only if it is the one canonical encoding of its bytes."""
    try:
        data = b64url_decode(segment)
    except MalformedToken:
        return
    assert b64url_encode(data) == segment


# --- segments inside a token -------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda s: s + "=" * (-len(s) % 4 or 4), id="padding"),
        pytest.param(lambda s: s[:2] + "+" + s[3:], id="plus"),
        pytest.param(lambda s: s[:2] + "/" + s[3:], id="slash"),
        pytest.param(lambda s: s[:2] + " " + s[2:], id="space"),
        pytest.param(lambda s: s + "\n", id="newline"),
        pytest.param(lambda s: s + "A" * (1 if len(s) % 4 == 0 else 5 - len(s) % 4), id="length"),
    ],
)
def test_parse_refuses_non_base64url_segments(index: int, spoil: Any) -> None:
    """Each segment of a token obeys the same strict base64url as b64url_decode."""
    parts = compact().split(".")
    parts[index] = spoil(parts[index])
    assert_malformed(".".join(parts))


@pytest.mark.parametrize("index", [0, 1, 2], ids=["header", "payload", "signature"])
def test_parse_refuses_non_canonical_segment(index: int) -> None:
    """Two spellings of one token would give two fingerprints: the non-canonical one is refused."""
    # Grow the segment until its length leaves spare bits in the last character.
    pad = 0
    while True:
        header = {**HEADER, "x": "a" * pad}
        claims = {**CLAIMS, "x": "a" * pad}
        parts = compact(header, claims, SIGNATURE + b"a" * pad).split(".")
        if len(parts[index]) % 4 in (2, 3):
            break
        pad += 1
        assert pad < 8
    assert parse_unverified(".".join(parts))
    parts[index] = non_canonical(parts[index])
    assert_malformed(".".join(parts))


# --- JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [[], ["alg"], "RS256", 1, 1.5, None, True],
    ids=["empty-array", "array", "string", "int", "float", "null", "true"],
)
@pytest.mark.parametrize("where", ["header", "payload"])
def test_json_must_be_an_object(value: Any, where: str) -> None:
    """Header and payload are JSON objects; arrays, strings, numbers and literals are refused."""
    token = compact(header=value) if where == "header" else compact(claims=value)
    assert_malformed(token)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"sub":"a","sub":"b"}', id="top-level"),
        pytest.param(b'{"sub":"a","\\u0073ub":"b"}', id="escaped-spelling"),
        pytest.param(b'{"a":{"b":1,"b":2}}', id="nested-object"),
        pytest.param(b'{"a":[{"b":1},{"c":1,"c":1}]}', id="object-in-array"),
        pytest.param(b'{"a":{"b":{"c":{"d":1,"d":1}}}}', id="deep"),
    ],
)
@pytest.mark.parametrize("where", ["header", "payload"])
def test_duplicate_member_names_refused_at_any_depth(raw: bytes, where: str) -> None:
    """Parsers that keep the first or the last duplicate disagree: refuse both."""
    if where == "header":
        raw = raw[:-1] + b',"alg":"RS256"}'
        token = f"{seg(raw)}.{seg(CLAIMS)}.{b64url_encode(SIGNATURE)}"
    else:
        token = compact(claims=raw)
    assert_malformed(token)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["header", "payload"])
def test_non_standard_json_constants_refused(constant: str, where: str) -> None:
    """Python's json accepts NaN and Infinity; JSON does not, and neither do we."""
    raw = f'{{"alg":"RS256","exp":{constant}}}'.encode()
    token = compact(header=raw) if where == "header" else compact(claims=raw)
    assert_malformed(token)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xef\xbb\xbf" + json.dumps(CLAIMS).encode(), id="utf8-bom"),
        pytest.param(json.dumps(CLAIMS).encode("utf-16"), id="utf16"),
        pytest.param(b'{"sub":"\xff"}', id="invalid-byte"),
        pytest.param(b'{"sub":"\xc0\xaf"}', id="overlong"),
        pytest.param(b'{"sub":"\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param(b'{"sub":"\xe2\x82"}', id="truncated-sequence"),
        pytest.param(b'{"sub":"a"', id="truncated-json"),
        pytest.param(b'{"sub":"a"} {"sub":"b"}', id="two-documents"),
        pytest.param(b"{'sub':'a'}", id="single-quotes"),
        pytest.param(b'{"sub":"a",}', id="trailing-comma"),
        pytest.param(b"\x00", id="nul-byte"),
        pytest.param(b" ", id="whitespace-only"),
    ],
)
def test_payload_must_be_utf8_json(raw: bytes) -> None:
    """A BOM, invalid UTF-8 and anything that is not exactly one JSON document are refused."""
    assert_malformed(compact(claims=raw))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"sub":"\\ud800"}', id="lone-high"),
        pytest.param(b'{"sub":"\\udc00"}', id="lone-low"),
        pytest.param(b'{"sub":"\\udc00\\ud800"}', id="reversed-pair"),
        pytest.param(b'{"sub":"a\\ud83dx"}', id="high-then-letter"),
        pytest.param(b'{"\\ud800":"x"}', id="in-a-key"),
        pytest.param(b'{"a":[{"b":["\\uDFFF"]}]}', id="nested"),
    ],
)
def test_lone_surrogate_escapes_refused(raw: bytes) -> None:
    """A lone surrogate escape is invalid UTF-8 spelled in JSON: refused like the bytes are."""
    assert_malformed(compact(claims=raw))


def test_escapes_that_are_text_parse() -> None:
    """A surrogate pair, other escapes and an escaped backslash before 'u' are fine."""
    raw = b'{"sub":"\\ud83d\\ude00 \\u00e9 \\\\ud800","iss":"https:\\/\\/x"}'
    claims = parse_unverified(compact(claims=raw)).claims
    assert claims["sub"] == "\U0001f600 \u00e9 \\ud800"
    assert claims["iss"] == "https://x"


@pytest.mark.parametrize("depth", [2_000, 50_000], ids=["2k", "50k"])
def test_deep_nesting_is_malformed_not_a_crash(depth: int) -> None:
    """Nesting deep enough to exhaust the recursion limit is a parse error, not a traceback."""
    raw = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert_malformed(compact(claims=raw), max_bytes=10 * depth + 1000)


@pytest.mark.parametrize("depth", range(900, 1000, 7))
def test_nesting_near_the_limit_with_an_escape(depth: int) -> None:
    """Around the recursion limit, with an escape to re-check, the answer is still clean."""
    raw = b'{"a":"\\u00e9","b":' + b"[" * depth + b"]" * depth + b"}"
    parse_or_refuse(compact(claims=raw))


def test_shallow_nesting_parses() -> None:
    """Ordinary nesting (Cognito's identities list) is fine."""
    raw = b'{"a":' + b"[" * 50 + b"]" * 50 + b"}"
    assert parse_unverified(compact(claims=raw)).claims["a"]


def test_integer_beyond_python_digit_limit_is_malformed() -> None:
    """A 5000-digit integer trips Python's int limit: refused as malformed, not a ValueError."""
    raw = b'{"exp":' + b"9" * 5000 + b"}"
    assert_malformed(compact(claims=raw))


def test_large_numbers_within_limits_parse() -> None:
    """A 400-digit integer and 1e400 parse; the verifier, not the parser, rules on them."""
    raw = b'{"exp":' + b"9" * 400 + b',"nbf":1e400}'
    claims = parse_unverified(compact(claims=raw)).claims
    assert claims["exp"] == int("9" * 400)
    assert claims["nbf"] == float("inf")


# --- size ----------------------------------------------------------------------------


def token_of_length(length: int) -> str:
    """A well-formed token exactly ``length`` characters long."""
    for pad in range(length):
        for extra in range(4):
            token = compact(claims={**CLAIMS, "pad": "x" * pad}, signature=b"s" * (32 + extra))
            if len(token) == length:
                return token
            if len(token) > length + 8:
                break
    raise AssertionError(f"no token of length {length}")


def test_default_limit_is_8_kib() -> None:
    """A token of exactly 8 KiB parses; one character more is too large."""
    assert DEFAULT_MAX_TOKEN_BYTES == 8192
    assert parse_unverified(token_of_length(8192)).claims["sub"] == "user-1"
    with pytest.raises(TokenTooLarge) as info:
        parse_unverified(token_of_length(8193))
    assert info.value.reason == "too_large"
    assert isinstance(info.value, TokenRejected)


def test_configured_limit() -> None:
    """max_bytes moves the limit both ways."""
    token = token_of_length(1000)
    assert parse_unverified(token, max_bytes=1000)
    with pytest.raises(TokenTooLarge):
        parse_unverified(token, max_bytes=999)
    assert parse_unverified(token_of_length(9000), max_bytes=9000)


def test_size_is_checked_before_anything_else() -> None:
    """A huge blob of junk costs a length check, not a parse: too_large, not malformed."""
    with pytest.raises(TokenTooLarge):
        parse_unverified("!" * 100_000)


# --- compact JWS only ------------------------------------------------------------------


JWE_HEADER = {"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "k1"}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{seg(JWE_HEADER)}.AAAA.AAAA.{seg(CLAIMS)}.AAAA", id="jwe-five-segments"),
        pytest.param(
            f"{seg({**HEADER, 'enc': 'A256GCM'})}.{seg(CLAIMS)}.{b64url_encode(SIGNATURE)}",
            id="header-with-enc",
        ),
        pytest.param(
            json.dumps({"payload": seg(CLAIMS), "protected": seg(HEADER), "signature": "AAAA"}),
            id="json-flattened",
        ),
        pytest.param(
            json.dumps(
                {
                    "payload": seg(CLAIMS),
                    "signatures": [{"protected": seg(HEADER), "signature": "AA"}],
                }
            ),
            id="json-general",
        ),
        pytest.param(compact(header={**HEADER, "cty": "JWT"}), id="cty-JWT"),
        pytest.param(compact(header={**HEADER, "cty": "jwt"}), id="cty-jwt"),
        pytest.param(
            compact(header={**HEADER, "cty": "application/jwt"}), id="cty-application-jwt"
        ),
        pytest.param(compact(header={**HEADER, "cty": "Application/JWT"}), id="cty-mixed-case"),
        pytest.param(f"{seg(HEADER)}.{seg(CLAIMS)}", id="two-segments"),
        pytest.param(compact() + ".AAAA", id="four-segments"),
        pytest.param(compact() + ".", id="trailing-dot"),
        pytest.param(f"{seg(HEADER)}", id="one-segment"),
        pytest.param("", id="empty"),
        pytest.param("..", id="all-empty"),
        pytest.param(f".{seg(CLAIMS)}.AAAA", id="empty-header"),
        pytest.param(f"{seg(HEADER)}..AAAA", id="empty-payload"),
        pytest.param(f"{seg(HEADER)}..", id="empty-payload-and-signature"),
        pytest.param("Bearer " + compact(), id="bearer-prefix"),
        pytest.param(" " + compact(), id="leading-space"),
    ],
)
def test_only_compact_jws_is_accepted(token: str) -> None:
    """JWE, the JSON serialisations, nested JWTs and a wrong segment count are all refused."""
    assert_malformed(token)


def test_other_cty_is_not_mistaken_for_nesting() -> None:
    """A cty that is not JWT does not make a token nested."""
    assert parse_unverified(compact(header={**HEADER, "cty": "application/json"}))


@pytest.mark.parametrize(
    "header",
    [{"kid": "k1"}, {"alg": None}, {"alg": 256}, {"alg": ["RS256"]}, {"alg": {"name": "RS256"}}],
    ids=["missing", "null", "number", "list", "object"],
)
def test_header_needs_a_string_alg(header: dict[str, Any]) -> None:
    """Without a string alg there is nothing to check the allow-list against."""
    assert_malformed(compact(header=header))


@pytest.mark.parametrize("token", [None, b"a.b.c", 123, ["a", "b", "c"]], ids=repr)
def test_non_string_tokens_refused(token: Any) -> None:
    """Bytes, None and other objects are malformed, not a TypeError."""
    assert_malformed(token)


def test_parse_returns_every_part() -> None:
    """The parsed token carries raw, header, claims, the signing input and signature bytes."""
    token = compact()
    parsed = parse_unverified(token)
    assert parsed.raw == token
    assert parsed.header == HEADER
    assert parsed.claims == CLAIMS
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert parsed.signature == SIGNATURE


def test_empty_signature_parses() -> None:
    """An empty signature parses, so that it fails later as bad_signature."""
    token = compact(signature=b"")
    assert token.endswith(".")
    assert parse_unverified(token).signature == b""


# --- fingerprint -------------------------------------------------------------------------


def test_fingerprint_is_a_short_stable_hash() -> None:
    """16 hex digits, the same for str and bytes, different for different tokens."""
    token = compact()
    fingerprint = token_fingerprint(token)
    assert len(fingerprint) == 16
    assert set(fingerprint) <= set(string.hexdigits.lower())
    assert fingerprint == token_fingerprint(token.encode())
    assert fingerprint != token_fingerprint(compact(claims={**CLAIMS, "sub": "user-2"}))
    assert fingerprint not in token


def test_fingerprint_of_unencodable_text() -> None:
    """A token with a lone surrogate still has a fingerprint (it is logged before parsing)."""
    assert len(token_fingerprint("a.\ud800.c")) == 16


# --- properties -----------------------------------------------------------------------------


def parse_or_refuse(token: str) -> None:
    """The property: parse_unverified returns, or raises MalformedToken or TokenTooLarge."""
    with contextlib.suppress(MalformedToken, TokenTooLarge):
        parse_unverified(token)


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=400))
def test_any_text_parses_or_is_refused(token: str) -> None:
    """Any text at all, surrogates included."""
    parse_or_refuse(token)


@given(st.binary(max_size=400))
def test_any_bytes_as_latin1_parse_or_are_refused(data: bytes) -> None:
    """Any bytes, read as latin-1 so that every byte value is a character."""
    parse_or_refuse(data.decode("latin-1"))


@given(st.lists(st.text(alphabet=B64URL_ALPHABET, max_size=60), min_size=1, max_size=6))
def test_random_base64url_segments_parse_or_are_refused(segments: list[str]) -> None:
    """Dots between random base64url runs: the shape of a token, the content of noise."""
    parse_or_refuse(".".join(segments))


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6)


@given(header=JSON_OBJECTS, claims=JSON_OBJECTS, signature=st.binary(max_size=80))
@settings(max_examples=200)
def test_random_json_objects_parse_or_are_refused(
    header: dict[str, Any], claims: dict[str, Any], signature: bytes
) -> None:
    """Random JSON objects (NaN and infinities included) in the right places."""
    parse_or_refuse(compact(header=header, claims=claims, signature=signature))


@given(
    header=JSON_OBJECTS,
    alg=st.sampled_from(["RS256", "none", "HS256", ""]),
    claims=JSON_OBJECTS,
)
def test_random_claims_with_an_alg_parse(
    header: dict[str, Any], alg: str, claims: dict[str, Any]
) -> None:
    """With a string alg and finite JSON, a random claim set parses and round-trips."""
    header = {**header, "alg": alg}
    header.pop("enc", None)
    header.pop("cty", None)
    token = compact(header=header, claims=claims)
    try:
        parsed = parse_unverified(token)
    except TokenTooLarge:
        assert len(token) > DEFAULT_MAX_TOKEN_BYTES
        return
    except MalformedToken:
        # Only the JSON constants may be refused here: json.dumps writes NaN and Infinity.
        assert any(word in token_json(token) for word in ("NaN", "Infinity"))
        return
    assert parsed.header == header
    assert parsed.claims == claims


def token_json(token: str) -> str:
    header, payload, _ = token.split(".")
    return (b64url_decode(header) + b64url_decode(payload)).decode()


@given(
    position=st.integers(min_value=0, max_value=10_000),
    char=st.characters(codec="latin-1"),
    action=st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_tokens_parse_or_are_refused(position: int, char: str, action: str) -> None:
    """One character changed, added or removed anywhere in a valid token."""
    token = compact()
    i = position % len(token)
    if action == "replace":
        token = token[:i] + char + token[i + 1 :]
    elif action == "insert":
        token = token[:i] + char + token[i:]
    else:
        token = token[:i] + token[i + 1 :]
    parse_or_refuse(token)
