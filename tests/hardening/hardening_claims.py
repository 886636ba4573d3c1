"""Hostile tokens, continued: malformed encodings, claim values of every wrong type and edge,
confusions between tokens, issuers and audiences, and oversized or deeply nested tokens.

Times are relative to the kit's clock (``now``); the service allows a leeway of 5 s.
Cases on an edge of that leeway (``anywhere=False``) only run on a frozen clock.
"""

from __future__ import annotations

import json
from typing import Any

from hardening_attacks import Case, Kit
from hardening_forgery import seg, sign_payload_bytes, sign_segments

from revoker.core.tokens import b64url_encode

LEEWAY = 5


def _now(kit: Kit) -> int:
    return int(kit.rs.clock())


def _access(kit: Kit, **overrides: Any) -> str:
    return kit.rs.access_token(**overrides)


def _id(kit: Kit, **overrides: Any) -> str:
    return kit.rs.id_token(**overrides)


def _at(kit: Kit, **offsets: int) -> str:
    """An access token with exp/iat/nbf at ``now`` plus the given offsets."""
    now = _now(kit)
    return kit.rs.access_token(**{name: now + offset for name, offset in offsets.items()})


def _payload(kit: Kit, payload: bytes) -> str:
    return sign_payload_bytes({"alg": "RS256", "kid": kit.rs.kid}, payload, kit.rs.key)


def _header_bytes(kit: Kit, header: bytes) -> str:
    claims = json.dumps(kit.rs.base_claims("access")).encode()
    return sign_segments(b64url_encode(header), b64url_encode(claims), kit.rs.key)


def _claims_text(kit: Kit) -> str:
    return json.dumps(kit.rs.base_claims("access"), separators=(",", ":"))


def _typed(kit: Kit, typ: str) -> str:
    """A genuine access token whose header claims another media type."""
    return kit.rs.sign(
        kit.rs.base_claims("access"), header={"alg": "RS256", "kid": kit.rs.kid, "typ": typ}
    )


def _replace_char(token: str, index: int, char: str) -> str:
    return token[:index] + char + token[index + 1 :]


def _noncanonical_tail(kit: Kit) -> str:
    token = _access(kit)  # an RS256 signature is 256 bytes: 342 chars, a 2-char tail
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-1]}B"  # 'B' leaves non-zero bits past the last byte


