"""Wycheproof's JWS, JWK and JWE vectors against revoker's parser and signature check.

The payloads are mostly not JWT claim sets ("foo", "Test", zeros), so the verifier
proper would refuse nearly every case for its payload alone. Two layers are run:

- the whole path (``parse_unverified`` + ``verify_signature``), which must never
  accept a case marked invalid;
- the signature layer, with the payload allowed to be any bytes (header and
  signature still go through ``parse_unverified``), which must accept every valid
  case except those listed in ``STRICTER`` with the reason, and refuse every
  invalid one except the gaps in ``KNOWN_GAPS``.

JWE is never decrypted: revoker refuses JWE outright, so those cases only check
that the parser refuses them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from revoker.core.errors import MalformedToken, TokenRejected, UnknownKid, UnsupportedAlgorithm
from revoker.core.jwks import SigningKey, parse_jwks
from revoker.core.tokens import UnverifiedToken, b64url_decode, b64url_encode, parse_unverified
from revoker.core.verify import SUPPORTED_ALGORITHMS, verify_signature
from shared_fixtures import FIXTURES, fixtures_present, need_fixtures

VECTORS = FIXTURES / "jws-vectors"
FILES = {
    "sig": "wycheproof__json_web_signature_test.json",
    "crypto": "wycheproof__json_web_crypto_test.json",
    "key": "wycheproof__json_web_key_test.json",
}

_HMAC = "HMAC needs a shared secret; revoker verifies issuers' public keys only"
_ALG_MISMATCH = "a key's own alg must equal the header's alg"

#: Valid cases revoker refuses on purpose, with the reason code and why.
STRICTER: dict[tuple[str, int], tuple[str, str]] = {
    ("sig", 1): ("unsupported_alg", _HMAC),
    ("sig", 348): ("unsupported_alg", _HMAC),
    ("sig", 352): ("unsupported_alg", _HMAC),
    ("sig", 357): ("unsupported_alg", _HMAC),
    ("sig", 358): ("unsupported_alg", _HMAC),
    ("sig", 359): ("unsupported_alg", _HMAC),
    ("sig", 376): ("unsupported_alg", _HMAC),
    ("sig", 377): ("unsupported_alg", _HMAC),
    ("crypto", 1): ("unsupported_alg", _HMAC),
    ("crypto", 48): ("unsupported_alg", _HMAC),
    ("key", 2): ("unsupported_alg", _HMAC),
    ("key", 13): ("unsupported_alg", _HMAC),
    ("key", 14): ("unsupported_alg", _HMAC),
    ("key", 15): ("unsupported_alg", _HMAC),
    # Wycheproof marks these valid because some decoders skip the stray '?'.
    ("sig", 372): ("malformed", "base64url is strict: a '?' in the header is refused, not skipped"),
    ("sig", 373): (
        "malformed",
        "base64url is strict: a '?' in the payload is refused, not skipped",
    ),
    ("sig", 346): (
        "unsupported_alg",
        f"RFC 7520 fig. 20 is PS384, its JWK says PS256: {_ALG_MISMATCH}",
    ),
    ("sig", 350): (
        "unsupported_alg",
        f"RFC 7520 fig. 20 is PS384, its JWK says PS256: {_ALG_MISMATCH}",
    ),
    ("sig", 347): (
        "unsupported_alg",
        f"the JWK says 'ES521' (no such alg), token ES512: {_ALG_MISMATCH}",
    ),
    ("sig", 351): (
        "unsupported_alg",
        f"the JWK says 'ES521' (no such alg), token ES512: {_ALG_MISMATCH}",
    ),
}

_ROCA = (
    "the RSA key has the ROCA (CVE-2017-15361) structure; jwks.parse_jwks does not "
    "fingerprint keys, and revoker trusts the issuer's JWKS"
)

#: Invalid cases the signature layer still accepts: revoker's own gaps, kept visible.
#: Each is refused on the whole path (its payload is not JSON), never accepted there.
KNOWN_GAPS: dict[tuple[str, int], str] = {
    ("crypto", 46): _ROCA,
    ("key", 7): _ROCA,
}


def _load(short: str) -> dict[str, Any]:
    """One vector file, in a test (it skips, or fails in CI, when ../shared is absent)."""
    document: dict[str, Any] = json.loads(
        (need_fixtures() / "jws-vectors" / FILES[short]).read_text()
    )
    return document


def _groups(short: str) -> list[Any]:
    """A file's groups while collecting: none without ../shared (then test_the_vectors_are_all_here
    says why)."""
    if not fixtures_present():
        return []
    groups: list[Any] = json.loads((VECTORS / FILES[short]).read_text())["testGroups"]
    return groups


def _cases(*, result: str, field: str = "jws", gaps: bool = False) -> list[Any]:
    """pytest params (file, group, case) for every case with ``result`` and ``field``.

    With ``gaps``, the cases in KNOWN_GAPS are marked as strict expected failures.
    """
    params = []
    for short in FILES:
        for group in _groups(short):
            for case in group["tests"]:
                if case["result"] == result and field in case:
                    key = (short, case["tcId"])
                    marks = []
                    if gaps and key in KNOWN_GAPS:
                        marks.append(pytest.mark.xfail(reason=KNOWN_GAPS[key], strict=True))
                    params.append(
                        pytest.param(
                            short,
                            group,
                            case,
                            id=f"{short}-{case['tcId']}-{case['comment']}",
                            marks=marks,
                        )
                    )
    return params


def _group_keys(group: dict[str, Any]) -> dict[str, SigningKey]:
    """The group's keys as revoker imports them: the public JWK(s), else the private ones."""
    jwk = group.get("public") or group.get("private") or {}
    document = jwk if "keys" in jwk else {"keys": [jwk]}
    return parse_jwks(json.loads(json.dumps(document)))


