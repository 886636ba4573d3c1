"""Signing keys: where they come from, and a cache that cannot be stampeded.

Keys come from one of three places (``JwksSource``): a JWKS URL, OIDC
discovery, or the Cognito convention. ``JwksCache`` keeps them with a TTL;
concurrent misses share one fetch; an unknown ``kid`` may trigger a refetch
at most once per cooldown (a "penalty box"), so a flood of tokens with random
kids costs a handful of fetches; and a failed refetch leaves the cached keys
serving. Keys are never taken from the token (``jwk``, ``jku``, ``x5u``,
``x5c`` are ignored by design): only this cache supplies them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from revoker.core.clock import Clock, SystemClock
from revoker.core.detail import shown, shown_list
from revoker.core.errors import ConfigurationError, JwksUnavailable, UnknownKid
from revoker.core.urls import redacted_url

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_TTL_SECONDS",
    "HttpJwksFetcher",
    "JwksCache",
    "JwksFetcher",
    "JwksSource",
    "PublicKey",
    "SigningKey",
    "cognito_issuer",
    "json_document",
    "parse_jwks",
]

log = logging.getLogger("revoker.jwks")

DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_COOLDOWN_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 512 * 1024
MIN_RSA_BITS = 2048
# A caller waiting on another's fetch gives up after this; the fetch has its own timeout.
JOIN_TIMEOUT_SECONDS = 30.0

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_COGNITO_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")


def cognito_issuer(region: str, user_pool_id: str) -> str:
    """The issuer of a Cognito user pool: ``https://cognito-idp.{region}.amazonaws.com/{id}``."""
    match = _COGNITO_POOL_ID.fullmatch(user_pool_id)
    if match is None:
        raise ConfigurationError(
            f"{user_pool_id!r} is not a Cognito user pool id (expected REGION_ID)"
        )
    if match["region"] != region:
        raise ConfigurationError(
            f"user pool {user_pool_id} lives in {match['region']}, not in region {region}"
        )
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One verification key from a JWKS, already imported."""

    kid: str
    kty: str
    alg: str | None
    key: PublicKey


def _fingerprint(keys: dict[str, SigningKey]) -> dict[str, tuple[str, str | None, bytes]]:
    """What identifies a key set: each kid with its type, alg and public key bytes."""
    return {
        kid: (
            key.kty,
            key.alg,
            key.key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        for kid, key in keys.items()
    }


class JwksFetcher(Protocol):
    """Fetches a JSON document; raises ``JwksUnavailable`` on any failure."""

    def fetch_json(self, url: str) -> dict[str, Any]: ...


def json_document(body: bytes, url: str) -> dict[str, Any]:
    """A fetched body as a JSON object, or ``JwksUnavailable`` (for every fetcher)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and bad UTF-8; RecursionError deep nesting.
        raise JwksUnavailable(f"{redacted_url(url)} did not return JSON") from exc
    if not isinstance(document, dict):
        raise JwksUnavailable(f"{redacted_url(url)} did not return a JSON object")
    return document


