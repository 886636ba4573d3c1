"""The live objects one worker serves from: authorizer, registry, credentials, limiter, metrics.

``ServiceState.build(settings)`` does no network I/O beyond opening the store,
so misconfiguration surfaces before a port is bound. ``start`` (the app's
lifespan) syncs the replica, starts its poll thread and warms the key caches;
``close`` stops the thread and closes the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from revoker.app.settings import build_verifier
from revoker.core.authorizer import Authorizer
from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import JwksUnavailable
from revoker.core.jwks import JwksFetcher
from revoker.core.registry import Registry, RegistryLimits, open_store
from revoker.service.config import ServiceSettings
from revoker.service.credentials import Credentials, FailureLimiter
from revoker.service.logs import fields
from revoker.service.metrics import ServiceMetrics

__all__ = ["ServiceState"]

log = logging.getLogger("revoker.service")


@dataclass(eq=False, kw_only=True)
class ServiceState:
    """Everything a request handler needs, built once per worker."""

    settings: ServiceSettings
    authorizer: Authorizer
    registry: Registry
    credentials: Credentials
    limiter: FailureLimiter
    metrics: ServiceMetrics
    clock: Clock
    closed: bool = False

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        *,
        fetcher: JwksFetcher | None = None,
        clock: Clock | None = None,
        registry: Registry | None = None,
    ) -> ServiceState:
        """Build from settings; tests pass a fetcher, a frozen clock or a ready registry."""
        core = settings.core
        clock = clock or SystemClock()
        verifier = build_verifier(core, fetcher=fetcher, clock=clock)
        if registry is None:
            registry = Registry(
                open_store(core.store_url),
                clock=clock,
                limits=RegistryLimits(max_token_lifetime_seconds=core.max_token_lifetime_seconds),
                max_staleness_seconds=core.max_staleness_seconds,
                fail_open=core.fail_open,
                poll_interval_seconds=core.poll_interval_seconds,
            )
        return cls.assemble(
            settings, Authorizer(verifier, registry, cache_size=core.cache_size), clock=clock
        )

    @classmethod
    def assemble(
        cls, settings: ServiceSettings, authorizer: Authorizer, *, clock: Clock | None = None
    ) -> ServiceState:
        """A state around an authorizer that already has its registry."""
        registry = authorizer.registry
        if registry is None:
            raise ValueError("the service needs an authorizer with a registry")
        clock = clock or authorizer.clock
        metrics = ServiceMetrics()
        metrics.watch(registry, authorizer.verifier)
        return cls(
            settings=settings,
            authorizer=authorizer,
            registry=registry,
            credentials=Credentials(settings.admin_token, settings.introspect_clients),
            limiter=FailureLimiter(clock=clock, max_failures=settings.auth_failures_per_minute),
            metrics=metrics,
            clock=clock,
        )

    def start(self) -> None:
        """Sync and follow the store; fetch every issuer's keys (a failure is logged, not fatal)."""
        self.registry.start()
        if not self.registry.replica.is_fresh:
            log.warning("the revocation registry has not synced: checks deny (registry_stale)")
        warmed: set[int] = set()
        for issuer, cache in self.authorizer.verifier.keys.items():
            if id(cache) in warmed:  # one JWKS URL may serve several issuers
                continue
            warmed.add(id(cache))
            try:
                cache.warm()
            except JwksUnavailable as exc:
                # Checks answer jwks_unavailable until a later fetch succeeds on its own.
                log.warning("cannot load signing keys yet: %s", exc, extra=fields(issuer=issuer))
        if not self.credentials.admin_enabled:
            log.warning("the admin API is disabled: no admin token (--admin-token) is configured")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.registry.close()
