"""What a Lambda container builds once and keeps: settings, authorizer, registry, clients.

The first invocation builds the runtime from the environment
(``Settings.from_env`` + ``AwsConfig.from_env``) and fetches the issuer's keys
once (``warm``); later invocations reuse all of it. No thread is started: a
frozen container would leave it stale, so the replica instead syncs at the
start of an invocation when older than ``REVOKER_SYNC_MAX_AGE`` (one
``GetItem`` when nothing changed).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from revoker.aws.clients import AwsClients, aws_error_code, aws_errors
from revoker.aws.config import AwsConfig
from revoker.core.errors import ConfigurationError, JwksUnavailable, StoreError

if TYPE_CHECKING:
    from revoker.app.settings import Settings
    from revoker.aws.passthrough import PassThrough
    from revoker.core.authorizer import Authorizer
    from revoker.core.clock import Clock
    from revoker.core.jwks import JwksFetcher
    from revoker.core.registry import Registry

__all__ = ["Runtime", "build_runtime", "current_runtime", "install_runtime", "reset_runtime"]

log = logging.getLogger("revoker.aws")


class Runtime:
    """The long-lived parts of one container, shared by its invocations."""

    def __init__(
        self,
        *,
        settings: Settings,
        config: AwsConfig,
        authorizer: Authorizer,
        registry: Registry,
        clients: AwsClients,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.config = config
        self.authorizer = authorizer
        self.registry = registry
        self.clients = clients
        self.clock = clock
        self._lock = threading.Lock()
        self._warmed = False
        self._passthrough: PassThrough | None = None
        self._admin_token: str | None = config.admin_token

    def warm(self) -> None:
        """Fetch the keys once per container; a failure is retried by later checks."""
        if self._warmed:
            return
        self._warmed = True
        try:
            self.authorizer.verifier.warm()
        except JwksUnavailable as exc:
            log.warning("fetching the signing keys at start failed: %s", exc)

    def sync(self) -> None:
        """Sync the replica if it is older than the bound; a failure only ages it."""
        try:
            self.registry.replica.sync_if_older(self.config.sync_max_age_seconds)
        except StoreError as exc:
            # The check fails closed (registry_stale) once the replica is too old.
            log.warning("revocation registry sync failed: %s", exc)

    @property
    def passthrough(self) -> PassThrough:
        """The pass-through calls (each a no-op unless configured)."""
        with self._lock:
            if self._passthrough is None:
                from revoker.aws.passthrough import PassThrough  # noqa: PLC0415 - only on revokes

                self._passthrough = PassThrough(
                    self.config,
                    user_pool_id=self.settings.cognito_user_pool_id,
                    clients=self.clients,
                    clock=self.clock,
                )
            return self._passthrough

    def admin_token(self) -> str | None:
        """The admin credential: the environment's, or the secret's (read once)."""
        arn = self.config.admin_token_secret_arn
        with self._lock:
            if self._admin_token is None and arn:
                try:
                    secret = self.clients.get("secretsmanager").get_secret_value(SecretId=arn)
                except aws_errors() as exc:
                    log.warning("reading the admin token secret failed: %s", aws_error_code(exc))
                    return None
                value = secret.get("SecretString")
                self._admin_token = value.strip() if isinstance(value, str) and value else None
            return self._admin_token

    def close(self) -> None:
        self.registry.close()


def build_runtime(
    environ: Mapping[str, str] | None = None,
    *,
    fetcher: JwksFetcher | None = None,
    clock: Clock | None = None,
    clients: AwsClients | None = None,
) -> Runtime:
    """Build a runtime from the environment (``os.environ`` unless given)."""
    # The core is imported here, not at module import, so a handler's import stays light.
    from revoker.app.settings import Settings, build_verifier  # noqa: PLC0415
    from revoker.aws.jwks_fetch import UrllibJwksFetcher  # noqa: PLC0415
    from revoker.core.authorizer import Authorizer  # noqa: PLC0415
    from revoker.core.clock import SystemClock  # noqa: PLC0415
    from revoker.core.registry import Registry, RegistryLimits, open_store  # noqa: PLC0415

    env = os.environ if environ is None else environ
    if not env.get("REVOKER_STORE"):
        raise ConfigurationError("REVOKER_STORE is required on AWS, e.g. dynamodb://TABLE")
    settings = Settings.from_env(env)
    config = AwsConfig.from_env(env)
    clock = clock or SystemClock()
    fetcher = fetcher or UrllibJwksFetcher(timeout_seconds=settings.jwks_timeout_seconds)
    verifier = build_verifier(settings, fetcher=fetcher, clock=clock)
    limits = RegistryLimits(max_token_lifetime_seconds=settings.max_token_lifetime_seconds)
    registry = Registry(
        open_store(settings.store_url),
        clock=clock,
        limits=limits,
        max_staleness_seconds=settings.max_staleness_seconds,
        fail_open=settings.fail_open,
    )
    authorizer = Authorizer(verifier, registry, cache_size=settings.cache_size, clock=clock)
    return Runtime(
        settings=settings,
        config=config,
        authorizer=authorizer,
        registry=registry,
        clients=clients or AwsClients(region=settings.region),
        clock=clock,
    )


_lock = threading.Lock()
_current: Runtime | None = None


def current_runtime() -> Runtime:
    """This container's runtime, built from ``os.environ`` on first use."""
    global _current  # noqa: PLW0603 - one runtime per container is the point
    runtime = _current
    if runtime is None:
        with _lock:
            runtime = _current
            if runtime is None:
                runtime = _current = build_runtime()
    return runtime


def install_runtime(runtime: Runtime | None) -> None:
    """Use ``runtime`` for the handlers from now on (tests; None forgets it)."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    if previous is not None and previous is not runtime:
        previous.close()


def reset_runtime() -> None:
    """Close and forget this container's runtime; the next invocation builds anew."""
    install_runtime(None)
