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

from revoker.cli.serve import settings_from_options
from revoker.core.errors import ConfigurationError
from revoker.devissuer import DevIssuerServer
from revoker.service.app import build_app
from revoker.service.config import SETTINGS_ENV, ServiceSettings, redacted_url
from revoker.service.http_guard import uvicorn_options
from revoker.service.http_limits import HttpLimits
from revoker.service.logs import configure_logging
from revoker.service.state import ServiceState

__all__ = ["bind_socket", "serve_forever"]

log = logging.getLogger("revoker.service")

_GRACEFUL_SHUTDOWN_SECONDS = 10


def serve_forever(
    options: dict[str, Any], *, dev_admin_token: str, out: TextIO | None = None
) -> None:
    """``revoker serve`` with click's options; returns after a graceful shutdown."""
    out = out or sys.stdout
    with _dev_issuer(options) as dev:
        generated = dev is not None and not options.get("admin_token")
        if generated:  # the dev session's curl examples need one; printed in the banner
            options = {**options, "admin_token": dev_admin_token}
        settings = settings_from_options(
            options,
            dev_issuer=dev.issuer if dev else None,
            dev_client_id=dev.issuer_obj.client_id if dev else None,
        )
        if options.get("check_config"):
            ServiceState.build(settings).close()  # opens the store: its URL must work too
            out.write(json.dumps(settings.describe(), indent=2, sort_keys=True) + "\n")
            return
        configure_logging(settings.log_format, settings.log_level)
        banner = _Banner(out, settings, dev, show_admin_token=generated)
        if settings.workers == 1:
            _serve_one(settings, banner)
        else:
            _serve_workers(settings, banner)


@contextlib.contextmanager
def _dev_issuer(options: dict[str, Any]) -> Iterator[DevIssuerServer | None]:
    if not options.get("dev_issuer"):
        yield None
        return
    with DevIssuerServer(host="127.0.0.1", port=int(options.get("dev_issuer_port", 9000))) as dev:
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


def _config(settings: ServiceSettings, app: Any, *, factory: bool) -> uvicorn.Config:
    # The HTTP layer's limits (head size, timeouts, connection cap): http_limits.py.
    limits = HttpLimits()
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


def _serve_one(settings: ServiceSettings, banner: _Banner) -> None:
    state = ServiceState.build(settings)
    try:
        sock = bind_socket(settings.host, settings.port)
        with sock, _quiet_signals():
            banner.write(sock)
            server = uvicorn.Server(_config(settings, build_app(state), factory=False))
            server.run(sockets=[sock])
        if not server.started:  # uvicorn logged why (the app's startup failed)
            raise ConfigurationError("the service did not start; see the log above")
    finally:
        state.close()  # the lifespan closed it already, unless startup never ran


def _serve_workers(settings: ServiceSettings, banner: _Banner) -> None:
    # Build once here, only to fail early and in one line; each worker builds its own.
    ServiceState.build(settings).close()
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


@dataclass(frozen=True)
class _Banner:
    """What ``revoker serve`` prints on stdout once its socket is bound."""

    out: TextIO
    settings: ServiceSettings
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
            f"  issuers:   {', '.join(settings.core.trusted_issuers())}",
            f"  store:     {redacted_url(settings.core.store_url)}",
            f"  admin API: {admin}",
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
