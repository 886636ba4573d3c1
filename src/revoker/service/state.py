"""The live objects one worker serves from: the composed ``Revoker``, the access gates, the
metrics and the JSON API over the operations.

``ServiceState.build(settings)`` composes through ``Revoker.from_settings`` and does
no network I/O beyond opening the store, so misconfiguration surfaces before a port
is bound (the Shared Signals receiver is built then too). ``start`` (the app's
lifespan) agrees with the store, syncs the replica, starts its poll thread, warms the
key caches (the transmitters' too) and starts a poller per poll stream of the stream
file; ``close`` stops the pollers (their last acks sent), then the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revoker.app.access import Access, Credentials, FailureLimiter
from revoker.app.compose import Revoker
from revoker.app.http_api import HttpApi
from revoker.app.settings import Settings
from revoker.core.authorizer import Authorizer
from revoker.core.clock import Clock, SystemClock
from revoker.core.jwks import JwksFetcher
from revoker.core.registry import Registry
from revoker.service.metrics import ServiceMetrics

if TYPE_CHECKING:
    from revoker.app.signals.poller import StreamPoller
    from revoker.app.signals.receiver import SignalReceiver

__all__ = ["ServiceState"]

log = logging.getLogger("revoker.service")


@dataclass(eq=False, kw_only=True)
class ServiceState:
    """Everything a request handler needs, built once per worker."""

    settings: Settings
    revoker: Revoker
    access: Access
    metrics: ServiceMetrics
    api: HttpApi
    clock: Clock
    #: The console's signal sources (``console.signals.SignalSource``): SSF pushes and polls.
    signal_sources: tuple[Any, ...] = ()
    pollers: list[StreamPoller] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        fetcher: JwksFetcher | None = None,
        clock: Clock | None = None,
        registry: Registry | None = None,
    ) -> ServiceState:
        """Build from settings; tests pass a fetcher, a frozen clock or a ready registry."""
        clock = clock or SystemClock()
        revoker = Revoker.from_settings(settings, fetcher=fetcher, clock=clock, registry=registry)
        return cls.around(revoker)

    @classmethod
    def assemble(
        cls, settings: Settings, authorizer: Authorizer, *, ssf_fetcher: JwksFetcher | None = None
    ) -> ServiceState:
        """A state around an authorizer that already has its registry (tests); the
        transmitters' keys through ``ssf_fetcher`` when given."""
        registry = authorizer.registry
        if registry is None:
            raise ValueError("the service needs an authorizer with a registry")
        revoker = Revoker(
            settings=settings, registry=registry, authorizer=authorizer, clock=authorizer.clock
        )
        return cls.around(revoker, ssf_fetcher=ssf_fetcher)

    @classmethod
    def around(cls, revoker: Revoker, *, ssf_fetcher: JwksFetcher | None = None) -> ServiceState:
        settings = revoker.settings
        metrics = ServiceMetrics()
        metrics.watch(revoker.registry, revoker.verifier)
        revoker.observer = metrics
        access = Access(
            Credentials(settings.admin_token, settings.introspect_clients),
            FailureLimiter(clock=revoker.clock, max_failures=settings.auth_failures_per_minute),
            realm=settings.realm,
            on_failure=metrics.credential_failure,
        )
        sources: tuple[Any, ...] = ()
        if settings.backchannel_logout_off_because() is None:
            from revoker.service.signal_sources import BackchannelLogoutSource  # noqa: PLC0415

            sources = (BackchannelLogoutSource(metrics),)
        if settings.ssf_enabled:
            from revoker.service.signal_sources import ssf_sources  # noqa: PLC0415

            if ssf_fetcher is not None:
                from revoker.app.signals.receiver import SignalReceiver  # noqa: PLC0415

                operations = revoker.operations
                operations.install_signals(ssf=SignalReceiver(operations, fetcher=ssf_fetcher))
            receiver = revoker.operations.ssf()  # misconfigured: fails here, before binding
            metrics.watch_signals(receiver.health, receiver.verifier)
            sources = (*sources, *ssf_sources(receiver))
        return cls(
            settings=settings,
            revoker=revoker,
            access=access,
            metrics=metrics,
            api=HttpApi(revoker.operations, access),
            clock=revoker.clock,
            signal_sources=sources,
        )

    @property
    def authorizer(self) -> Authorizer:
        return self.revoker.require_authorizer()

    @property
    def registry(self) -> Registry:
        return self.revoker.registry

    @property
    def ssf(self) -> SignalReceiver | None:
        """The Shared Signals receiver, when a transmitter is trusted."""
        return self.revoker.operations.ssf() if self.settings.ssf_enabled else None

    def start(self) -> None:
        """Agree and sync with the store, follow it, fetch every issuer's and transmitter's
        keys, start polling the poll streams."""
        self.revoker.start()
        if not self.access.credentials.admin_enabled:
            log.warning("the admin API is disabled: no admin token (--admin-token) is configured")
        if self.settings.gtr_enabled:
            self.revoker.operations.gtr().warm()
        receiver = self.ssf
        if receiver is not None:
            from revoker.app.signals.poller import start_pollers  # noqa: PLC0415

            receiver.warm()
            self.pollers = start_pollers(
                receiver,
                token=self.settings.ssf_transmitter_token,
                interval_seconds=self.settings.ssf_poll_interval_seconds,
            )

    def close(self) -> None:
        pollers, self.pollers = self.pollers, []
        for poller in pollers:
            poller.stop()
        if self.settings.ssf_enabled or self.settings.gtr_enabled:
            self.revoker.operations.close_signals()
        self.metrics.unwatch(self.revoker.registry)
        self.revoker.close()
