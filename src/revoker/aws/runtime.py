"""What a Lambda container builds once and keeps: settings, the composed revoker, clients.

The first invocation builds the runtime from the environment (``load_settings``
with the environment only: the same declaration and parsers as every other
process) and fetches the issuer's keys once (``warm``); later invocations reuse
all of it. No thread is started: a frozen container would leave it stale, so the
replica instead syncs at the start of an invocation when older than
``REVOKER_SYNC_MAX_AGE`` (one ``GetItem`` when nothing changed). The first
``sync`` (an authorizer's or the revoke function's first invocation) chooses the
registry mode (``registry_mode``: a replica of every rule, or lookups by key
for a large table).

The revoke function's JSON API (``api``) is built on its first request: only
then is the admin credential read (from ``REVOKER_ADMIN_TOKEN``, or once from a
Secrets Manager secret), so the authorizer never pays for it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from revoker.aws.clients import AwsClients, aws_error_code, aws_errors
from revoker.core.errors import BadRequest, ConfigurationError, JwksUnavailable, StoreError

if TYPE_CHECKING:
    from revoker.app.access import FailureLimiter
    from revoker.app.compose import Revoker
    from revoker.app.http_api import HttpApi
    from revoker.app.settings import Settings
    from revoker.aws.authorizer_event import TokenSource
    from revoker.aws.connections import ConnectionStore
    from revoker.aws.passthrough import PassThrough
    from revoker.aws.realtime import Realtime
    from revoker.aws.registry_mode import Mode
    from revoker.core.authorizer import Authorizer
    from revoker.core.clock import Clock
    from revoker.core.jwks import JwksFetcher
    from revoker.core.registry import Registry

__all__ = ["Runtime", "build_runtime", "current_runtime", "install_runtime", "reset_runtime"]

log = logging.getLogger("revoker.aws")

#: After a failed read of the admin token secret, read it again this much later.
ADMIN_SECRET_RETRY_SECONDS = 5


class Runtime:
    """The long-lived parts of one container, shared by its invocations."""

    def __init__(
        self,
        *,
        revoker: Revoker,
        clients: AwsClients,
        passthrough: PassThrough | None,
        realtime: Realtime | None = None,
    ) -> None:
        self.revoker = revoker
        self.settings: Settings = revoker.settings
        self.clients = clients
        self.passthrough = passthrough
        self.realtime = realtime
        self._lock = threading.Lock()
        self._warmed = False
        self._api: HttpApi | None = None
        # After a failed read of the admin token secret: when to read it again.
        self._admin_retry_at: float | None = None
        self._mode: Mode | None = None

    @property
    def authorizer(self) -> Authorizer:
        return self.revoker.require_authorizer()

    @property
    def registry(self) -> Registry:
        return self.revoker.registry

    @property
    def clock(self) -> Clock:
        return self.revoker.clock

    @property
    def connections(self) -> ConnectionStore | None:
        """Where WebSocket connections are recorded (``REVOKER_CONNECTIONS``), if anywhere."""
        return self.realtime.connections if self.realtime is not None else None

    @cached_property
    def token_sources(self) -> tuple[TokenSource, ...]:
        """Where a WebSocket ``$connect`` carries its token (REVOKER_WEBSOCKET_TOKEN_SOURCES)."""
        from revoker.aws.authorizer_event import token_sources  # noqa: PLC0415

        return token_sources(self.settings.websocket_token_sources)

    def warm(self) -> None:
        """Fetch the keys once per container; a failure is retried by later checks."""
        if self._warmed:
            return
        self._warmed = True
        try:
            self.revoker.verifier.warm()
        except JwksUnavailable as exc:
            log.warning("fetching the signing keys at start failed: %s", exc)

    @property
    def registry_mode(self) -> Mode | None:
        """``replica`` or ``lookup``, once the first ``sync`` chose (None before)."""
        return self._mode

    def sync(self) -> None:
        """Sync the replica if it is older than the bound; a failure only ages it.
        The first call chooses the registry mode (``aws.registry_mode``)."""
        try:
            if self._mode is None:
                from revoker.aws.registry_mode import install_mode  # noqa: PLC0415

                self._mode = install_mode(self.revoker)
            self.registry.replica.sync_if_older(self.settings.sync_max_age_seconds)
        except StoreError as exc:
            # The check fails closed (registry_stale) once the replica is too old.
            log.warning("revocation registry sync failed: %s", exc)
        except ConfigurationError as exc:  # the store's token lifetime is shorter than ours
            log.error("the revocation registry refuses to serve: %s", exc)  # noqa: TRY400

    @property
    def api(self) -> HttpApi:
        """``/revoke``, ``/introspect`` and ``/admin``, as the service serves them.

        Built once; rebuilt while the admin token secret could not be read (throttled,
        unreachable), at most every ``ADMIN_SECRET_RETRY_SECONDS``, so one failed read
        does not turn the admin API off for the container's life.
        """
        api, retry_at = self._api, self._admin_retry_at
        if api is not None and (retry_at is None or self.clock() < retry_at):
            return api
        api = self._api = self._build_api()
        return api

    @cached_property
    def _failure_limiter(self) -> FailureLimiter:
        from revoker.app.access import FailureLimiter  # noqa: PLC0415

        limit = self.settings.auth_failures_per_minute
        return FailureLimiter(clock=self.clock, max_failures=limit)

    def _build_api(self) -> HttpApi:
        from revoker.app.access import Access, Credentials  # noqa: PLC0415
        from revoker.app.http_api import HttpApi  # noqa: PLC0415

        settings = self.settings
        access = Access(
            Credentials(self._admin_token(), settings.introspect_clients),
            self._failure_limiter,
            realm=settings.realm,
        )
        hands_on = self.passthrough is not None and settings.passthrough_cognito
        return HttpApi(
            self.revoker.operations,
            access,
            refresh_tokens=self._revoke_refresh_token if hands_on else None,
        )

    def _revoke_refresh_token(self, token: str, client_id: str | None) -> bool:
        """Cognito RevokeToken for a refresh token (opaque to us: only Cognito can revoke it)."""
        if client_id is None:
            audience = self.settings.audience
            client_id = audience[0] if audience is not None and len(audience) == 1 else None
        if client_id is None:
            raise BadRequest("a refresh token needs the form field 'client_id'")
        assert self.passthrough is not None  # noqa: S101 - only handed on with a pass-through
        return self.passthrough.revoke_refresh_token(token, client_id, retryable_raises=True)

    def _admin_token(self) -> str | None:
        """The admin credential: the environment's, or the secret's (read once), held to the
        same rules as the service's (16 printable characters at least)."""
        token = self.settings.admin_token
        arn = self.settings.admin_token_secret_arn
        if token is None and arn:
            try:
                secret = self.clients.get("secretsmanager").get_secret_value(SecretId=arn)
            except aws_errors() as exc:
                log.warning(
                    "reading the admin token secret failed (retried in %d s): %s",
                    ADMIN_SECRET_RETRY_SECONDS,
                    aws_error_code(exc),
                )
                self._admin_retry_at = self.clock() + ADMIN_SECRET_RETRY_SECONDS
                return None
            self._admin_retry_at = None
            value = secret.get("SecretString")
            token = value.strip() if isinstance(value, str) and value.strip() else None
            if token is not None:
                try:
                    self.settings.replace(admin_token=token)
                except ConfigurationError as exc:
                    log.error("the admin token secret is not usable, the admin API is off: %s", exc)  # noqa: TRY400
                    return None
        return token

    def close(self) -> None:
        if self.realtime is not None:
            self.realtime.close()
        self.revoker.close()