ENCODING_CASES: list[Case] = [
    Case("padding-on-payload", "malformed", lambda kit: _access(kit).replace(".", "==.", 1)),
    Case("padding-on-signature", "malformed", lambda kit: _access(kit) + "=="),
    Case("plus-in-header", "malformed", lambda kit: _replace_char(_access(kit), 3, "+")),
    Case("slash-in-payload", "malformed", lambda kit: _replace_char(_access(kit), 60, "/")),
    Case("space-inside", "malformed", lambda kit: _replace_char(_access(kit), 60, " ")),
    Case("tab-inside", "malformed", lambda kit: _replace_char(_access(kit), 60, "\t")),
    Case("non-canonical-base64-tail", "malformed", _noncanonical_tail),
    Case("four-segments", "malformed", lambda kit: _access(kit) + ".AAAA"),
    Case("two-segments", "malformed", lambda kit: _access(kit).rsplit(".", 1)[0]),
    Case("empty-payload-segment", "malformed", lambda kit: f"{seg({'alg': 'RS256'})}..AAAA"),
    Case(
        "jwe-compact",
        "malformed",
        lambda kit: (
            f"{seg({'alg': 'RSA-OAEP', 'enc': 'A256GCM', 'kid': kit.rs.kid})}"
            ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
        ),
    ),
    Case(
        "enc-header-in-three-segments",
        "malformed",
        lambda kit: kit.rs.sign(
            kit.rs.base_claims("access"),
            header={"alg": "RS256", "kid": kit.rs.kid, "enc": "A256GCM"},
        ),
    ),
    Case(
        "json-serialisation",
        "malformed",
        lambda kit: json.dumps(
            dict(zip(("protected", "payload", "signature"), _access(kit).split("."), strict=True))
        ),
    ),
    Case(
        "nested-jwt",
        "malformed",
        lambda kit: kit.rs.sign(
            kit.rs.base_claims("access"), header={"alg": "RS256", "kid": kit.rs.kid, "cty": "JWT"}
        ),
    ),
    Case(
        "duplicate-claim",
        "malformed",
        lambda kit: _payload(kit, (_claims_text(kit)[:-1] + ',"sub":"admin"}').encode()),
    ),
    Case(
        "duplicate-header-alg",
        "malformed",
        lambda kit: _header_bytes(
            kit, f'{{"alg":"none","kid":"{kit.rs.kid}","alg":"RS256"}}'.encode()
        ),
    ),
    Case(
        "bom-before-payload",
        "malformed",
        lambda kit: _payload(kit, b"\xef\xbb\xbf" + _claims_text(kit).encode()),
    ),
    Case(
        "bom-before-header",
        "malformed",
        lambda kit: _header_bytes(kit, b'\xef\xbb\xbf{"alg":"RS256"}'),
    ),
    Case(
        "invalid-utf8-payload",
        "malformed",
        lambda kit: _payload(kit, _claims_text(kit)[:-1].encode() + b',"x":"\xff\xfe"}'),
    ),
    Case(
        "lone-surrogate-escape",
        "malformed",
        lambda kit: _payload(kit, _claims_text(kit)[:-1].encode() + b',"x":"\\ud800"}'),
    ),
    Case("payload-is-an-array", "malformed", lambda kit: _payload(kit, b'[{"sub":"admin"}]')),
    Case("payload-is-a-string", "malformed", lambda kit: _payload(kit, b'"admin"')),
    Case("header-is-an-array", "malformed", lambda kit: _header_bytes(kit, b'[{"alg":"RS256"}]')),
    Case(
        "raw-non-ascii-bytes",
        "malformed",
        lambda kit: _access(kit).encode()[:40] + b"\xff\xfe" + _access(kit).encode()[42:],
    ),
]


def _issuer_variant(kit: Kit, change: str) -> str:
    issuer = kit.rs.issuer
    variants = {
        "trailing-slash": issuer + "/",
        "http": issuer.replace("https://", "http://"),
        "another-region": issuer.replace("us-east-1.", "us-west-2."),
        "upper-case-host": issuer.replace("cognito-idp", "COGNITO-IDP"),
        "pool-id-lower-case": issuer.lower(),
        "dot-segment": issuer + "/../us-east-1_TestPool1",
        "prefix": issuer[:-1],
        "cyrillic-o": issuer.replace("cognito", "c\u043egnito"),
    }
    return _access(kit, iss=variants[change])


def _issuer_case(change: str) -> Case:
    return Case(f"issuer-{change}", "wrong_issuer", lambda kit: _issuer_variant(kit, change))


_ISSUER_CHANGES = [
    "trailing-slash", "http", "another-region", "upper-case-host",
    "pool-id-lower-case", "dot-segment", "prefix", "cyrillic-o",
]  # fmt: skip

