"""DPoP proofs (RFC 9449 §4.3): the one place a key comes from a token, the proof's own.

A DPoP-bound access token (``cnf.jkt``) comes with a proof: a JWT the client signs
for this one request with the key the token is bound to, carrying that key in its
header. ``DpopVerifier.verify`` checks, in order: the header (``typ`` ``dpop+jwt``,
an allowed asymmetric ``alg``, no ``crit``, a public ``jwk`` and nothing private),
the signature by that ``jwk``, the claims (``jti``, ``htm``, ``htu``, ``iat``,
``ath``), ``htm`` and ``htu`` against the request (``htu`` without query and
fragment, after RFC 3986 syntax- and scheme-based normalisation), ``iat`` within
the window, ``ath`` against the access token, the key's RFC 7638 thumbprint against
``cnf.jkt``, and last the ``jti`` against a bounded, time-pruned replay cache (only
a proof that passed everything else is remembered). Server nonces (§8, §9) are not
issued, so a proof's ``nonce`` is not checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from revoker.core.claims import number_claim
from revoker.core.clock import Clock, SystemClock
from revoker.core.detail import iso_time, shown
from revoker.core.errors import ConfigurationError, InvalidDpopProof, TokenRejected
from revoker.core.jwks import PublicKey, SigningKey
from revoker.core.signature import SUPPORTED_ALGORITHMS, verify_signature
from revoker.core.signed import check_crit
from revoker.core.tokens import (
    UnverifiedToken,
    b64url_decode,
    b64url_encode,
    header_type,
    parse_unverified,
)

__all__ = [
    "DPOP_TYPE",
    "DpopPolicy",
    "DpopProof",
    "DpopVerifier",
    "ReplayCache",
    "access_token_hash",
    "jwk_thumbprint",
    "normalize_htu",
    "public_key_from_jwk",
]

#: The proof's header ``typ``, as ``header_type`` gives it.
DPOP_TYPE = "dpop+jwt"
MAX_URI_CHARS = 8192
MIN_RSA_BITS = 2048

# JWK members that only a private (or symmetric) key has: a proof carrying one is refused.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# RFC 7638 §3.2: the required members each key type's thumbprint is computed over.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
_EC_CURVES: dict[str, tuple[Callable[[], ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True, slots=True, kw_only=True)
class DpopPolicy:
    """What a DPoP proof must satisfy.

    ``algorithms``: the proof algorithms accepted (the client chooses among them, so they
    are the client's, not the issuer's); asymmetric only, as ``SUPPORTED_ALGORITHMS``.
    ``max_age_seconds``: how old a proof's ``iat`` may be; ``leeway_seconds``: how far in
    the future. ``max_replay_entries`` bounds the replay cache.
    """

    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
    max_age_seconds: float = 60.0
    leeway_seconds: float = 5.0
    max_proof_bytes: int = 4096
    max_jti_chars: int = 256
    max_replay_entries: int = 100_000

    def __post_init__(self) -> None:
        if not isinstance(self.algorithms, frozenset) or not self.algorithms:
            raise ConfigurationError("DPoP algorithms must be a non-empty frozenset")
        if self.algorithms - SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"DPoP algorithms must be a subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if not 0 < self.max_age_seconds <= 3600:
            raise ConfigurationError("DPoP max_age_seconds must lie in (0, 3600]")
        if not 0 <= self.leeway_seconds <= 300:
            raise ConfigurationError("DPoP leeway_seconds must lie between 0 and 300")
        for name in ("max_proof_bytes", "max_jti_chars", "max_replay_entries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"DPoP {name} must be a positive integer")


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A proof that passed every check."""

    jti: str
    iat: float
    htm: str
    htu: str
    jkt: str


# --- keys and thumbprints ----------------------------------------------------------------


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidDpopProof(f"the proof's jwk has no base64url '{name}'")
    try:
        return b64url_decode(value)
    except TokenRejected:
        raise InvalidDpopProof(f"the proof's jwk member '{name}' is not base64url") from None


def _rsa_key(jwk: Mapping[str, Any]) -> PublicKey:
    n = int.from_bytes(_member(jwk, "n"), "big")
    e = int.from_bytes(_member(jwk, "e"), "big")
    key = rsa.RSAPublicNumbers(e, n).public_key()
    if key.key_size < MIN_RSA_BITS:
        raise InvalidDpopProof(f"the proof's RSA key has fewer than {MIN_RSA_BITS} bits")
    return key


