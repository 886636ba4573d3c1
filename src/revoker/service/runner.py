"""Run the service on uvicorn: the dev issuer, the listening socket, signals, workers.

Order matters for the promise "misconfiguration fails before binding": settings
are validated and the state is built (store opened) first; only then is the
socket bound, and the banner printed with the real port (``--port 0`` picks a
free one). SIGTERM and Ctrl-C shut down gracefully and exit 0: uvicorn would
re-raise the signal after its shutdown (exit status 143), so the handlers it
restores are ours.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

import uvicorn
from uvicorn.supervisors import Multiprocess

from revoker.app.settings import Settings, redacted_url
from revoker.app.sources import SETTINGS_ENV
from revoker.core.errors import ConfigurationError
from revoker.devissuer import DevIssuerServer
from revoker.service.app import build_app
from revoker.service.http_guard import uvicorn_options
from revoker.service.http_limits import HttpLimits
from revoker.service.interpreter import tune_for_serving
from revoker.service.logs import configure_logging
from revoker.service.state import ServiceState

__all__ = ["bind_socket", "serve_forever"]

log = logging.getLogger("revoker.service")

_GRACEFUL_SHUTDOWN_SECONDS = 10


def serve_forever(
    settings: Settings,
    *,
    check_config: bool = False,
    dev_admin_token: str,
    out: TextIO | None = None,
) -> None:
    """``revoker serve`` with its settings; returns after a graceful shutdown."""
    out = out or sys.stdout
    with _dev_issuer(settings) as dev:
        generated = dev is not None and settings.admin_token is None
        if dev is not None:
            settings = _trusting_dev_issuer(settings, dev, dev_admin_token if generated else None)
        if check_config:
            state = ServiceState.build(settings)  # opens the store: its URL must work too
            try:
                state.revoker.agree()
            finally:
                state.close()
            out.write(json.dumps(settings.describe(), indent=2, sort_keys=True) + "\n")
            return
        configure_logging(settings.log_format, settings.log_level)
        banner = _Banner(out, settings, dev, show_admin_token=generated)
        if settings.workers == 1:
            _serve_one(settings, banner)
        else:
            _serve_workers(settings, banner)


def _trusting_dev_issuer(
    settings: Settings, dev: DevIssuerServer, admin_token: str | None
) -> Settings:
    """The dev issuer is trusted too, gives the audience when none is set, and a dev
    session without an admin token gets a generated one (printed in the banner)."""
    changes: dict[str, Any] = {"issuers": (*settings.issuers, dev.issuer)}
    if settings.audience == ():
        changes["audience"] = (dev.issuer_obj.client_id,)
    if admin_token is not None:
        changes["admin_token"] = admin_token
    return settings.replace(**changes)


@contextlib.contextmanager
def _dev_issuer(settings: Settings) -> Iterator[DevIssuerServer | None]:
    if not settings.dev_issuer:
        yield None
        return
    with DevIssuerServer(host="127.0.0.1", port=settings.dev_issuer_port) as dev:
        yield dev


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or one ``ConfigurationError`` line (address in use …)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _config(settings: Settings, app: Any, *, factory: bool) -> uvicorn.Config:
    # The HTTP layer's limits (head size, timeouts, connection cap): http_limits.py.
    limits = HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        max_headers=settings.http_max_headers,
        head_timeout_seconds=settings.http_head_timeout_seconds,
        body_timeout_seconds=settings.http_body_timeout_seconds,
        idle_timeout_seconds=settings.http_idle_timeout_seconds,
        max_connections=settings.http_max_connections,
    )
    return uvicorn.Config(
        app,
        factory=factory,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        **uvicorn_options(limits),
    )


def _serve_one(settings: Settings, banner: _Banner) -> None:
    tune_for_serving()
    state = ServiceState.build(settings)
    try:
        state.revoker.agree()  # a lifetime mismatch is one line, before the port is bound
        sock = bind_socket(settings.host, settings.port)
        with sock, _quiet_signals():
            banner.write(sock)
            server = uvicorn.Server(_config(settings, build_app(state), factory=False))
            server.run(sockets=[sock])
        if not server.started:  # uvicorn logged why (the app's startup failed)
            raise ConfigurationError("the service did not start; see the log above")
    finally:
        state.close()  # the lifespan closed it already, unless startup never ran


def _serve_workers(settings: Settings, banner: _Banner) -> None:
    # Build once here, only to fail early and in one line; each worker builds its own.
    state = ServiceState.build(settings)
    try:
        state.revoker.agree()
    finally:
        state.close()
    sock = bind_socket(settings.host, settings.port)
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        with sock, _quiet_signals():
            banner.write(sock)
            config = _config(settings, "revoker.service.app:create_app", factory=True)
            Multiprocess(config, sockets=[sock]).run()
    finally:
        os.environ.pop(SETTINGS_ENV, None)


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    """While serving, SIGTERM/SIGINT are noted, not fatal: uvicorn re-raises them after shutdown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        log.info("stopped by %s", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _console_line(settings: Settings, base: str) -> str:
    if settings.admin_token is None and settings.viewer_token is None:
        return "off (no admin or viewer token)"
    if settings.workers > 1:
        return "off (its sessions live in one process: --workers 1)"
    return f"{base}/console"


@dataclass(frozen=True)
class _Banner:
    """What ``revoker serve`` prints on stdout once its socket is bound."""

    out: TextIO
    settings: Settings
    dev: DevIssuerServer | None
    show_admin_token: bool

    def write(self, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{port}"
        settings = self.settings
        admin = "enabled" if settings.admin_enabled else "disabled (no --admin-token)"
        lines = [
            f"revoker serve: listening on {base} ({settings.workers} worker(s))",
            f"  issuers:   {', '.join(settings.trusted_issuers())}",
            f"  store:     {redacted_url(settings.store_url)}",
            f"  admin API: {admin}",
            f"  console:   {_console_line(settings, base)}",
        ]
        if self.dev is not None:
            lines.extend(self._dev_lines(self.dev, base))
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _dev_lines(self, dev: DevIssuerServer, base: str) -> list[str]:
        client_id = dev.issuer_obj.client_id
        login = (
            f"curl -s {dev.url}/"
            " -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth'"
            " -H 'Content-Type: application/x-amz-json-1.1'"
            f""" -d '{{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"{client_id}","""
            """"AuthParameters":{"USERNAME":"alice","PASSWORD":"alice-password"}}'"""
        )
        pick = (
            "python3 -c 'import json,sys;"
            """ print(json.load(sys.stdin)["AuthenticationResult"]["AccessToken"])'"""
        )
        lines = [
            f"dev issuer (development only): {dev.issuer}",
            "  users:       alice / alice-password, bob / bob-password",
        ]
        if self.show_admin_token:
            lines.append(f"  admin token: {self.settings.admin_token}  (generated for this run)")
        lines += [
            "log in as alice and call /auth:",
            f"  TOKEN=$({login} | {pick})",
            f'  curl -i {base}/auth -H "Authorization: Bearer $TOKEN"',
        ]
        return lines