def build_runtime(
    environ: Mapping[str, str] | None = None,
    *,
    fetcher: JwksFetcher | None = None,
    clock: Clock | None = None,
    clients: AwsClients | None = None,
) -> Runtime:
    """Build a runtime from the environment (``os.environ`` unless given)."""
    # The rest is imported here, not at module import, so a handler's import stays light.
    from revoker.app.compose import Revoker  # noqa: PLC0415
    from revoker.app.sources import load_settings  # noqa: PLC0415
    from revoker.aws import passthrough, realtime  # noqa: PLC0415
    from revoker.aws.jwks_fetch import UrllibJwksFetcher  # noqa: PLC0415

    env = os.environ if environ is None else environ
    if not env.get("REVOKER_STORE"):
        raise ConfigurationError("REVOKER_STORE is required on AWS, e.g. dynamodb://TABLE")
    settings = load_settings(environ=env, config=None)
    fetcher = fetcher or UrllibJwksFetcher(timeout_seconds=settings.jwks_timeout_seconds)
    revoker = Revoker.from_settings(settings, fetcher=fetcher, clock=clock, effects=False)
    clients = clients or AwsClients(region=settings.region)
    installed = (
        passthrough.install(revoker, clients=clients) if passthrough.wanted(settings) else None
    )
    followed = realtime.install(revoker, clients=clients) if realtime.wanted(settings) else None
    return Runtime(revoker=revoker, clients=clients, passthrough=installed, realtime=followed)


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
