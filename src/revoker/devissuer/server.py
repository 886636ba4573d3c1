"""The dev issuer on the wire, in Cognito's own format, so boto3's ``cognito-idp`` works.

Routes:

- ``GET /{pool_id}/.well-known/openid-configuration`` and ``…/jwks.json``
- ``POST /`` with ``X-Amz-Target: AWSCognitoIdentityProviderService.<Action>``:
  ``InitiateAuth``, ``RevokeToken``, ``GlobalSignOut``
- ``POST /{pool_id}/rotate-keys`` (dev only): sign with a new key from now on

The standard library's ``ThreadingHTTPServer`` is enough, and starts in
milliseconds inside a test.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

from revoker.core.clock import Clock
from revoker.core.errors import ConfigurationError

from .issuer import DEFAULT_CLIENT_ID, CognitoError, DevIssuer
from .users import DEFAULT_USERS, DevUser

__all__ = ["DEFAULT_POOL_ID", "DevIssuerServer", "run_issuer"]

log = logging.getLogger("revoker.devissuer")

DEFAULT_POOL_ID = "us-east-1_RevokerDev"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
MAX_BODY_BYTES = 64 * 1024
AMZ_JSON = "application/x-amz-json-1.1"
_POOL_ID = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+_[0-9A-Za-z]+")

Action = Callable[[Mapping[str, Any]], dict[str, Any]]


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close(), each bounded by the handler's timeout.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.pool_id = ""
        self.issuer: DevIssuer | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "revoker-devissuer"
    sys_version = ""
    timeout = 5  # seconds a client may take to send its request

    def do_GET(self) -> None:
        issuer = self._issuer()
        path = urlsplit(self.path).path
        well_known = f"/{self.server.pool_id}/.well-known/"
        if path == well_known + "jwks.json":
            self._send(200, issuer.jwks(), "application/json")
        elif path == well_known + "openid-configuration":
            self._send(200, issuer.discovery(), "application/json")
        else:
            self._fail(404, CognitoError("ResourceNotFoundException", "No such resource."))

    def do_POST(self) -> None:
        issuer = self._issuer()
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
            if path == f"/{self.server.pool_id}/rotate-keys":
                self._send(200, {"kid": issuer.rotate_keys()}, "application/json")
            elif path == "/":
                self._send(200, self._dispatch(issuer, body), AMZ_JSON)
            else:
                self._fail(404, CognitoError("ResourceNotFoundException", "No such resource."))
        except CognitoError as error:
            self._fail(error.http_status, error)
        except Exception:
            log.exception("the dev issuer failed on %s", path)
            self._fail(500, CognitoError("InternalErrorException", "The dev issuer failed."))

    def _issuer(self) -> DevIssuer:
        issuer = self.server.issuer
        assert issuer is not None  # noqa: S101 - set before the server starts serving
        return issuer

    def _dispatch(self, issuer: DevIssuer, body: bytes) -> dict[str, Any]:
        actions: dict[str, Action] = {
            "InitiateAuth": issuer.initiate_auth,
            "RevokeToken": issuer.revoke_token,
            "GlobalSignOut": issuer.global_sign_out,
        }
        target = self.headers.get("X-Amz-Target", "")
        action = actions.get(target.removeprefix(TARGET_PREFIX))
        if not target.startswith(TARGET_PREFIX) or action is None:
            raise CognitoError("ResourceNotFoundException", f"Unknown action {target[:96]!r}.")
        try:
            params = json.loads(body or b"{}")
        except (ValueError, RecursionError) as exc:
            raise CognitoError("InvalidParameterException", "The body is not JSON.") from exc
        if not isinstance(params, dict):
            raise CognitoError("InvalidParameterException", "The body must be a JSON object.")
        return action(params)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit():
            raise CognitoError("InvalidParameterException", "Content-Length is required.")
        if int(length) > MAX_BODY_BYTES:
            error = CognitoError("InvalidParameterException", "The request body is too large.")
            error.http_status = 413
            raise error
        return self.rfile.read(int(length))

    def _fail(self, status: int, error: CognitoError) -> None:
        self._send(status, error.to_json(), AMZ_JSON, {"x-amzn-ErrorType": error.code})

    def _send(
        self,
        status: int,
        document: Mapping[str, Any],
        content_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        # Request lines hold paths only; tokens travel in bodies, which are never logged.
        log.debug("%s %s", self.address_string(), format % args)


def _url_host(host: str) -> str:
    # A wildcard bind is reached through loopback; an IPv6 literal needs brackets.
    reachable = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"[{reachable}]" if ":" in reachable else reachable


class DevIssuerServer:
    """A ``DevIssuer`` served over HTTP from a daemon thread. Binds on construction.

    Use it as a context manager; ``port=0`` takes an ephemeral port, read back
    from ``url``. ``public_url`` replaces ``http://host:port`` in the issuer
    when clients reach the server by another name (a container, a proxy).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pool_id: str = DEFAULT_POOL_ID,
        users: Iterable[DevUser] = DEFAULT_USERS,
        public_url: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        access_lifetime_seconds: int = 3600,
        id_lifetime_seconds: int = 3600,
        refresh_lifetime_seconds: int = 30 * 86_400,
        clock: Clock | None = None,
    ) -> None:
        if _POOL_ID.fullmatch(pool_id) is None:
            raise ConfigurationError(f"{pool_id!r} is not a Cognito user pool id (REGION_ID)")
        try:
            self._httpd = _Server((host, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        bound_port = self._httpd.server_address[1]
        self.url = (public_url or f"http://{_url_host(host)}:{bound_port}").rstrip("/")
        self.pool_id = pool_id
        self.issuer = f"{self.url}/{pool_id}"
        self.jwks_url = self.issuer + "/.well-known/jwks.json"
        try:
            self.issuer_obj = DevIssuer(
                issuer=self.issuer,
                client_id=client_id,
                users=users,
                access_lifetime_seconds=access_lifetime_seconds,
                id_lifetime_seconds=id_lifetime_seconds,
                refresh_lifetime_seconds=refresh_lifetime_seconds,
                clock=clock,
            )
        except BaseException:
            self._httpd.server_close()
            raise
        self._httpd.issuer = self.issuer_obj
        self._httpd.pool_id = pool_id
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> DevIssuerServer:
        """Serve from a daemon thread; returns at once."""
        if self._closed:
            raise RuntimeError("this dev issuer server was stopped; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},  # how long stop() may wait for the loop
                name=f"revoker-devissuer-{self._httpd.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (bounded); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()  # returns within poll_interval once serve_forever runs
            self._thread.join(timeout=5)
        self._httpd.server_close()  # also joins request threads, each bounded by its timeout

    def __enter__(self) -> DevIssuerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_issuer(
    host: str,
    port: int,
    users: Iterable[DevUser],
    pool_id: str = DEFAULT_POOL_ID,
    *,
    public_url: str | None = None,
    client_id: str = DEFAULT_CLIENT_ID,
    access_lifetime_seconds: int = 3600,
    id_lifetime_seconds: int = 3600,
    refresh_lifetime_seconds: int = 30 * 86_400,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C, SIGTERM or ``stop`` is set; print where and for whom first."""
    server = DevIssuerServer(
        host=host,
        port=port,
        pool_id=pool_id,
        users=users,
        public_url=public_url,
        client_id=client_id,
        access_lifetime_seconds=access_lifetime_seconds,
        id_lifetime_seconds=id_lifetime_seconds,
        refresh_lifetime_seconds=refresh_lifetime_seconds,
    )
    stop = stop or threading.Event()
    restore = _stop_on_sigterm(stop)
    try:
        with server:
            _write_banner(out or sys.stdout, server)
            while not stop.wait(0.5):  # a timeout, so Ctrl-C is seen promptly
                pass
    except KeyboardInterrupt:
        pass
    finally:
        restore()


def _stop_on_sigterm(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may install signal handlers

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _write_banner(out: TextIO, server: DevIssuerServer) -> None:
    issuer = server.issuer_obj
    users = ", ".join(
        user.username + (f" (groups: {','.join(user.groups)})" if user.groups else "")
        for user in issuer.users.values()
    )
    out.write(
        "revoker dev issuer: Cognito-shaped, for development only\n"
        f"  issuer:     {server.issuer}\n"
        f"  jwks:       {server.jwks_url}\n"
        f"  endpoint:   {server.url}  (boto3 cognito-idp endpoint_url)\n"
        f"  client id:  {issuer.client_id}\n"
        f"  users:      {users}\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
