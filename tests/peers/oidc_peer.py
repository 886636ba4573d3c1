"""A real, OpenID-certified provider as a test peer: panva's oidc-provider (npm) on loopback.

``OidcProvider`` binds a loopback port (so its issuer is known at once), then starts
``node oidc_provider/provider.mjs`` on that socket with clients of every signing alg.
``Session`` is one browser with its own cookie jar: it signs in over HTTP exactly as a browser
would (authorization request with PKCE, the provider's login and consent forms, the redirect with
the ``code``), and its relying party redeems the code at the token endpoint. RP-initiated logout
makes the provider POST a back-channel logout token to each client's ``backchannel_logout_uri``;
``LogoutReceiver`` is a loopback endpoint that records them.

Nothing here reaches into the provider's internals: every step is an HTTP request a browser or a
relying party could make. No token or secret is ever logged or put in an exception message.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self

import httpx
import pytest
from oidc_peer_browser import REDIRECT_URI, Session
from oidc_peer_receiver import Delivery, LogoutReceiver
from oidc_peer_tokens import (
    Client,
    DpopKey,
    PeerError,
    Tokens,
    json_or_fail,
    ok_or_fail,
    tokens_from,
    unverified_claims,
)

__all__ = [
    "ALGS",
    "BACKCHANNEL_LOGOUT_EVENT",
    "REDIRECT_URI",
    "RESOURCE",
    "Client",
    "Delivery",
    "DpopKey",
    "LogoutReceiver",
    "OidcProvider",
    "PeerError",
    "Session",
    "Tokens",
    "unverified_claims",
]

PEER_DIR = Path(__file__).resolve().parent / "oidc_provider"
INSTALL_HINT = "run `npm ci --prefix tests/peers/oidc_provider` (needs Node.js >= 20.19)"
ALGS = ("RS256", "PS256", "ES256", "EdDSA")
RESOURCE = "https://api.example.test"
RESOURCE_SCOPE = "api:read api:write"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MIN_NODE = (20, 19)


def _unavailable(why: str) -> NoReturn:
    """Skip on a laptop without Node or the npm install; fail in CI, where they must be there."""
    if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
        pytest.fail(f"{why}, required under REVOKER_REQUIRE_SERVICES=1: {INSTALL_HINT}")
    pytest.skip(f"{why}: {INSTALL_HINT}")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    out = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    version = tuple(int(part) for part in out.stdout.strip().lstrip("v").split(".")[:2])
    if version < MIN_NODE:
        _unavailable(f"node {out.stdout.strip()} is older than {'.'.join(map(str, MIN_NODE))}")
    if not (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        _unavailable("oidc-provider is not installed in tests/peers/oidc_provider/node_modules")
    return node


class OidcProvider:
    """panva's oidc-provider on 127.0.0.1, with one client per signing alg.

    The port is bound when the object is made, so ``issuer`` is known before ``start()``;
    requests that arrive before it wait in the socket's backlog (so a service that loads its
    keys at start-up, as ``revoker serve`` does, should meet a started provider and get the
    logouts through ``LogoutReceiver.forwarding_to``). ``with OidcProvider(...) as provider``
    starts it and stops it (SIGTERM, then SIGKILL after a bound). Every client's logout goes to
    ``backchannel_logout_uri``; without one the provider puts no ``sid`` in ID tokens (it adds
    ``sid`` only for clients that can receive a logout).
    """

    def __init__(
        self,
        *,
        backchannel_logout_uri: str | None = None,
        resource: str = RESOURCE,
        resource_scope: str = RESOURCE_SCOPE,
        access_token_alg: str | None = None,
        access_token_sid: bool = False,
        access_token_ttl_seconds: int = 600,
        id_token_ttl_seconds: int = 600,
        startup_timeout_seconds: float = 20.0,
        stop_timeout_seconds: float = 5.0,
    ) -> None:
        self._socket: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.backchannel_logout_uri = backchannel_logout_uri
        self.resource = resource
        self.clients = {
            alg: Client(f"rp-{alg.lower()}", secrets.token_urlsafe(24), alg) for alg in ALGS
        }
        self._options = {
            "resource": resource,
            "resource_scope": resource_scope,
            "access_token_alg": access_token_alg,
            "access_token_sid": access_token_sid,
            "access_token_ttl_seconds": access_token_ttl_seconds,
            "id_token_ttl_seconds": id_token_ttl_seconds,
        }
        self._startup_timeout_seconds = startup_timeout_seconds
        self._stop_timeout_seconds = stop_timeout_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._rp = httpx.Client(timeout=10.0)
        self._sessions: list[Session] = []
        self.metadata: dict[str, Any] = {}

    # lifecycle

    def start(self, *, backchannel_logout_uri: str | None = None) -> Self:
        """Start node on the bound port; return once the provider serves its discovery document."""
        if self._process is not None or self._socket is None:
            raise PeerError("this provider was started (or stopped) already")
        if backchannel_logout_uri is not None:
            self.backchannel_logout_uri = backchannel_logout_uri
        try:
            node = _node()
        except BaseException:  # a skip or a failure: release the port and the HTTP client
            self.stop()
            raise
        config = {
            **{key: value for key, value in self._options.items() if value is not None},
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "clients": [
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "alg": c.alg,
                    "redirect_uris": [REDIRECT_URI],
                }
                for c in self.clients.values()
            ],
        }
        fd = self._socket.fileno()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open until stop()
        self._process = subprocess.Popen(
            [node, str(PEER_DIR / "provider.mjs"), "--fd", str(fd), "--config", "-"],
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            pass_fds=[fd],
        )
        self._socket.close()  # node holds its own copy now
        self._socket = None
        try:
            assert self._process.stdin is not None
            # One line of configuration; stdin then stays open: if this process dies, node exits.
            self._process.stdin.write(json.dumps(config).encode() + b"\n")
            self._process.stdin.flush()
            self._ready_line()
            discovery = f"{self.issuer}/.well-known/openid-configuration"
            self.metadata = json_or_fail(self._rp.get(discovery), "discovery")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        out = self._process.stdout.fileno()
        deadline = time.monotonic() + self._startup_timeout_seconds
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(out, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    waited = self._startup_timeout_seconds
                    raise PeerError(f"no ready line in {waited}s" + self._tail())
                if selector.select(timeout=left):
                    chunk = os.read(out, 4096)
                    if not chunk:
                        raise PeerError("the provider exited while starting" + self._tail())
                    buffer += chunk
        ready: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
        if ready.get("issuer") != self.issuer:
            raise PeerError("the provider reports another issuer than its bound port")
        return ready

    def _tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return (":\n" + "\n".join(lines[-15:])) if lines else ""

    def diagnostics(self) -> str:
        """What the provider wrote on stderr so far (its notices and failed deliveries)."""
        return self._tail().lstrip(":\n")

    def stop(self) -> None:
        """SIGTERM the provider by its PID, SIGKILL it if it outlives the bound; release all."""
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self._stop_timeout_seconds)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=self._stop_timeout_seconds)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._rp.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        if self._process is None:
            self.start()  # stops (releases the port) itself when it fails
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # what tests use

    @property
    def jwks_uri(self) -> str:
        uri: str = self.metadata["jwks_uri"]
        return uri

    def client(self, alg: str = "RS256") -> Client:
        """The client whose ID tokens (and, by default, JWT access tokens) ``alg`` signs."""
        return self.clients[alg]

    def jwks(self) -> dict[str, Any]:
        """The provider's public keys, fetched over HTTP from its ``jwks_uri``."""
        return json_or_fail(self._rp.get(self.jwks_uri), "jwks")

    def session(self) -> Session:
        """A new browser (cookie jar) at this provider; closed when the provider stops."""
        session = Session(self)
        self._sessions.append(session)
        return session

    def token_request(
        self, client: Client, form: dict[str, str], *, dpop_key: DpopKey | None = None
    ) -> Tokens:
        """POST the token endpoint as ``client`` (HTTP Basic), with a DPoP proof if given a key."""
        endpoint = self.metadata["token_endpoint"]
        headers = {"DPoP": dpop_key.proof("POST", endpoint)} if dpop_key else {}
        response = self._rp.post(endpoint, data=form, auth=client.basic_auth, headers=headers)
        return tokens_from(client, json_or_fail(response, "token"), dpop_key)

    def refresh(self, tokens: Tokens, *, resource: str | None = None) -> Tokens:
        """The refresh_token grant (with a proof of the same DPoP key when the tokens had one)."""
        if tokens.refresh_token is None:
            raise PeerError("refresh: no refresh token (was offline_access requested?)")
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        if resource is not None:
            form["resource"] = resource
        return self.token_request(tokens.client, form, dpop_key=tokens.dpop_key)

    def revoke(self, token: str, *, client: Client, token_type_hint: str | None = None) -> None:
        """RFC 7009 revocation at the provider (it revokes refresh and opaque access tokens)."""
        form = {"token": token, **({"token_type_hint": token_type_hint} if token_type_hint else {})}
        response = self._rp.post(
            self.metadata["revocation_endpoint"], data=form, auth=client.basic_auth
        )
        ok_or_fail(response, "revocation")

    def introspect(self, token: str, *, client: Client) -> dict[str, Any]:
        """RFC 7662 introspection at the provider, as ``client``."""
        response = self._rp.post(
            self.metadata["introspection_endpoint"], data={"token": token}, auth=client.basic_auth
        )
        return json_or_fail(response, "introspection")
