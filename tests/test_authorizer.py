"""Authorizer: verification cached until exp, the registry matched on every check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from revoker import Authorizer, Decision
from revoker.core.clock import FrozenClock
from revoker.core.errors import BadSignature, ConfigurationError, StoreError
from revoker.core.registry import Registry, RuleKind, open_store
from revoker.core.registry.store import RuleStore
from revoker.core.tokens import b64url_decode, b64url_encode
from revoker.testing import StaticJwksFetcher, TokenFactory


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_700_000_000)


@pytest.fixture
def factory(clock: FrozenClock) -> TokenFactory:
    return TokenFactory(clock=clock)


@pytest.fixture
def registry(clock: FrozenClock) -> Iterator[Registry]:
    with Registry(open_store("memory://"), clock=clock, max_staleness_seconds=30) as registry:
        registry.sync()
        yield registry


@pytest.fixture
def authorizer(factory: TokenFactory, registry: Registry) -> Authorizer:
    return Authorizer(factory.verifier(), registry)


def test_a_genuine_token_is_allowed_with_its_claims(
    authorizer: Authorizer, factory: TokenFactory
) -> None:
    """A fresh token: allowed, reason 'allowed', claims and the verified token attached."""
    decision = authorizer.check(factory.id_token(sub="alice"))
    assert decision.allowed
    assert decision.reason == "allowed"
    assert decision.claims is not None
    assert decision.claims["sub"] == "alice"
    assert decision.verified


@pytest.mark.parametrize("garbage", ["", "a.b", "x" * 10_000, "eyJ.eyJ.", "\x00\xff"])
def test_garbage_is_denied_without_raising(authorizer: Authorizer, garbage: str) -> None:
    """check() never raises for any input; it returns a decision with a reason code."""
    decision = authorizer.check(garbage)
    assert not decision.allowed
    assert decision.reason in {"malformed", "too_large"}
    assert decision.claims is None


def test_the_verified_token_cache_never_hides_a_revocation(
    authorizer: Authorizer, factory: TokenFactory, registry: Registry
) -> None:
    """A token checked (and cached) before its revocation is denied right after it."""
    token = factory.access_token()
    assert authorizer.check(token).allowed
    assert authorizer.check(token).allowed  # now served from the cache
    claims = authorizer.check(token).claims
    assert claims is not None
    registry.revoke(RuleKind.FAMILY, claims["origin_jti"], issuer=factory.issuer)
    decision = authorizer.check(token)
    assert not decision.allowed
    assert decision.reason == "revoked_family"
    assert decision.rule is not None
    assert decision.rule.value == claims["origin_jti"]


def test_a_cached_token_is_dropped_at_its_exp(
    authorizer: Authorizer, factory: TokenFactory, clock: FrozenClock
) -> None:
    """The cache keeps a verification only until exp (plus leeway): then the token is expired."""
    token = factory.id_token()
    assert authorizer.check(token).allowed
    clock.advance(factory.lifetime_seconds + authorizer.verifier.policy.leeway_seconds)
    decision = authorizer.check(token)
    assert not decision.allowed
    assert decision.reason == "expired"


def test_the_cache_is_bounded(factory: TokenFactory, registry: Registry) -> None:
    """The cache never holds more than cache_size tokens, oldest evicted first."""
    authorizer = Authorizer(factory.verifier(), registry, cache_size=3)
    tokens = [factory.id_token() for _ in range(5)]
    for token in tokens:
        assert authorizer.check(token).allowed
    assert len(authorizer._cache) == 3
    assert list(authorizer._cache) == tokens[2:]


class FlakyStore:
    """Wraps a store; raises StoreError on every read while `down` is set."""

    def __init__(self, inner: RuleStore) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: object, **kwargs: object) -> object:
            if self.down:
                raise StoreError("store unreachable (test)")
            return attribute(*args, **kwargs)

        return call


def test_a_stale_registry_fails_closed_even_for_a_cached_token(
    factory: TokenFactory, clock: FrozenClock
) -> None:
    """Past max_staleness without a good sync, every check is denied with registry_stale."""
    store = FlakyStore(open_store("memory://"))
    registry = Registry(store, clock=clock, max_staleness_seconds=30)  # type: ignore[arg-type]
    registry.sync()
    authorizer = Authorizer(factory.verifier(), registry)
    token = factory.id_token()
    assert authorizer.check(token).allowed
    store.down = True
    clock.advance(10)
    with pytest.raises(StoreError):
        registry.sync()  # the last good sync stays 10 s old: still within max_staleness
    assert authorizer.check(token).allowed
    clock.advance(25)
    decision = authorizer.check(token)
    assert not decision.allowed
    assert decision.reason == "registry_stale"
    store.down = False
    registry.sync()
    assert authorizer.check(token).allowed


def test_a_stale_registry_fails_open_when_configured(
    factory: TokenFactory, clock: FrozenClock
) -> None:
    """fail_open=True keeps allowing genuine tokens while the store is unreachable."""
    store = FlakyStore(open_store("memory://"))
    registry = Registry(store, clock=clock, max_staleness_seconds=30, fail_open=True)  # type: ignore[arg-type]
    registry.sync()
    authorizer = Authorizer(factory.verifier(), registry)
    store.down = True
    clock.advance(3600)
    assert authorizer.check(factory.id_token()).allowed


def test_revoke_token_revokes_the_family_when_there_is_an_origin_jti(
    authorizer: Authorizer, factory: TokenFactory
) -> None:
    """Revoking an access token revokes its family, so the ID token of that login is denied too."""
    origin = "origin-123"
    access = factory.access_token(origin_jti=origin)
    id_token = factory.id_token(origin_jti=origin)
    rule = authorizer.revoke_token(access, actor="test", reason="logout")
    assert (rule.kind, rule.value, rule.issuer) == (RuleKind.FAMILY, origin, factory.issuer)
    assert authorizer.check(id_token).reason == "revoked_family"
    assert authorizer.check(factory.id_token()).allowed  # another login is untouched


def test_revoke_token_revokes_the_jti_without_an_origin_jti(
    authorizer: Authorizer, factory: TokenFactory
) -> None:
    """Without origin_jti the token alone is revoked, by jti, until its exp."""
    token = factory.access_token(origin_jti=None, jti="jti-1")
    rule = authorizer.revoke_token(token, actor="test")
    assert (rule.kind, rule.value) == (RuleKind.TOKEN, "jti-1")
    assert rule.expires_at is not None
    assert rule.expires_at >= factory.clock() + factory.lifetime_seconds
    assert authorizer.check(token).reason == "revoked_token"


def test_revoke_token_without_jti_uses_the_token_hash(
    authorizer: Authorizer, factory: TokenFactory
) -> None:
    """A token with neither origin_jti nor jti is revoked by its SHA-256, never stored whole."""
    token = factory.id_token(origin_jti=None, jti=None)
    rule = authorizer.revoke_token(token, actor="test")
    assert rule.kind == RuleKind.TOKEN
    assert len(rule.value) == 64
    assert token not in rule.value
    assert authorizer.check(token).reason == "revoked_token"


def test_revoking_twice_returns_the_existing_rule(
    authorizer: Authorizer, factory: TokenFactory, registry: Registry
) -> None:
    """A second revoke of the same token creates no second rule."""
    token = factory.access_token()
    first = authorizer.revoke_token(token, actor="test")
    second = authorizer.revoke_token(token, actor="test")
    assert first.id == second.id
    assert len(registry.rules()) == 1


def test_a_token_that_does_not_verify_revokes_nothing(
    authorizer: Authorizer, factory: TokenFactory, registry: Registry
) -> None:
    """A forged token raises its rejection reason and creates no rule."""
    forged = factory.access_token()[:-4] + "AAAA"
    with pytest.raises(BadSignature):
        authorizer.revoke_token(forged, actor="test")
    assert registry.rules() == []


def test_revoke_token_needs_a_registry(factory: TokenFactory) -> None:
    """An authorizer built without a registry says so instead of pretending to revoke."""
    with pytest.raises(ConfigurationError):
        Authorizer(factory.verifier()).revoke_token(factory.id_token(), actor="test")


def test_without_a_registry_check_is_verification_only(factory: TokenFactory) -> None:
    """Authorizer(verifier) alone allows every genuine token: stateless mode."""
    decision = Authorizer(factory.verifier()).check(factory.id_token())
    assert decision == Decision(True, "allowed", decision.claims, None, decision.token)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_regression_ecdsa_twin_signature_cannot_dodge_a_token_rule(
    clock: FrozenClock, registry: Registry
) -> None:
    """A revoked ES256 token without jti stays revoked under its (r, n - s) twin signature.

    Anyone can compute the twin without the key and it verifies too, so token
    rules name a jti-less token by the hash of its signed part, not of the whole.
    """
    factory = TokenFactory(alg="ES256", clock=clock)
    authorizer = Authorizer(factory.verifier(), registry)
    token = factory.id_token(origin_jti=None, jti=None)
    signed, _, signature = token.rpartition(".")
    raw = b64url_decode(signature)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin = signed + "." + b64url_encode(r + (P256_ORDER - s).to_bytes(32, "big"))
    assert twin != token
    assert authorizer.check(twin).allowed  # the twin is genuine: it verifies
    authorizer.revoke_token(token, actor="test")
    assert authorizer.check(token).reason == "revoked_token"
    assert authorizer.check(twin).reason == "revoked_token"


def test_may_block_only_when_a_jwks_fetch_could_happen(
    factory: TokenFactory, registry: Registry, clock: FrozenClock
) -> None:
    """A server may run check() on its event loop unless a JWKS fetch could be due."""
    authorizer = Authorizer(factory.verifier(), registry)
    first = factory.id_token()
    assert authorizer.may_block(first)  # no keys loaded yet: the first check fetches
    assert authorizer.check(first).allowed
    assert not authorizer.may_block(first)  # in the verified cache
    assert not authorizer.may_block(factory.id_token())  # new token, key already loaded
    stranger = factory.sign(factory.base_claims("id"), header={"kid": "rotated", "alg": "RS256"})
    assert not authorizer.may_block(stranger)  # unknown kid, but inside the refetch cooldown
    clock.advance(11)
    assert authorizer.may_block(stranger)  # past the cooldown: this check would refetch
    assert not authorizer.may_block("not a token")  # refused before any key is looked up


def test_a_key_the_issuer_drops_stops_its_cached_tokens(
    factory: TokenFactory, registry: Registry, clock: FrozenClock
) -> None:
    """The verified-token cache never outlives the key: once a JWKS fetch no longer lists
    the kid a cached token was signed with, that token is verified again, and refused."""
    old = factory.access_token()
    new_factory = TokenFactory(clock=clock, kid="test-key-2")
    verifier = factory.verifier()
    keys = verifier.keys[factory.issuer]
    fetcher = keys._fetcher
    assert isinstance(fetcher, StaticJwksFetcher)
    authorizer = Authorizer(verifier, registry)
    assert authorizer.check(old).allowed  # verified, now cached
    fetcher.document = new_factory.jwks()  # the issuer rotated the old key out
    clock.advance(3601)  # past the JWKS cache's TTL; the token itself still lives
    registry.sync()
    assert authorizer.check(new_factory.access_token()).allowed  # a new token's fetch
    decision = authorizer.check(old)
    assert (decision.allowed, decision.reason) == (False, "unknown_kid")


def test_a_fetch_that_changes_nothing_keeps_the_cache(
    factory: TokenFactory, registry: Registry, clock: FrozenClock
) -> None:
    """The same key set fetched again (the TTL's refresh) leaves cached tokens cached."""
    token = factory.access_token()
    authorizer = Authorizer(factory.verifier(), registry)
    assert authorizer.check(token).allowed
    clock.advance(3601)
    authorizer.verifier.keys[factory.issuer].warm()
    assert token in authorizer._cache