def _signature_layer(parsed: UnverifiedToken, group: dict[str, Any]) -> None:
    """What the verifier does after parsing: alg allow-list, key by kid, signature."""
    alg = parsed.header["alg"]
    # The policy is as wide as it can be: the case's own alg, if revoker supports it.
    if alg not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithm(alg)
    key = _group_keys(group).get(parsed.header.get("kid"))  # type: ignore[arg-type]
    if key is None:
        raise UnknownKid("no key in the group has the header's kid")
    verify_signature(parsed, key)


def parse_any_payload(jws: Any) -> UnverifiedToken:
    """parse_unverified's checks on the header and signature, with any payload bytes allowed."""
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise MalformedToken("not three segments")
    header_b64, payload_b64, signature_b64 = jws.split(".")
    b64url_decode(payload_b64)  # still strict base64url, just not required to be JSON
    stand_in = parse_unverified(f"{header_b64}.{b64url_encode(b'{}')}.{signature_b64}")
    return UnverifiedToken(
        raw=jws,
        header=stand_in.header,
        claims={},
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=stand_in.signature,
    )


def whole_path(jws: Any, group: dict[str, Any]) -> None:
    _signature_layer(parse_unverified(jws), group)


def signature_layer(jws: Any, group: dict[str, Any]) -> None:
    _signature_layer(parse_any_payload(jws), group)


def _payload_is_json_object(jws: str) -> bool:
    try:
        return isinstance(json.loads(b64url_decode(jws.split(".")[1])), dict)
    except (ValueError, MalformedToken):
        return False


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="invalid"))
def test_invalid_case_is_never_accepted(short: str, group: dict[str, Any], case: Any) -> None:
    """On the whole path, no case Wycheproof marks invalid is accepted."""
    del short
    with pytest.raises(TokenRejected):
        whole_path(case["jws"], group)


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="invalid", gaps=True))
def test_invalid_case_is_refused_by_the_signature_layer(
    short: str, group: dict[str, Any], case: Any
) -> None:
    """Even with any payload allowed, invalid cases fail on header, key or signature."""
    del short
    with pytest.raises(TokenRejected):
        signature_layer(case["jws"], group)


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="valid"))
def test_valid_case_is_accepted_by_the_signature_layer(
    short: str, group: dict[str, Any], case: Any
) -> None:
    """Every valid case verifies, except those STRICTER lists, refused with the reason given."""
    stricter = STRICTER.get((short, case["tcId"]))
    if stricter is None:
        signature_layer(case["jws"], group)
        return
    reason, why = stricter
    with pytest.raises(TokenRejected) as info:
        signature_layer(case["jws"], group)
    assert info.value.reason == reason, why


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="valid"))
def test_valid_case_is_refused_whole_only_for_its_payload(
    short: str, group: dict[str, Any], case: Any
) -> None:
    """Whole path: a valid case passes if its payload is a claim set, else it is malformed."""
    # The signature layer accepting the same case (above) shows the payload is the only cause.
    if (short, case["tcId"]) in STRICTER:
        with pytest.raises(TokenRejected):
            whole_path(case["jws"], group)
    elif _payload_is_json_object(case["jws"]):
        whole_path(case["jws"], group)
    else:
        with pytest.raises(MalformedToken):
            whole_path(case["jws"], group)


