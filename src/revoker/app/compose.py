"""The one composition root: settings in, a running verifier + registry + authorizer out.

``Revoker.from_settings(settings)`` is how the service, each Lambda container,
the CLI, the demo and the in-app integrations build their parts, so they are
wired the same way: the key caches from the issuers, the registry from the
store URL with the limits the verifier implies, the authorizer over both, and
the operations every transport calls. ``Revoker.for_rules(settings)`` builds
only the registry, for commands that never verify a token (``revoker rules``).

Building does no network I/O beyond opening the store (so a misconfiguration
surfaces before a port is bound); ``start`` syncs the replica, agrees with the
store on the token lifetime and warms the key caches; ``close`` stops and
closes everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from revoker.app.settings import Settings
from revoker.core.authorizer import Authorizer
from revoker.core.clock import Clock, SystemClock
from revoker.core.dpop import DpopPolicy, DpopVerifier
from revoker.core.errors import ConfigurationError, JwksUnavailable, StoreError
from revoker.core.jwks import HttpJwksFetcher, JwksCache, JwksFetcher, JwksSource
from revoker.core.registry import Registry, RuleStore, open_store
from revoker.core.verify import Verifier

if TYPE_CHECKING:
    from revoker.app.operations import Observer, Operations

__all__ = ["Revoker", "build_registry", "build_verifier"]

log = logging.getLogger("revoker.app")


def build_verifier(
    settings: Settings, *, fetcher: JwksFetcher | None = None, clock: Clock | None = None
) -> Verifier:
    """A ``Verifier`` with one key cache per issuer (or one shared, for a single JWKS URL)."""
    policy = settings.policy()
    if fetcher is None:
        fetcher = HttpJwksFetcher(timeout_seconds=settings.jwks_timeout_seconds)
    shared: JwksCache | None = None
    if settings.jwks_url:
        shared = JwksCache(
            JwksSource.from_url(settings.jwks_url),
            fetcher=fetcher,
            cooldown_seconds=settings.jwks_cooldown_seconds,
            clock=clock,
        )
    caches: dict[str, JwksCache] = {}
    for issuer in policy.issuers:
        if shared is not None:
            caches[issuer] = shared
            continue
        if issuer.startswith("https://cognito-idp.") and ".amazonaws.com/" in issuer:
            source = JwksSource.from_url(issuer + "/.well-known/jwks.json")
        else:
            source = JwksSource.from_discovery(issuer)
        caches[issuer] = JwksCache(
            source, fetcher=fetcher, cooldown_seconds=settings.jwks_cooldown_seconds, clock=clock
        )
    return Verifier(policy, caches, clock=clock)


def build_registry(
    settings: Settings, *, store: RuleStore | None = None, clock: Clock | None = None
) -> Registry:
    """The registry on the settings' store, with the limits and freshness they give."""
    return Registry(
        store if store is not None else open_store(settings.store_url),
        clock=clock,
        limits=settings.registry_limits(),
        max_staleness_seconds=settings.max_staleness_seconds,
        fail_open=settings.fail_open,
        poll_interval_seconds=settings.poll_interval_seconds,
        index_snapshot_seconds=settings.index_snapshot_seconds,
    )


