"""The JWKS cache against real HTTP: the dev issuer's keys, and a canned server for bad ones."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    ConfigurationError,
    JwksUnavailable,
    UnknownKid,
    UnsupportedAlgorithm,
)
from revoker.core.jwks import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_DOCUMENT_BYTES,
    HttpJwksFetcher,
    JwksCache,
    JwksSource,
    cognito_issuer,
    parse_jwks,
)
from revoker.core.signing import generate_key, sign_compact
from revoker.core.tokens import parse_unverified
from revoker.core.verify import VerificationPolicy, Verifier
from revoker.devissuer import DevIssuer, DevIssuerServer, DevUser

NOW = 1_700_000_000
ALICE = DevUser("alice", "alice-password", "alice@example.com")


# --- helpers -------------------------------------------------------------------------


class CountingFetcher:
    """The real HttpJwksFetcher, recording each URL it is asked for."""

    def __init__(self, timeout_seconds: float = 2.0) -> None:
        self.inner = HttpJwksFetcher(timeout_seconds=timeout_seconds)
        self.urls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        return self.inner.fetch_json(url)


@dataclass
class Canned:
    """One canned response: status, body, and whether to declare Content-Length."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    declare_length: bool = True
    trickle_seconds: float = 0.0  # > 0: send the body one byte at a time, this far apart


class _CannedHandler(BaseHTTPRequestHandler):
    server: CannedServer

    def do_GET(self) -> None:
        canned = self.server.routes.get(self.path, Canned(404, b"not found", "text/plain"))
        self.send_response(canned.status)
        self.send_header("Content-Type", canned.content_type)
        if canned.declare_length:
            self.send_header("Content-Length", str(len(canned.body)))
        self.end_headers()
        if canned.trickle_seconds <= 0:
            self.wfile.write(canned.body)
            return
        for byte in canned.body[:100]:  # bounded: at most 100 slow bytes
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.closing.wait(canned.trickle_seconds):
                return

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class CannedServer(ThreadingHTTPServer):
    """Serves fixed responses by path on 127.0.0.1; tests change ``routes`` as they go."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CannedHandler)
        self.routes: dict[str, Canned] = {}
        self.closing = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a trickle is expected here

    def serve_json(self, path: str, document: Any) -> str:
        self.routes[path] = Canned(body=json.dumps(document).encode())
        return self.url + path


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def issuer_server(clock: FrozenClock) -> Iterator[DevIssuerServer]:
    with DevIssuerServer(users=[ALICE], clock=clock) as server:
        yield server


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def fetcher() -> Iterator[CountingFetcher]:
    counting = CountingFetcher()
    yield counting
    counting.inner.close()


def login(issuer: DevIssuer) -> dict[str, Any]:
    params = {"USERNAME": ALICE.username, "PASSWORD": ALICE.password}
    return issuer.initiate_auth(
        {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": issuer.client_id, "AuthParameters": params}
    )["AuthenticationResult"]


def verifier_for(issuer: DevIssuer, cache: JwksCache, clock: FrozenClock) -> Verifier:
    policy = VerificationPolicy(
        issuers=(issuer.issuer,),
        audience=(issuer.client_id,),
        token_use=frozenset({"id", "access"}),
    )
    return Verifier(policy, {issuer.issuer: cache}, clock=clock)


def http_cache(url: str, fetcher: Any, clock: FrozenClock) -> JwksCache:
    return JwksCache(JwksSource.from_url(url), fetcher=fetcher, clock=clock)


# --- loading, rotation, TTL ---------------------------------------------------------------


def test_warm_loads_the_issuers_keys_over_http(
    issuer_server: DevIssuerServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """warm() fetches the JWKS once and the cache then knows the issuer's kid."""
    cache = http_cache(issuer_server.jwks_url, fetcher, clock)
    cache.warm()
    assert cache.kids == {issuer_server.issuer_obj.current_kid}
    assert fetcher.urls == [issuer_server.jwks_url]
    assert cache.get(issuer_server.issuer_obj.current_kid).kty == "RSA"
    assert cache.fetch_count == 1