def test_allow_lists_name_real_cases() -> None:
    """STRICTER holds only valid cases and KNOWN_GAPS only invalid ones: no stale entries."""
    results = {
        (short, case["tcId"]): case["result"]
        for short in FILES
        for group in _load(short)["testGroups"]
        for case in group["tests"]
    }
    assert {results[key] for key in STRICTER} == {"valid"}
    assert {results[key] for key in KNOWN_GAPS} == {"invalid"}


def test_the_vectors_are_all_here() -> None:
    """The vector files hold what they claim: a truncated copy would pass silently."""
    for short in FILES:
        document = _load(short)
        count = sum(len(group["tests"]) for group in document["testGroups"])
        assert count == document["numberOfTests"], short
    assert len(_cases(result="valid")) + len(_cases(result="invalid")) > 450


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="valid", field="jwe"))
def test_jwe_is_refused_outright_valid(short: str, group: dict[str, Any], case: Any) -> None:
    """A valid JWE is not decrypted: revoker takes only compact JWS, so parsing refuses it."""
    del short, group
    with pytest.raises(MalformedToken):
        parse_unverified(case["jwe"])


@pytest.mark.parametrize(("short", "group", "case"), _cases(result="invalid", field="jwe"))
def test_jwe_is_refused_outright_invalid(short: str, group: dict[str, Any], case: Any) -> None:
    """Invalid JWEs are refused the same way, before any key is touched."""
    del short, group
    with pytest.raises(MalformedToken):
        parse_unverified(case["jwe"])


# --- JWK import ----------------------------------------------------------------------------

#: For each key-test group, the kids parse_jwks imports from the group's public (or only) keys.
JWK_IMPORTS: dict[int, set[str]] = {
    1: {"kid-ec-sign"},  # a mixed keyset: the oct key is skipped, the EC one kept (public half)
    2: set(),  # oct keys only
    3: set(),
    4: set(),  # duplicate kid, oct
    5: {"kid-rsa-sign"},
    6: set(),  # use: enc
    7: {"kid-rsa-roca-sign"},  # see KNOWN_GAPS
    8: set(),  # a 1024-bit RSA key
    9: set(),  # public exponent 1
    **{tc_id: set() for tc_id in range(10, 19)},  # HMAC keys, short, long and empty
    19: {"kid-ec-sign"},  # alg ES521 on P-256: imported, but fits no token (see below)
    20: {"kid-ec-sign"},  # alg ES224: likewise
    21: set(),  # use: enc
    22: set(),  # a point not on the curve
    23: set(),  # coordinates of P-256 labelled P-384
    24: set(),  # EC coordinates labelled kty RSA
    25: set(),  # AES keys
    26: set(),
}


def _key_cases() -> list[Any]:
    return [
        pytest.param(group, case, id=f"key-{case['tcId']}-{group['comment']}")
        for group in _groups("key")
        for case in group["tests"]
    ]


@pytest.mark.parametrize(("group", "case"), _key_cases())
def test_jwk_import(group: dict[str, Any], case: Any) -> None:
    """parse_jwks keeps usable signing keys and skips the rest without raising."""
    assert set(_group_keys(group)) == JWK_IMPORTS[case["tcId"]]


@pytest.mark.parametrize("tc_id", [19, 20])
def test_key_with_foreign_alg_verifies_nothing(tc_id: int) -> None:
    """A P-256 key whose JWK says ES521 or ES224 is imported but cannot verify ES256."""
    group, case = next(
        (g, c) for g in _load("key")["testGroups"] for c in g["tests"] if c["tcId"] == tc_id
    )
    with pytest.raises(UnsupportedAlgorithm):
        signature_layer(case["jws"], group)
