"""What the fuzzers check: one function per target, fed raw bytes, raising on a violation.

- ``parse_one``: ``tokens.parse_unverified`` on any string returns a token or raises
  ``MalformedToken``/``TokenTooLarge``; a token it returns re-encodes to the very input
  (canonical base64url, so two strings never parse to one token).
- ``verify_one``: the bytes choose a header, claims and a way to spoil them; the token is
  genuinely signed with the issuer's key (or a genuine one is mutated). ``Verifier.verify``
  must accept only when every policy check holds, and otherwise raise a ``TokenRejected``.

The bytes are read through ``Choices`` rather than atheris' FuzzedDataProvider, so the
hypothesis fallback (``fuzz_runner``) drives exactly the same code.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from revoker.core.clock import FrozenClock
from revoker.core.errors import MalformedToken, TokenRejected, TokenTooLarge
from revoker.core.tokens import b64url_encode, parse_unverified
from revoker.core.verify import VerifiedToken, Verifier
from revoker.testing import TokenFactory

T = TypeVar("T")
NOW = 1_700_000_000


class PropertyViolated(AssertionError):
    """The target broke a promise: the fuzzer reports the input as a crash."""


def check(condition: object) -> None:
    # Not ``assert``: the harness must check under ``python -O`` too.
    if not condition:
        raise PropertyViolated


class Choices:
    """Reads decisions off a byte string; past its end every choice is the first option."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def pick(self, options: list[T] | tuple[T, ...]) -> T:
        return options[self.byte() % len(options)]

    def number(self) -> int:
        return int.from_bytes(bytes(self.byte() for _ in range(4)), "big", signed=True)

    def rest(self) -> bytes:
        rest, self._at = self._data[self._at :], len(self._data)
        return rest


# -- parse ---------------------------------------------------------------------------------


def parse_one(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    for token in (text, data.decode("latin-1")):
        try:
            parsed = parse_unverified(token)
        except (MalformedToken, TokenTooLarge):
            continue
        header, payload, signature = token.split(".")
        check(isinstance(parsed.header, dict))
        check(isinstance(parsed.header["alg"], str))
        check(isinstance(parsed.claims, dict))
        check(parsed.signing_input == f"{header}.{payload}".encode("ascii"))
        check(b64url_encode(parsed.signature) == signature)  # canonical: injective


# -- verify --------------------------------------------------------------------------------

_FACTORY = TokenFactory(alg="ES256", clock=FrozenClock(NOW))
_VERIFIER: Verifier = _FACTORY.verifier()
_ODD_VALUES: list[Any] = [
    None, True, 0, -1, 1.5, 10**30, 2**63, "", "x", [], {}, ["x"], {"a": 1},
    NOW, NOW - 86_401, NOW + 86_401, float(NOW), [_FACTORY.client_id], _FACTORY.issuer + "/",
]  # fmt: skip
_RAW_VALUES = ["NaN", "Infinity", "-Infinity", "1e400", "9" * 400, '"\\ud800"', "[[[[[[[[]]]]]]]]"]
_CLAIMS = ["iss", "sub", "aud", "client_id", "token_use", "exp", "iat", "nbf", "jti",
           "origin_jti", "sid", "scope"]  # fmt: skip
_HEADERS = ["alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "cty", "enc", "b64"]
_ALGS = ["ES256", "RS256", "PS256", "HS256", "none", "None", "ES384", "EdDSA", "ES256 "]


def _spoil(obj: dict[str, Any], names: list[str], choices: Choices) -> dict[str, str]:
    """Up to four fields dropped or changed; returns the ones to write as raw JSON text."""
    raw: dict[str, str] = {}
    for _ in range(choices.byte() % 5):
        name = choices.pick(names)
        how = choices.byte() % 4
        if how == 0:
            obj.pop(name, None)
        elif how == 1:
            obj[name] = choices.pick(_ODD_VALUES)
        elif how == 2:
            raw[name] = choices.pick(_RAW_VALUES)
        else:
            obj[name] = NOW + choices.number() % 200_000
    return raw


def _json(obj: dict[str, Any], raw: dict[str, str]) -> bytes:
    parts = [json.dumps(k) + ":" + json.dumps(v) for k, v in obj.items() if k not in raw]
    parts += [json.dumps(k) + ":" + v for k, v in raw.items()]
    return ("{" + ",".join(parts) + "}").encode()


def _build(choices: Choices) -> str:
    mode = choices.byte() % 3
    if mode == 2:  # a genuine token, its text mutated at a few places
        token = bytearray(_FACTORY.access_token().encode())
        for _ in range(1 + choices.byte() % 4):
            token[choices.number() % len(token)] = choices.byte()
        return token.decode("latin-1")
    header: dict[str, Any] = {"alg": "ES256", "kid": _FACTORY.kid}
    claims = _FACTORY.base_claims(choices.pick(["access", "id"]))
    raw_header = _spoil(header, _HEADERS, choices)
    raw_claims = _spoil(claims, _CLAIMS, choices)
    if mode == 1 and "alg" not in raw_header:
        header["alg"] = choices.pick(_ALGS)
    segments = b64url_encode(_json(header, raw_header)), b64url_encode(_json(claims, raw_claims))
    signing_input = ".".join(segments)
    return signing_input + "." + _es256(signing_input.encode("ascii"))


def _es256(data: bytes) -> str:
    """A genuine signature over these exact bytes (sign_compact signs what it serialises)."""
    key = _FACTORY.key
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the fuzz issuer signs with ES256")
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _check_accepted(verified: VerifiedToken) -> None:
    policy, claims = _VERIFIER.policy, verified.claims
    leeway = policy.leeway_seconds
    check(verified.header["alg"] in policy.algorithms)
    check("crit" not in verified.header)
    check(claims["iss"] in policy.issuers)
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    check(all(type(v) in (int, float) and math.isfinite(v) for v in (exp, iat, nbf)))
    check(exp + leeway > NOW)
    check(iat <= NOW + leeway)
    check("nbf" not in claims or nbf <= NOW + leeway)
    check(exp - iat <= policy.max_lifetime_seconds)
    check(isinstance(claims["sub"], str))
    check(claims["sub"])
    check(claims["token_use"] in ("id", "access"))
    if claims["token_use"] == "access" and "client_id" in claims:
        check(claims["client_id"] == _FACTORY.client_id)
    else:
        aud = claims.get("aud", claims.get("client_id"))
        check(_FACTORY.client_id in (aud if isinstance(aud, list) else [aud]))


def verify_one(data: bytes) -> None:
    token = _build(Choices(data))
    try:
        verified = _VERIFIER.verify(token)
    except TokenRejected:
        return
    _check_accepted(verified)