@dataclass(eq=False, kw_only=True)
class Revoker:
    """The parts one process runs with, built from ``Settings``."""

    settings: Settings
    registry: Registry
    authorizer: Authorizer | None
    clock: Clock
    observer: Observer | None = None
    _started: bool = field(default=False, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        fetcher: JwksFetcher | None = None,
        clock: Clock | None = None,
        store: RuleStore | None = None,
        registry: Registry | None = None,
        verifier: Verifier | None = None,
        observer: Observer | None = None,
        effects: bool = True,
        aws_clients: Any = None,
    ) -> Revoker:
        """Verifier, registry and authorizer; tests pass a fetcher, a clock, a store.

        ``effects``: install the rule hooks the settings ask for (the API Gateway cache
        flush and Cognito pass-through), so a rule written from this process has the
        same effects as one written by the revoke function.
        """
        clock = clock or SystemClock()
        verifier = verifier or build_verifier(settings, fetcher=fetcher, clock=clock)
        if registry is None:
            registry = build_registry(settings, store=store, clock=clock)
        dpop = (
            DpopVerifier(DpopPolicy(max_age_seconds=settings.dpop_max_age_seconds), clock=clock)
            if settings.dpop
            else None
        )
        authorizer = Authorizer(
            verifier, registry, cache_size=settings.cache_size, clock=clock, dpop=dpop
        )
        revoker = cls(
            settings=settings,
            registry=registry,
            authorizer=authorizer,
            clock=clock,
            observer=observer,
        )
        if effects:
            revoker.install_effects(aws_clients=aws_clients)
        return revoker

    @classmethod
    def for_rules(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        store: RuleStore | None = None,
        effects: bool = True,
        aws_clients: Any = None,
    ) -> Revoker:
        """Only the registry: for writing and reading rules without verifying tokens."""
        clock = clock or SystemClock()
        registry = build_registry(settings, store=store, clock=clock)
        revoker = cls(settings=settings, registry=registry, authorizer=None, clock=clock)
        if effects:
            revoker.install_effects(aws_clients=aws_clients)
        return revoker

    def install_effects(self, *, aws_clients: Any = None) -> None:
        """Add the rule hooks the settings ask for (AWS: ``revoker.aws.passthrough``, and
        ``revoker.aws.realtime``: close WebSocket connections, invalidate AppSync subscriptions)."""
        settings = self.settings
        if settings.passthrough_cognito or settings.flush_rest_stages or settings.flush_http_stages:
            from revoker.aws import passthrough  # noqa: PLC0415 - boto3 only when asked for

            passthrough.install(self, clients=aws_clients)
        if settings.connections_store_url or settings.appsync_invalidation_url:
            from revoker.aws import realtime  # noqa: PLC0415 - boto3 only when asked for

            realtime.install(self, clients=aws_clients)

    @property
    def verifier(self) -> Verifier:
        return self.require_authorizer().verifier

    def require_authorizer(self) -> Authorizer:
        if self.authorizer is None:
            raise ConfigurationError("this revoker was built without a verifier (for_rules)")
        return self.authorizer

    @cached_property
    def operations(self) -> Operations:
        """What every transport calls: check, revoke, rules, audit (``app.operations``)."""
        from revoker.app.operations import Operations  # noqa: PLC0415 - a cycle otherwise

        return Operations(self)

    # -- life cycle ---------------------------------------------------------------

    def agree(self) -> None:
        """Agree with the store on the token lifetime now: a mismatch is a one-line
        ``ConfigurationError``; an unreachable store is only logged (checks deny with
        ``registry_stale`` until it answers)."""
        try:
            self.registry.agree()
        except StoreError as exc:
            log.warning("the rule store cannot be reached yet: %s", exc)

    def start(self, *, follow: bool = True) -> None:
        """Agree, sync the replica (and follow the store when ``follow``), warm the keys.

        Failures to reach the store or the issuers are logged, not raised: checks
        answer ``registry_stale`` or ``jwks_unavailable`` until they heal on their own.
        """
        if self._started:
            return
        self._started = True
        off = self.settings.backchannel_logout_off_because()
        if off is not None and self.settings.backchannel_logout:
            log.warning("%s", off)  # asked for, but cannot be honoured safely
        self.agree()
        if follow:
            self.registry.start()
        else:
            try:
                self.registry.sync()
            except StoreError as exc:
                log.warning("the revocation registry cannot sync yet: %s", exc)
        if not self.registry.replica.is_fresh:
            log.warning("the revocation registry has not synced: checks deny (registry_stale)")
        if self.authorizer is not None:
            self.warm_keys()

    def warm_keys(self) -> None:
        """Fetch every issuer's keys now; a failure is logged (checks retry later)."""
        warmed: set[int] = set()
        for issuer, cache in self.verifier.keys.items():
            if id(cache) in warmed:  # one JWKS URL may serve several issuers
                continue
            warmed.add(id(cache))
            try:
                cache.warm()
            except JwksUnavailable as exc:
                log.warning("cannot load the signing keys of %s yet: %s", issuer, exc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.registry.close()

    def __enter__(self) -> Revoker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