CLAIM_CASES: list[Case] = [
    # Every registered claim with a wrong type (or absent where required).
    Case("iss-integer", "wrong_issuer", lambda kit: _access(kit, iss=123)),
    Case("iss-list", "wrong_issuer", lambda kit: _access(kit, iss=[kit.rs.issuer])),
    Case("iss-missing", "wrong_issuer", lambda kit: _access(kit, iss=None)),
    Case("sub-integer", "malformed", lambda kit: _access(kit, sub=1)),
    Case("sub-missing", "missing_claim", lambda kit: _access(kit, sub=None)),
    Case("sub-empty", "missing_claim", lambda kit: _access(kit, sub="")),
    Case("aud-integer", "malformed", lambda kit: _id(kit, aud=1)),
    Case("aud-list-of-integers", "malformed", lambda kit: _id(kit, aud=[1])),
    Case("aud-object", "malformed", lambda kit: _id(kit, aud={"aud": kit.rs.client_id})),
    Case("aud-missing", "missing_claim", lambda kit: _id(kit, aud=None)),
    Case("exp-string", "malformed", lambda kit: _access(kit, exp=str(_now(kit) + 60))),
    Case("exp-boolean", "malformed", lambda kit: _access(kit, exp=True)),
    Case("exp-list", "malformed", lambda kit: _access(kit, exp=[_now(kit) + 60])),
    Case("exp-missing", "missing_claim", lambda kit: _access(kit, exp=None)),
    Case("iat-string", "malformed", lambda kit: _access(kit, iat="yesterday")),
    Case("iat-missing", "missing_claim", lambda kit: _access(kit, iat=None)),
    Case("nbf-object", "malformed", lambda kit: _access(kit, nbf={"at": 0})),
    Case("jti-integer", "malformed", lambda kit: _access(kit, jti=7)),
    Case("origin-jti-list", "malformed", lambda kit: _access(kit, origin_jti=["a"])),
    Case("sid-object", "malformed", lambda kit: _access(kit, sid={"sid": "x"})),
    Case("client-id-integer", "malformed", lambda kit: _access(kit, client_id=1)),
    Case("token-use-integer", "malformed", lambda kit: _access(kit, token_use=1)),
    # Numbers JSON should not hold, or that no clock reaches.
    Case("exp-nan", "malformed", lambda kit: _access(kit, exp=float("nan"))),
    Case("iat-infinity", "malformed", lambda kit: _access(kit, iat=float("inf"))),
    Case("nbf-minus-infinity", "malformed", lambda kit: _access(kit, nbf=float("-inf"))),
    Case("exp-400-digits", "malformed", lambda kit: _access(kit, exp=10**400)),
    Case("exp-1e308", "lifetime_too_long", lambda kit: _access(kit, exp=1e308)),
    Case("exp-negative", "expired", lambda kit: _access(kit, exp=-1)),
    Case("iat-negative", "lifetime_too_long", lambda kit: _access(kit, iat=-1)),
    Case("iat-1e300", "issued_in_future", lambda kit: _access(kit, iat=1e300)),
    # Time edges around the 5 s leeway.
    Case("exp-now-minus-leeway", "expired", lambda kit: _at(kit, exp=-LEEWAY), anywhere=False),
    Case(
        "exp-equal-now-without-leeway",
        "expired",
        lambda kit: _at(kit, exp=0),
        "leeway-0",
        anywhere=False,
    ),
    Case(
        "nbf-just-past-leeway",
        "not_yet_valid",
        lambda kit: _at(kit, nbf=LEEWAY + 1),
        anywhere=False,
    ),
    Case(
        "iat-just-past-leeway",
        "issued_in_future",
        lambda kit: _at(kit, iat=LEEWAY + 1),
        anywhere=False,
    ),
    Case("expired-an-hour-ago", "expired", lambda kit: _at(kit, iat=-7200, exp=-3600)),
    Case("nbf-an-hour-ahead", "not_yet_valid", lambda kit: _at(kit, nbf=3600)),
    Case(
        "lifetime-a-day-and-a-second", "lifetime_too_long", lambda kit: _at(kit, iat=0, exp=86401)
    ),
    # Confusions.
    Case("token-use-refresh", "wrong_token_use", lambda kit: _access(kit, token_use="refresh")),
    Case("token-use-missing", "missing_claim", lambda kit: _access(kit, token_use=None)),
    Case("id-token-where-access-only", "wrong_token_use", _id, "access-only"),
    Case("wrong-client-id", "wrong_audience", lambda kit: _access(kit, client_id="another-client")),
    Case(
        "access-token-right-aud-wrong-client-id",
        "wrong_audience",
        lambda kit: _access(kit, client_id="another-client", aud=kit.rs.client_id),
    ),
    Case("id-token-wrong-aud", "wrong_audience", lambda kit: _id(kit, aud="another-client")),
    Case("id-token-aud-list-without-ours", "wrong_audience", lambda kit: _id(kit, aud=["a", "b"])),
    Case("aud-prefix-of-ours", "wrong_audience", lambda kit: _id(kit, aud=kit.rs.client_id[:-1])),
    *[_issuer_case(change) for change in _ISSUER_CHANGES],
    # Tokens of another profile, genuinely signed, offered as access tokens.
    Case("logout-token-as-access-token", "wrong_token_use", lambda kit: kit.rs.logout_token()),
    Case(
        "logout-token-typed-jwt-as-access-token",
        "wrong_token_use",
        lambda kit: kit.rs.logout_token(typ="JWT", client_id=kit.rs.client_id),
    ),
    Case(
        "secevent-typ-as-access-token",
        "wrong_token_use",
        lambda kit: _typed(kit, "secevent+jwt"),
    ),
    Case("dpop-proof-typ-as-access-token", "wrong_token_use", lambda kit: _typed(kit, "dpop+jwt")),
    Case("events-claim-in-access-token", "wrong_token_use", lambda kit: _access(kit, events={})),
    Case("keycloak-refresh-token", "wrong_token_use", lambda kit: _id(kit, typ="Refresh")),
    Case(
        "token-use-id-typed-at-jwt",
        "wrong_token_use",
        lambda kit: kit.rs.sign(
            kit.rs.base_claims("id"), header={"alg": "RS256", "kid": kit.rs.kid, "typ": "at+jwt"}
        ),
    ),
    # Sender-constrained tokens presented as a plain Bearer (RFC 9449 §7.2, RFC 8705).
    Case("dpop-bound-as-bearer", "sender_constrained", lambda kit: _access(kit, cnf={"jkt": "x"})),
    Case(
        "mtls-bound-without-certificate",
        "sender_constrained",
        lambda kit: _access(kit, cnf={"x5t#S256": "x"}),
    ),
    Case(
        "bound-by-an-unknown-method",
        "sender_constrained",
        lambda kit: _access(kit, cnf={"jwk": {"kty": "EC"}}),
    ),
    Case("cnf-not-an-object", "malformed", lambda kit: _access(kit, cnf="jkt")),
    Case("cnf-jkt-not-a-string", "malformed", lambda kit: _access(kit, cnf={"jkt": 1})),
    # Size and depth.
    Case(
        "one-megabyte",
        "too_large",
        lambda kit: f"{seg({'alg': 'RS256', 'kid': kit.rs.kid})}.{'A' * 1_000_000}.AAAA",
    ),
    Case("ten-thousand-audiences", "too_large", lambda kit: _id(kit, aud=["a"] * 10_000)),
    Case(
        "deeply-nested-claim",
        "malformed",
        lambda kit: _payload(
            kit, _claims_text(kit)[:-1].encode() + b',"x":' + b"[" * 2500 + b"]" * 2500 + b"}"
        ),
    ),
    Case(
        "deeply-nested-header",
        "malformed",
        lambda kit: _header_bytes(kit, b'{"alg":"RS256","x":' + b"[" * 2000 + b"]" * 2000 + b"}"),
    ),
]

#: Just inside each edge: these must be allowed, or the checks are stricter than documented.
ALLOWED_EDGES: list[Case] = [
    Case("exp-within-leeway", "allowed", lambda kit: _at(kit, exp=-LEEWAY + 1), anywhere=False),
    Case("nbf-at-leeway", "allowed", lambda kit: _at(kit, nbf=LEEWAY), anywhere=False),
    Case("iat-at-leeway", "allowed", lambda kit: _at(kit, iat=LEEWAY), anywhere=False),
    Case("lifetime-exactly-a-day", "allowed", lambda kit: _at(kit, iat=0, exp=86400)),
    Case("aud-list-with-ours", "allowed", lambda kit: _id(kit, aud=["other", kit.rs.client_id])),
    Case("an-es256-token-of-the-other-issuer", "allowed", lambda kit: kit.ec.access_token()),
]