class HttpJwksFetcher:
    """Fetches JSON over HTTP(S) with httpx: a total deadline, a size cap, no redirects."""

    def __init__(self, *, timeout_seconds: float = 3.0, client: httpx.Client | None = None) -> None:
        import httpx  # noqa: PLC0415 - imported here so `import revoker` stays light

        self._httpx = httpx
        self._timeout = timeout_seconds
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False
        )

    def fetch_json(self, url: str) -> dict[str, Any]:
        httpx = self._httpx
        try:
            body = self._read_capped(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            shown = redacted_url(url)  # a URL may carry a credential: never in a message
            raise JwksUnavailable(f"fetching {shown} failed: {type(exc).__name__}") from exc
        return json_document(body, url)

    def _read_capped(self, url: str) -> bytes:
        # httpx's timeouts bound each read, not the whole response: a server
        # trickling a byte at a time is cut off by this deadline instead.
        deadline = time.monotonic() + self._timeout
        shown = redacted_url(url)
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise JwksUnavailable(f"fetching {shown} returned HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
                raise JwksUnavailable(f"{shown} returned more than {MAX_DOCUMENT_BYTES} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksUnavailable(f"{shown} returned more than {MAX_DOCUMENT_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise JwksUnavailable(f"fetching {shown} took longer than {self._timeout}s")
        return bytes(body)

    def close(self) -> None:
        """Close the HTTP client, if this fetcher created it."""
        if self._owns_client:
            self._client.close()


@dataclass(frozen=True, slots=True)
class JwksSource:
    """Where an issuer's keys live. Build one with a ``from_*`` constructor."""

    jwks_url: str | None = None
    discovery_issuer: str | None = None

    @classmethod
    def from_url(cls, jwks_url: str) -> JwksSource:
        _require_http_url(jwks_url, "JWKS URL")
        return cls(jwks_url=jwks_url)

    @classmethod
    def from_discovery(cls, issuer: str) -> JwksSource:
        """OIDC discovery: ``{issuer}/.well-known/openid-configuration`` names ``jwks_uri``."""
        _require_http_url(issuer, "issuer")
        return cls(discovery_issuer=issuer)

    @classmethod
    def from_cognito(cls, region: str, user_pool_id: str) -> JwksSource:
        """Cognito publishes at ``{issuer}/.well-known/jwks.json``; no discovery round trip."""
        return cls(jwks_url=cognito_issuer(region, user_pool_id) + "/.well-known/jwks.json")

    def resolve(self, fetcher: JwksFetcher) -> str:
        """The JWKS URL, asking the discovery document when that is the source."""
        if self.jwks_url is not None:
            return self.jwks_url
        issuer = self.discovery_issuer
        assert issuer is not None  # noqa: S101 - guaranteed by the constructors
        document = fetcher.fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != issuer:
            raise JwksUnavailable("the discovery document names a different issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise JwksUnavailable("the discovery document has no usable jwks_uri")
        return jwks_uri


def _require_http_url(url: str, what: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise ConfigurationError(f"the {what} must be an http(s) URL, not {redacted_url(url)!r}")


def _import_key(jwk: dict[str, Any]) -> PublicKey | None:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm  # noqa: PLC0415

    kty = jwk.get("kty")
    importer: Any = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}.get(str(kty))
    if importer is None:
        return None
    key = importer.from_jwk(jwk)
    if hasattr(key, "public_key"):  # a JWKS that leaks private parts still only verifies
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key
    return None


def parse_jwks(document: dict[str, Any]) -> dict[str, SigningKey]:
    """Import every usable signing key of a JWKS, keyed by ``kid``; skip the rest with a log."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksUnavailable("the JWKS has no 'keys' list")
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, use, alg = entry.get("kid"), entry.get("use"), entry.get("alg")
        key_ops = entry.get("key_ops")
        for_verifying = use in (None, "sig") and (
            key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)
        )
        if not isinstance(kid, str) or not for_verifying or kid in keys:
            log.warning("skipping a JWKS entry without a unique kid or not for verifying")
            continue
        try:
            key = _import_key(entry)
        except Exception:  # noqa: BLE001 - any bad key is skipped, the rest still serve
            key = None
        if key is None:
            log.warning("skipping JWKS key %r: unsupported or unusable", kid[:64])
            continue
        keys[kid] = SigningKey(
            kid=kid, kty=str(entry["kty"]), alg=alg if isinstance(alg, str) else None, key=key
        )
    return keys


class JwksCache:
    """An issuer's keys with a TTL, one shared fetch, and an unknown-kid cooldown."""

    def __init__(
        self,
        source: JwksSource,
        *,
        fetcher: JwksFetcher | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.source = source
        self._fetcher = fetcher if fetcher is not None else HttpJwksFetcher()
        self._ttl = ttl_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock or SystemClock()
        # The lock guards the fields below and is never held during I/O.
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._last_error: JwksUnavailable | None = None
        self._in_flight: threading.Event | None = None
        self.fetch_count = 0
        self.failure_count = 0
        # Told when a fetch changes the key set (the verified-token caches built on it).
        self._listeners: list[weakref.WeakMethod[Callable[[], None]]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (a bound method, held weakly) after a fetch adds, removes or
        replaces a key: whatever was verified with the old set must be verified again."""
        with self._lock:
            self._listeners.append(weakref.WeakMethod(listener))

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def warm(self) -> None:
        """Load the keys now (a Lambda's start); raise ``JwksUnavailable`` if that fails."""
        error = self._refresh(self._clock(), force=True)
        if error is not None:
            raise error
        if self._loaded_at is None:
            raise self._last_error or JwksUnavailable("no signing keys could be loaded yet")

    def get(self, kid: str) -> SigningKey:
        """The key for ``kid``; raise ``UnknownKid`` or ``JwksUnavailable``."""
        now = self._clock()
        key = self._keys.get(kid)
        loaded_at = self._loaded_at
        if key is not None and loaded_at is not None and now - loaded_at < self._ttl:
            return key
        # A miss, an expired set, or nothing loaded yet: refetch if out of the penalty box.
        self._refresh(now, force=False)
        key = self._keys.get(kid)
        if key is not None:
            return key
        # While the key source is failing, a missing kid may be a key we could not
        # fetch: that is "cannot decide", not a bad token.
        if self._loaded_at is None or self._last_error is not None:
            raise self._last_error or JwksUnavailable("no signing keys could be loaded yet")
        raise UnknownKid(
            f"kid {shown(kid)} is not in the issuer's JWKS; it has {shown_list(sorted(self._keys))}"
        )

    def _refresh(self, now: float, *, force: bool) -> JwksUnavailable | None:
        """Fetch unless in the penalty box; a caller that finds a fetch in flight waits for it.

        Returns the error of the fetch this call ran, if it ran one and it failed.
        """
        with self._lock:
            in_flight = self._in_flight
            leader = in_flight is None and (force or self._may_fetch(now))
            if leader:
                in_flight = self._in_flight = threading.Event()
                self._last_attempt = now
                self.fetch_count += 1
        if in_flight is None:
            return None  # in the penalty box: answer from what is cached
        if not leader:
            in_flight.wait(JOIN_TIMEOUT_SECONDS)
            return None
        keys: dict[str, SigningKey] | None = None
        error: JwksUnavailable | None = None
        try:
            keys = self._load()
        except JwksUnavailable as exc:
            error = exc
            log.warning("JWKS fetch failed, cached keys keep serving: %s", exc)
        finally:  # even on KeyboardInterrupt, waiters must be released
            changed = False
            with self._lock:
                if keys is not None:
                    changed = self._loaded_at is not None and _fingerprint(keys) != _fingerprint(
                        self._keys
                    )
                    self._keys = keys
                    self._loaded_at = self._clock()
                    self._last_error = None
                else:
                    self.failure_count += 1
                    self._last_error = error or JwksUnavailable("the JWKS fetch was interrupted")
                self._in_flight = None
            in_flight.set()
        if changed:
            log.info("the issuer's signing keys changed: %s", sorted(self._keys))
            self._notify()
        return error

    def _notify(self) -> None:
        with self._lock:
            listeners = [ref() for ref in self._listeners]
            self._listeners = [ref for ref in self._listeners if ref() is not None]
        for listener in listeners:
            if listener is not None:
                listener()

    def would_fetch(self, kid: str) -> bool:
        """Whether ``get(kid)`` now would go to the network (so a caller may run it off-loop)."""
        now = self._clock()
        loaded_at = self._loaded_at
        if kid in self._keys and loaded_at is not None and now - loaded_at < self._ttl:
            return False
        return self._may_fetch(now)

    def _may_fetch(self, now: float) -> bool:
        last = self._last_attempt
        return last is None or now - last >= self._cooldown

    def _load(self) -> dict[str, SigningKey]:
        try:
            url = self.source.resolve(self._fetcher)
            return parse_jwks(self._fetcher.fetch_json(url))
        except JwksUnavailable:
            raise
        except Exception as exc:  # a broken fetcher means "cannot decide", not a 500
            raise JwksUnavailable(f"the JWKS fetcher failed: {type(exc).__name__}") from exc