def _ec_key(jwk: Mapping[str, Any]) -> PublicKey:
    curve_and_size = _EC_CURVES.get(str(jwk.get("crv")))
    if curve_and_size is None:
        raise InvalidDpopProof(f"the proof's jwk curve {shown(jwk.get('crv'))} is unknown")
    curve, size = curve_and_size
    x, y = _member(jwk, "x"), _member(jwk, "y")
    if len(x) != size or len(y) != size:
        raise InvalidDpopProof("the proof's EC key coordinates have the wrong length")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()
    )
    return numbers.public_key()  # refuses a point that is not on the curve


def _okp_key(jwk: Mapping[str, Any]) -> PublicKey:
    crv, x = jwk.get("crv"), _member(jwk, "x")
    if crv == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    if crv == "Ed448":
        return ed448.Ed448PublicKey.from_public_bytes(x)
    raise InvalidDpopProof(f"the proof's OKP curve {shown(crv)} is not a signing one")


_IMPORTERS: dict[str, Callable[[Mapping[str, Any]], PublicKey]] = {
    "RSA": _rsa_key,
    "EC": _ec_key,
    "OKP": _okp_key,
}


def public_key_from_jwk(jwk: object) -> tuple[str, PublicKey]:
    """The key type and public key of a JWK that holds a public key only (RSA, EC, OKP)."""
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("the proof's header has no 'jwk' object")
    private = sorted(_PRIVATE_MEMBERS & set(jwk))
    if private:
        raise InvalidDpopProof(f"the proof's jwk holds private key members {private}")
    kty = jwk.get("kty")
    importer = _IMPORTERS.get(kty) if isinstance(kty, str) else None
    if importer is None:
        raise InvalidDpopProof(f"the proof's jwk kty {shown(kty)} is not RSA, EC or OKP")
    try:
        return str(kty), importer(jwk)
    except ValueError as exc:
        raise InvalidDpopProof("the proof's jwk is not a usable public key") from exc


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what ``cnf.jkt`` holds."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise InvalidDpopProof("the proof's jwk lacks the members its thumbprint needs")
    required = {name: jwk[name] for name in members}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


# --- htu ---------------------------------------------------------------------------------