def test_warm_raises_jwks_unavailable_when_the_issuer_is_down(
    fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """warm() on an unreachable JWKS raises JwksUnavailable, and so does a later get()."""
    server = DevIssuerServer(users=[ALICE])
    server.stop()  # the port is now closed
    cache = http_cache(server.jwks_url, fetcher, clock)
    with pytest.raises(JwksUnavailable):
        cache.warm()
    with pytest.raises(JwksUnavailable):
        cache.get("any-kid")
    assert cache.failure_count == 1


def test_a_rotated_key_verifies_after_a_refetch_triggered_by_its_kid(
    issuer_server: DevIssuerServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """A token from a rotated-in key is refetched for (after the cooldown) and verifies."""
    issuer = issuer_server.issuer_obj
    cache = http_cache(issuer_server.jwks_url, fetcher, clock)
    verifier = verifier_for(issuer, cache, clock)
    before = login(issuer)["AccessToken"]
    verifier.verify(before)
    issuer.rotate_keys()
    after = login(issuer)["AccessToken"]
    with pytest.raises(UnknownKid):  # still in the penalty box of the first fetch
        verifier.verify(after)
    assert cache.fetch_count == 1
    clock.advance(DEFAULT_COOLDOWN_SECONDS)
    assert verifier.verify(after).kid == issuer.current_kid
    assert verifier.verify(before).kid != issuer.current_kid  # the old key is still published
    assert cache.fetch_count == 2


def test_ttl_expiry_triggers_a_refetch(
    issuer_server: DevIssuerServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """A known kid is served from cache until the TTL passes, then the JWKS is fetched again."""
    kid = issuer_server.issuer_obj.current_kid
    cache = http_cache(issuer_server.jwks_url, fetcher, clock)
    cache.get(kid)
    clock.advance(DEFAULT_TTL_SECONDS - 1)
    cache.get(kid)
    assert cache.fetch_count == 1
    clock.advance(1)
    cache.get(kid)
    assert cache.fetch_count == 2
    assert len(fetcher.urls) == 2


# --- the unknown-kid penalty box ----------------------------------------------------------


def test_random_unknown_kids_cost_a_handful_of_fetches(
    issuer_server: DevIssuerServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """200 tokens with random kids cause one refetch per cooldown, not 200; later, one more."""
    issuer = issuer_server.issuer_obj
    cache = http_cache(issuer_server.jwks_url, fetcher, clock)
    verifier = verifier_for(issuer, cache, clock)
    genuine = parse_unverified(login(issuer)["AccessToken"])
    attacker_key = generate_key("RS256")
    cache.warm()
    clock.advance(DEFAULT_COOLDOWN_SECONDS)
    for _ in range(200):
        header = {"kid": str(uuid.uuid4()), "alg": "RS256"}
        with pytest.raises(UnknownKid):
            verifier.verify(sign_compact(header, genuine.claims, attacker_key))
    assert cache.fetch_count == 2  # the warm-up, and one refetch for the first unknown kid
    clock.advance(DEFAULT_COOLDOWN_SECONDS)
    with pytest.raises(UnknownKid):
        verifier.verify(
            sign_compact({"kid": "another", "alg": "RS256"}, genuine.claims, attacker_key)
        )
    assert cache.fetch_count == 3
    assert len(fetcher.urls) == 3


class ArrivalClock(FrozenClock):
    """A frozen clock that notes which threads have asked it the time."""

    def __init__(self, now: float) -> None:
        super().__init__(now)
        self.callers: set[int] = set()
        self.changed = threading.Condition()

    def __call__(self) -> float:
        with self.changed:
            self.callers.add(threading.get_ident())
            self.changed.notify_all()
        return self.now


class GatedFetcher(CountingFetcher):
    """Holds each fetch until every worker thread has entered the cache (asked its clock)."""

    def __init__(self, clock: ArrivalClock, workers: set[int]) -> None:
        super().__init__()
        self.clock = clock
        self.workers = workers

    def fetch_json(self, url: str) -> dict[str, Any]:
        with self.clock.changed:
            self.clock.changed.wait_for(lambda: self.workers <= self.clock.callers, timeout=10)
        return super().fetch_json(url)


def test_concurrent_misses_share_one_fetch(issuer_server: DevIssuerServer) -> None:
    """N threads missing at once on a cold cache wait for one fetch and all get the key."""
    kid = issuer_server.issuer_obj.current_kid
    clock = ArrivalClock(NOW)
    workers: set[int] = set()
    fetcher = GatedFetcher(clock, workers)
    cache = http_cache(issuer_server.jwks_url, fetcher, clock)
    results: list[str] = []
    errors: list[BaseException] = []
    started = threading.Barrier(17)

    def ask() -> None:
        started.wait(10)
        try:
            results.append(cache.get(kid).kid)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    workers.update(t.ident for t in threads if t.ident is not None)
    started.wait(10)
    for thread in threads:
        thread.join(15)
    fetcher.inner.close()
    assert errors == []
    assert results == [kid] * 16
    assert fetcher.urls == [issuer_server.jwks_url]
    assert cache.fetch_count == 1


# --- failures keep the cached keys ---------------------------------------------------------


def _break_by_stopping(issuer_server: DevIssuerServer, canned: CannedServer) -> None:
    issuer_server.stop()


def _break_with_a_500(issuer_server: DevIssuerServer, canned: CannedServer) -> None:
    canned.routes["/jwks.json"] = Canned(500, b"oops", "text/plain")


@pytest.mark.parametrize(
    "break_it", [_break_by_stopping, _break_with_a_500], ids=["server-stopped", "http-500"]
)
def test_a_failed_refetch_keeps_the_cached_keys_serving(
    issuer_server: DevIssuerServer,
    canned: CannedServer,
    fetcher: CountingFetcher,
    clock: FrozenClock,
    break_it: Any,
) -> None:
    """When the refetch after the TTL fails, the cached keys keep verifying tokens."""
    issuer = issuer_server.issuer_obj
    url = (
        issuer_server.jwks_url
        if break_it is _break_by_stopping
        else canned.serve_json("/jwks.json", issuer.jwks())
    )
    cache = http_cache(url, fetcher, clock)
    verifier = verifier_for(issuer, cache, clock)
    token = login(issuer)["IdToken"]
    cache.warm()
    break_it(issuer_server, canned)
    clock.advance(DEFAULT_TTL_SECONDS)
    assert verifier.verify(token).claims["cognito:username"] == "alice"
    assert (cache.fetch_count, cache.failure_count) == (2, 1)
    # While the source is failing, an unknown kid is "cannot decide", not a bad token.
    clock.advance(DEFAULT_COOLDOWN_SECONDS)
    with pytest.raises(JwksUnavailable):
        cache.get("a-kid-we-could-not-look-up")


# --- where the keys come from --------------------------------------------------------------


def test_discovery_finds_the_jwks_of_the_dev_issuer(
    issuer_server: DevIssuerServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """from_discovery reads {issuer}/.well-known/openid-configuration, then its jwks_uri."""
    cache = JwksCache(JwksSource.from_discovery(issuer_server.issuer), fetcher=fetcher, clock=clock)
    cache.warm()
    assert cache.kids == {issuer_server.issuer_obj.current_kid}
    assert fetcher.urls == [
        issuer_server.issuer + "/.well-known/openid-configuration",
        issuer_server.jwks_url,
    ]


def test_discovery_refuses_a_document_naming_another_issuer(
    issuer_server: DevIssuerServer,
    canned: CannedServer,
    fetcher: CountingFetcher,
    clock: FrozenClock,
) -> None:
    """A discovery document whose issuer differs from the one asked is refused before any key."""
    canned.serve_json(
        "/pool/.well-known/openid-configuration",
        {"issuer": "https://attacker.example/pool", "jwks_uri": issuer_server.jwks_url},
    )
    cache = JwksCache(JwksSource.from_discovery(canned.url + "/pool"), fetcher=fetcher, clock=clock)
    with pytest.raises(JwksUnavailable, match="different issuer"):
        cache.warm()
    assert fetcher.urls == [canned.url + "/pool/.well-known/openid-configuration"]
    assert cache.kids == frozenset()


def test_from_cognito_builds_the_pools_jwks_url() -> None:
    """from_cognito gives https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json."""
    source = JwksSource.from_cognito("eu-west-2", "eu-west-2_AbC123xyz")
    assert source.jwks_url == (
        "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123xyz/.well-known/jwks.json"
    )
    assert cognito_issuer("us-east-1", "us-east-1_iWcTPhZBA") == (
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_iWcTPhZBA"
    )


@pytest.mark.parametrize(
    ("region", "pool_id"),
    [
        ("us-east-1", "us-west-2_AbC123"),
        ("us-east-1", "AbC123"),
        ("us-east-1", "us-east-1_"),
        ("us-east-1", "us-east-1_Ab/../x"),
        ("us-east-1", "us-east-1_AbC123\n"),
        ("", "_AbC123"),
    ],
    ids=["region-mismatch", "no-region", "no-id", "path-traversal", "newline", "empty-region"],
)
def test_from_cognito_rejects_a_malformed_pool_id_or_region_mismatch(
    region: str, pool_id: str
) -> None:
    """A pool id that is not REGION_ID, or lives in another region, is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        JwksSource.from_cognito(region, pool_id)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/jwks.json", "file:///etc/passwd", "example.com/jwks"],
    ids=["ftp", "file", "no-scheme"],
)  # fmt: skip
def test_a_jwks_url_must_be_http(url: str) -> None:
    """JWKS and discovery sources take http(s) URLs only."""
    with pytest.raises(ConfigurationError):
        JwksSource.from_url(url)
    with pytest.raises(ConfigurationError):
        JwksSource.from_discovery(url)


# --- bad responses ----------------------------------------------------------------------------

_OVERSIZED = b'{"keys": [], "pad": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}'


@pytest.mark.parametrize(
    "response",
    [
        Canned(body=b"<html>hello</html>", content_type="text/html"),
        Canned(body=b"{\"keys\": [}"),
        Canned(body=b"\xff\xfe{}"),
        Canned(body=b""),
        Canned(body=b"[1, 2]"),
        Canned(body=b"\"keys\""),
        Canned(body=b"[" * 200_000 + b"]" * 200_000),
        Canned(body=_OVERSIZED),
        Canned(body=_OVERSIZED, declare_length=False),
        Canned(status=500, body=b"{}"),
        Canned(status=302, body=b"{}"),
        Canned(status=404, body=b"{}"),
    ],
    ids=[
        "html", "truncated-json", "not-utf8", "empty", "json-array", "json-string",
        "deep-nesting", "oversized", "oversized-streamed", "http-500", "redirect", "not-found",
    ],
)  # fmt: skip
def test_a_bad_response_is_jwks_unavailable(
    canned: CannedServer, fetcher: CountingFetcher, clock: FrozenClock, response: Canned
) -> None:
    """Non-JSON, non-objects, deep nesting, oversized bodies and non-200s raise JwksUnavailable."""
    canned.routes["/jwks.json"] = response
    with pytest.raises(JwksUnavailable):
        fetcher.inner.fetch_json(canned.url + "/jwks.json")
    cache = http_cache(canned.url + "/jwks.json", fetcher, clock)
    with pytest.raises(JwksUnavailable):
        cache.warm()
    assert cache.failure_count == 1


@pytest.mark.parametrize(
    "document",
    [{}, {"keys": "abc"}, {"keys": {"kid": "x"}}],
    ids=["no-keys", "keys-a-string", "keys-an-object"],
)
def test_a_document_without_a_keys_list_is_jwks_unavailable(
    canned: CannedServer, fetcher: CountingFetcher, clock: FrozenClock, document: Any
) -> None:
    """A JSON object that is not a JWKS makes warm() raise JwksUnavailable."""
    cache = http_cache(canned.serve_json("/jwks.json", document), fetcher, clock)
    with pytest.raises(JwksUnavailable, match="keys"):
        cache.warm()


def test_a_server_that_never_answers_times_out(fetcher: CountingFetcher) -> None:
    """A socket that accepts and never answers fails within the timeout, as JwksUnavailable."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json"
        slow = HttpJwksFetcher(timeout_seconds=0.3)
        started = time.monotonic()
        with pytest.raises(JwksUnavailable, match="ReadTimeout"):
            slow.fetch_json(url)
        slow.close()
    assert time.monotonic() - started < 3


def test_a_trickling_server_is_cut_off_by_the_total_deadline(canned: CannedServer) -> None:
    """A body sent a byte at a time (each read inside the timeout) still stops at the deadline."""
    canned.routes["/jwks.json"] = Canned(body=b'{"keys": []}' + b" " * 80, trickle_seconds=0.05)
    slow = HttpJwksFetcher(timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(JwksUnavailable, match="longer than"):
        slow.fetch_json(canned.url + "/jwks.json")
    slow.close()
    assert time.monotonic() - started < 3


# --- what a JWKS entry may and may not do ------------------------------------------------------


def _issuer_jwk(issuer: DevIssuer, **changes: Any) -> dict[str, Any]:
    (entry,) = copy.deepcopy(issuer.jwks()["keys"])
    entry.update(changes)
    return entry


def test_a_key_published_for_another_alg_is_refused(
    issuer_server: DevIssuerServer,
    canned: CannedServer,
    fetcher: CountingFetcher,
    clock: FrozenClock,
) -> None:
    """A JWKS key marked RS384 does not verify an RS256 token, even with the right signature."""
    issuer = issuer_server.issuer_obj
    url = canned.serve_json("/jwks.json", {"keys": [_issuer_jwk(issuer, alg="RS384")]})
    verifier = verifier_for(issuer, http_cache(url, fetcher, clock), clock)
    with pytest.raises(UnsupportedAlgorithm) as caught:
        verifier.verify(login(issuer)["AccessToken"])
    assert caught.value.reason == "unsupported_alg"


def test_an_encryption_key_is_skipped(
    issuer_server: DevIssuerServer,
    canned: CannedServer,
    fetcher: CountingFetcher,
    clock: FrozenClock,
) -> None:
    """A JWKS entry with use: enc is not a signing key; the use: sig entry beside it is."""
    issuer = issuer_server.issuer_obj
    document = {"keys": [_issuer_jwk(issuer, kid="enc-key", use="enc"), _issuer_jwk(issuer)]}
    cache = http_cache(canned.serve_json("/jwks.json", document), fetcher, clock)
    cache.warm()
    assert cache.kids == {issuer.current_kid}
    with pytest.raises(UnknownKid):
        cache.get("enc-key")


def test_a_private_key_in_a_jwks_is_reduced_to_its_public_half(
    canned: CannedServer, fetcher: CountingFetcher, clock: FrozenClock
) -> None:
    """A JWKS that leaks a private key yields only the public key, which still verifies."""
    private = generate_key("RS256")
    assert isinstance(private, rsa.RSAPrivateKey)
    leaked = RSAAlgorithm.to_jwk(private, as_dict=True)
    leaked.update({"kid": "leaky", "alg": "RS256", "use": "sig"})
    leaked.pop("key_ops", None)  # PyJWT marks a private JWK "sign"; a JWKS entry says nothing
    assert "d" in leaked
    cache = http_cache(canned.serve_json("/jwks.json", {"keys": [leaked]}), fetcher, clock)
    key = cache.get("leaky").key
    assert isinstance(key, rsa.RSAPublicKey)
    assert not isinstance(key, rsa.RSAPrivateKey)
    assert key.public_numbers() == private.public_key().public_numbers()
    parsed = parse_jwks({"keys": [leaked]})["leaky"].key
    assert isinstance(parsed, rsa.RSAPublicKey)
    assert parsed.public_numbers() == key.public_numbers()


def test_a_credential_in_a_jwks_url_never_reaches_an_error_message() -> None:
    """A JWKS URL may carry a password or an access token: the fetch error (which is logged)
    names the URL with both hidden."""
    fetcher = HttpJwksFetcher(timeout_seconds=1)
    url = "http://keys:s3cr3t-pw@127.0.0.1:9/jwks.json?access_token=abc123&tenant=t1"
    with pytest.raises(JwksUnavailable) as raised:
        fetcher.fetch_json(url)
    message = str(raised.value)
    assert "s3cr3t-pw" not in message
    assert "abc123" not in message
    assert "keys:***@127.0.0.1:9" in message
    assert "tenant=t1" in message
