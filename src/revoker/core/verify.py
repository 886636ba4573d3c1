"""Verify a token: the signature with an explicit allow-list, then each claim.

The signature is checked by hand over ``cryptography`` because the libraries
cost two to four times the RSA operation itself (see benchmarks/); the checks
are the ones PyJWT and joserfc make, and a few they do not (canonical
base64url, duplicate JSON keys, a key's own ``alg``, ECDSA scalar ranges).

Order: parse, ``crit``, algorithm, issuer (so keys are only ever fetched for a
trusted issuer), key, signature, then the claims.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import (
    BadSignature,
    ConfigurationError,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    WrongTokenUse,
)
from revoker.core.jwks import JwksCache, SigningKey
from revoker.core.tokens import (
    DEFAULT_MAX_TOKEN_BYTES,
    UnverifiedToken,
    parse_unverified,
    peek_header,
)

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "TOKEN_USES",
    "VerificationPolicy",
    "VerifiedToken",
    "Verifier",
    "check_claims",
    "verify_signature",
]

TOKEN_USES = frozenset({"id", "access"})
DEFAULT_LEEWAY_SECONDS = 5.0
COGNITO_MAX_LIFETIME_SECONDS = 86_400.0

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_ED_KEYS = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationPolicy:
    """What a token must satisfy. The risky choices have no default.

    ``audience``: accepted ``aud`` (ID tokens) or ``client_id`` (Cognito access
    tokens) values; ``None`` switches the check off, explicitly.
    ``token_use``: accepted ``token_use`` values (``{"id"}``, ``{"access"}`` or
    both); ``None`` for issuers that do not set the claim.
    """

    issuers: tuple[str, ...]
    audience: tuple[str, ...] | None
    token_use: frozenset[str] | None
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    max_lifetime_seconds: float = COGNITO_MAX_LIFETIME_SECONDS
    required_claims: tuple[str, ...] = ("sub",)
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES

    def __post_init__(self) -> None:
        # One accepted shape per option: a bare string would turn `in` into a
        # substring test (audience "abc" accepting "b"), so it is refused here.
        if not _strings(self.issuers, tuple):
            raise ConfigurationError("issuers must be a non-empty tuple of strings")
        if self.audience is not None and not _strings(self.audience, tuple):
            raise ConfigurationError("audience must be a non-empty tuple of strings, or None")
        if not _strings(self.algorithms, frozenset) or self.algorithms - SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if self.token_use is not None and (
            not _strings(self.token_use, frozenset) or self.token_use - TOKEN_USES
        ):
            raise ConfigurationError("token_use must be a non-empty subset of {'id', 'access'}")
        if not _strings(self.required_claims, tuple, allow_empty=True):
            raise ConfigurationError("required_claims must be a tuple of claim names")
        if not 0 <= self.leeway_seconds <= 300:
            raise ConfigurationError("leeway_seconds must lie between 0 and 300")
        if not 0 < self.max_lifetime_seconds < math.inf:
            raise ConfigurationError("max_lifetime_seconds must be positive and finite")
        if isinstance(self.max_token_bytes, bool) or not (
            isinstance(self.max_token_bytes, int) and self.max_token_bytes > 0
        ):
            raise ConfigurationError("max_token_bytes must be a positive integer")


def _strings(value: object, kind: type[Collection[Any]], *, allow_empty: bool = False) -> bool:
    """``value`` is a ``kind`` of strings, and not empty unless allowed."""
    if not isinstance(value, kind):
        return False
    return (allow_empty or len(value) > 0) and all(isinstance(item, str) for item in value)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed every check."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any] = field(repr=False)

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str | None:
        return _optional_str(self.claims, "sub")

    @property
    def jti(self) -> str | None:
        return _optional_str(self.claims, "jti")

    @property
    def origin_jti(self) -> str | None:
        return _optional_str(self.claims, "origin_jti")

    @property
    def token_use(self) -> str | None:
        return _optional_str(self.claims, "token_use")

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])

    @property
    def issued_at(self) -> float:
        return float(self.claims["iat"])


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


# --- signature ---------------------------------------------------------------


def _check_key_fits(alg: str, key: SigningKey) -> None:
    if key.alg is not None and key.alg != alg:
        raise UnsupportedAlgorithm(f"key {key.kid!r} is for {key.alg}, the token says {alg}")
    if _KTY[alg[:2]] != key.kty:
        raise UnsupportedAlgorithm(f"key {key.kid!r} is {key.kty}, which cannot verify {alg}")
    if alg == "EdDSA" and not isinstance(key.key, _ED_KEYS):
        raise UnsupportedAlgorithm(f"key {key.kid!r} is not an Ed25519 or Ed448 key")
    curve = _EC_CURVES.get(alg)
    if curve is not None and not (
        isinstance(key.key, ec.EllipticCurvePublicKey) and isinstance(key.key.curve, curve)
    ):
        raise UnsupportedAlgorithm(f"key {key.kid!r} is not on the curve {alg} requires")


def _ecdsa_der(signature: bytes, curve: ec.EllipticCurve) -> bytes:
    size = (curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise BadSignature("the ECDSA signature has the wrong length")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    order = _CURVE_ORDERS[curve.name]
    # r or s of 0 or >= n is the "psychic signature" family: refuse it ourselves.
    if not (0 < r < order and 0 < s < order):
        raise BadSignature("the ECDSA signature is out of range")
    return encode_dss_signature(r, s)


_CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def _rsa_pkcs1(hash_name: str) -> _SignatureCheck:
    pkcs1, digest = padding.PKCS1v15(), _HASHES[hash_name]()

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(signature, data, pkcs1, digest)

    return check


def _rsa_pss(hash_name: str) -> _SignatureCheck:
    digest = _HASHES[hash_name]()
    pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(signature, data, pss, digest)

    return check


def _ecdsa(hash_name: str) -> _SignatureCheck:
    algorithm = ec.ECDSA(_HASHES[hash_name]())

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(_ecdsa_der(signature, public.curve), data, algorithm)

    return check


def _eddsa(public: Any, data: bytes, signature: bytes) -> None:
    public.verify(signature, data)


_SignatureCheck = Callable[[Any, bytes, bytes], None]

# Built once: padding and hash objects are immutable, and the key type was
# matched to the algorithm by _check_key_fits, so no isinstance on the way.
_SIGNATURE_CHECKS: dict[str, _SignatureCheck] = {
    **{f"RS{bits}": _rsa_pkcs1(bits) for bits in ("256", "384", "512")},
    **{f"PS{bits}": _rsa_pss(bits) for bits in ("256", "384", "512")},
    **{f"ES{bits}": _ecdsa(bits) for bits in ("256", "384", "512")},
    "EdDSA": _eddsa,
}


def verify_signature(token: UnverifiedToken, key: SigningKey) -> None:
    """Check the JWS signature with ``key``; raise ``BadSignature`` or ``UnsupportedAlgorithm``."""
    alg = token.header["alg"]
    # Callable on its own, so it cannot rely on a policy having vetted alg ("none", "HS256").
    check = _SIGNATURE_CHECKS.get(alg) if isinstance(alg, str) else None
    if check is None:
        raise UnsupportedAlgorithm(f"alg must be one of {sorted(SUPPORTED_ALGORITHMS)}")
    _check_key_fits(alg, key)
    try:
        check(key.key, token.signing_input, token.signature)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("the signature does not verify") from exc
    except (TypeError, AttributeError) as exc:  # a hand-built SigningKey whose kty lies
        raise UnsupportedAlgorithm(f"key {key.kid!r} cannot verify {alg}") from exc


# --- claims ------------------------------------------------------------------


def _number_claim(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if name in claims or required:
            raise MissingClaim(f"the token has no usable '{name}' claim")
        return None
    # bool is an int in Python; a NaN or infinity would make every comparison lie.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"claim '{name}' must be a number")
    try:
        number = float(value)  # a JSON integer of 400 digits overflows here
    except OverflowError:
        raise MalformedToken(f"claim '{name}' must be finite") from None
    if not math.isfinite(number):
        raise MalformedToken(f"claim '{name}' must be finite")
    return number


def _check_times(claims: Mapping[str, Any], policy: VerificationPolicy, now: float) -> None:
    leeway = policy.leeway_seconds
    exp = _number_claim(claims, "exp", required=True)
    iat = _number_claim(claims, "iat", required=True)
    nbf = _number_claim(claims, "nbf", required=False)
    assert exp is not None  # noqa: S101 - required=True guarantees it
    assert iat is not None  # noqa: S101
    if now >= exp + leeway:
        raise TokenExpired("the token expired")
    if nbf is not None and now + leeway < nbf:
        raise TokenNotYetValid("the token's 'nbf' lies in the future")
    if iat > now + leeway:
        raise IssuedInFuture("the token's 'iat' lies in the future")
    if exp - iat > policy.max_lifetime_seconds:
        raise LifetimeTooLong(
            f"the token lives longer than {policy.max_lifetime_seconds:.0f} seconds"
        )


def _check_token_use(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    if policy.token_use is None:
        return
    token_use = claims.get("token_use")
    if token_use is None:
        raise MissingClaim("the token has no 'token_use' claim")
    if token_use not in policy.token_use:
        raise WrongTokenUse(f"token_use must be one of {sorted(policy.token_use)}")


def _audience_values(claims: Mapping[str, Any]) -> list[Any]:
    # Cognito access tokens carry the app client in client_id, not aud.
    if claims.get("token_use") == "access" and "client_id" in claims:
        return [claims["client_id"]]
    if "aud" in claims:
        aud = claims["aud"]
        return aud if isinstance(aud, list) else [aud]
    if "client_id" in claims:
        return [claims["client_id"]]
    raise MissingClaim("the token has neither 'aud' nor 'client_id'")


def _check_audience(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    if policy.audience is None:
        return
    values = _audience_values(claims)
    if any(not isinstance(value, str) for value in values):
        raise MalformedToken("'aud' and 'client_id' must be strings")
    accepted = policy.audience
    if not any(value in accepted for value in values):
        raise WrongAudience(f"the audience must be one of {list(accepted)}")


def _check_string_claims(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    for name in policy.required_claims:
        if claims.get(name) in (None, ""):
            raise MissingClaim(f"the token has no '{name}' claim")
    for name in ("sub", "jti", "origin_jti", "sid", "client_id", "token_use"):
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedToken(f"claim '{name}' must be a string")


def check_claims(claims: Mapping[str, Any], policy: VerificationPolicy, now: float) -> None:
    """Every claim check after the signature, in a fixed order."""
    _check_string_claims(claims, policy)
    _check_times(claims, policy, now)
    _check_token_use(claims, policy)
    _check_audience(claims, policy)


# --- the verifier --------------------------------------------------------------


def _check_crit(header: Mapping[str, Any]) -> None:
    if "crit" not in header:
        return
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise MalformedToken("'crit' must be a non-empty list of names")
    # revoker understands no JWS extension, so any critical one must be refused.
    raise MalformedToken(f"unsupported critical header extension {crit[0][:64]!r}")


class Verifier:
    """Verifies tokens of trusted issuers, each with its own key cache."""

    def __init__(
        self,
        policy: VerificationPolicy,
        keys: Mapping[str, JwksCache],
        *,
        clock: Clock | None = None,
    ) -> None:
        missing = [issuer for issuer in policy.issuers if issuer not in keys]
        if missing:
            raise ConfigurationError(f"no key source for issuer {missing[0]!r}")
        self.policy = policy
        self.keys = {issuer: keys[issuer] for issuer in policy.issuers}
        self._distinct_caches = tuple({id(cache): cache for cache in self.keys.values()}.values())
        self.clock = clock or SystemClock()

    def warm(self) -> None:
        """Fetch every issuer's keys now."""
        for cache in self.keys.values():
            cache.warm()

    def may_fetch(self, token: str) -> bool:
        """Whether verifying ``token`` now could wait on a JWKS fetch (an unknown or stale kid).

        Cheap and unverified: it only lets a server keep such checks off its event loop.
        """
        header = peek_header(token) if len(token) <= self.policy.max_token_bytes else None
        kid = header.get("kid") if header is not None else None
        if not isinstance(kid, str):
            return False  # refused before any key is looked up
        return any(cache.would_fetch(kid) for cache in self._distinct_caches)

    def verify(self, token: str) -> VerifiedToken:
        """Return the verified token, or raise a ``TokenRejected``/``CannotDecide`` error."""
        policy = self.policy
        parsed = parse_unverified(token, max_bytes=policy.max_token_bytes)
        header = parsed.header
        _check_crit(header)
        alg = header["alg"]
        if alg not in policy.algorithms:
            raise UnsupportedAlgorithm(f"alg must be one of {sorted(policy.algorithms)}")
        issuer = parsed.claims.get("iss")
        cache = self.keys.get(issuer) if isinstance(issuer, str) else None
        if cache is None:
            raise WrongIssuer(f"the issuer must be one of {list(policy.issuers)}")
        kid = header.get("kid")
        if kid is None:
            raise UnknownKid("the token header has no 'kid'")
        if not isinstance(kid, str):
            raise MalformedToken("'kid' must be a string")
        verify_signature(parsed, cache.get(kid))
        check_claims(parsed.claims, policy, self.clock())
        return VerifiedToken(raw=token, header=header, claims=parsed.claims)