def _normalize_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4; each pass consumes input, so the loop ends."""
    output: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./"):
            rest = "/" + rest[3:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            end = rest.find("/", 1)
            end = len(rest) if end == -1 else end
            output.append(rest[:end])
            rest = rest[end:]
    return "".join(output)


def normalize_htu(uri: str) -> str:
    """``uri`` without query and fragment, normalised as RFC 9449 §4.3 asks (RFC 3986 §6.2.2,
    §6.2.3): scheme and host in lower case, no default port, percent-encoding in one form,
    no dot segments, an empty path as ``/``. ``ValueError`` for anything but an absolute
    http(s) URI."""
    if not isinstance(uri, str) or len(uri) > MAX_URI_CHARS:
        raise ValueError("not a URI of bounded length")
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        raise ValueError("not an absolute http(s) URI without user information")
    port = parts.port  # ValueError for a port that is not a number in range
    if ":" in host:
        host = f"[{host}]"
    authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_PERCENT.sub(_normalize_percent, parts.path)) or "/"
    return f"{scheme}://{authority}{path}"


# --- replay ------------------------------------------------------------------------------


class ReplayCache:
    """Proof ids seen recently, each until the instant its proof would be too old anyway.

    Bounded: entries are pruned as they expire, and when ``max_entries`` unexpired ones are
    held a new proof is refused rather than an old one forgotten (forgetting would let its
    proof be replayed). Thread-safe.
    """

    def __init__(self, *, max_entries: int) -> None:
        self._max = max_entries
        self._expiries: dict[str, float] = {}  # insertion order, roughly expiry order
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiries)

    def remember(self, key: str, *, expires_at: float, now: float) -> None:
        """Record ``key``; ``InvalidDpopProof`` if it is already held (a replay) or no room."""
        with self._lock:
            self._prune(now, full=len(self._expiries) >= self._max)
            previous = self._expiries.get(key)
            if previous is not None and previous > now:
                raise InvalidDpopProof("the proof's jti was already used: a replayed proof")
            if len(self._expiries) >= self._max:
                raise InvalidDpopProof(
                    "too many recent proofs to check this one for replay; retry shortly"
                )
            self._expiries.pop(key, None)
            self._expiries[key] = expires_at

    def _prune(self, now: float, *, full: bool) -> None:
        expiries = self._expiries
        if full:  # expiries are only roughly ordered: sweep them all before refusing
            for key in [key for key, at in expiries.items() if at <= now]:
                del expiries[key]
            return
        for key, at in list(expiries.items())[:64]:  # the oldest few, cheaply
            if at > now:
                break
            del expiries[key]


# --- the verifier ------------------------------------------------------------------------


def _string_claim(claims: Mapping[str, Any], name: str, *, limit: int = MAX_URI_CHARS) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidDpopProof(f"the proof has no string '{name}' claim")
    if len(value) > limit:
        raise InvalidDpopProof(f"the proof's '{name}' claim is longer than {limit} characters")
    return value


class DpopVerifier:
    """Verifies DPoP proofs for DPoP-bound access tokens, remembering their ``jti``."""

    def __init__(self, policy: DpopPolicy | None = None, *, clock: Clock | None = None) -> None:
        self.policy = policy or DpopPolicy()
        self.clock = clock or SystemClock()
        self.replay_cache = ReplayCache(max_entries=self.policy.max_replay_entries)

    def verify(
        self,
        proof: str,
        *,
        access_token: str,
        method: str | None,
        uri: str | None,
        jkt: str,
    ) -> DpopProof:
        """The checked proof, or ``InvalidDpopProof`` naming the check that failed."""
        if method is None or uri is None:
            raise InvalidDpopProof(
                "the request's method and URI are needed to check the proof's htm and htu"
            )
        parsed = self._signed_proof(proof)
        claims = parsed.claims
        jti = _string_claim(claims, "jti", limit=self.policy.max_jti_chars)
        htm = _string_claim(claims, "htm", limit=32)
        htu = _string_claim(claims, "htu")
        ath = _string_claim(claims, "ath", limit=128)
        if htm != method:
            raise InvalidDpopProof(
                f"the proof's htm {shown(htm)} is not the request's method {shown(method)}"
            )
        proof_uri = _same_uri(htu, uri)
        now = self.clock()
        iat = self._fresh_iat(claims, now)
        if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
            raise InvalidDpopProof("the proof's ath is not the hash of the access token presented")
        thumbprint = jwk_thumbprint(parsed.header["jwk"])
        if not hmac.compare_digest(thumbprint.encode(), jkt.encode()):
            raise InvalidDpopProof("the proof's key is not the one the token is bound to (cnf.jkt)")
        self.replay_cache.remember(
            f"{thumbprint}\x00{jti}", expires_at=iat + self.policy.max_age_seconds, now=now
        )
        return DpopProof(jti=jti, iat=iat, htm=htm, htu=proof_uri, jkt=thumbprint)

    def _signed_proof(self, proof: str) -> UnverifiedToken:
        """The proof parsed, typed ``dpop+jwt``, and signed by the key in its own header."""
        policy = self.policy
        try:
            parsed = parse_unverified(proof, max_bytes=policy.max_proof_bytes)
            check_crit(parsed.header)
            typ = header_type(parsed.header)
        except TokenRejected as exc:
            raise InvalidDpopProof(f"the DPoP proof: {exc.detail}") from exc
        header = parsed.header
        if typ != DPOP_TYPE:
            received = shown(header["typ"]) if "typ" in header else "absent"
            raise InvalidDpopProof(f"the proof's header typ is {received}, not 'dpop+jwt'")
        alg = header["alg"]
        if alg not in policy.algorithms:
            raise InvalidDpopProof(
                f"the proof's alg {shown(alg)} is not allowed; allowed: {sorted(policy.algorithms)}"
            )
        kty, public = public_key_from_jwk(header.get("jwk"))
        key = SigningKey(kid="dpop-proof-jwk", kty=kty, alg=None, key=public)
        try:
            verify_signature(parsed, key)
        except TokenRejected as exc:
            raise InvalidDpopProof(f"the proof's signature: {exc.detail}") from exc
        return parsed

    def _fresh_iat(self, claims: Mapping[str, Any], now: float) -> float:
        policy = self.policy
        try:
            iat = number_claim(claims, "iat", required=True)
        except TokenRejected as exc:
            raise InvalidDpopProof(f"the proof: {exc.detail}") from exc
        assert iat is not None  # noqa: S101 - required=True guarantees it
        if iat > now + policy.leeway_seconds or iat < now - policy.max_age_seconds:
            raise InvalidDpopProof(
                f"the proof's iat {iso_time(iat)} is outside the window (now {iso_time(now)};"
                f" at most {policy.max_age_seconds:g} s old, {policy.leeway_seconds:g} s ahead)"
            )
        return iat


def _same_uri(htu: str, uri: str) -> str:
    """The proof's ``htu``, normalised, when it names the request's URI."""
    try:
        expected = normalize_htu(uri)
    except ValueError:
        raise InvalidDpopProof("the request URI given is not an absolute http(s) URI") from None
    try:
        named = normalize_htu(htu)
    except ValueError:
        raise InvalidDpopProof(
            f"the proof's htu {shown(htu)} is not an absolute http(s) URI"
        ) from None
    if named != expected:
        raise InvalidDpopProof(
            f"the proof's htu {shown(named)} is not the request's URI {shown(expected)}"
        )
    return named
