"""A loopback back-channel logout endpoint: it records the logout tokens POSTed to it and, while
told to, forwards each POST unchanged to a service under test and answers with its status.

Forwarding lets the provider start first (so a service can load its keys at start-up) and be
pointed at the service afterwards: the provider's clients name the receiver, the receiver names
the service.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

import httpx
import jwt
from oidc_peer_tokens import PeerError, unverified_claims

FORWARD_TIMEOUT_SECONDS = 2.0  # under the provider's own 2.5 s bound on a delivery


@dataclass(frozen=True)
class Delivery:
    """One back-channel logout POST as it arrived, and the service's status if forwarded."""

    path: str
    content_type: str
    logout_token: str = field(repr=False)
    forwarded_to: str | None = None
    forwarded_status: int | None = None  # None: not forwarded, or the service did not answer


class LogoutReceiver:
    """Records logout tokens; answers 200 (no-store), or the service's status while forwarding."""

    MAX_BODY = 64 * 1024

    def __init__(self, path: str = "/backchannel-logout") -> None:
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        self._target: str | None = None
        self._forwarder = httpx.Client(timeout=FORWARD_TIMEOUT_SECONDS)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                if length > receiver.MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length)
                content_type = self.headers.get("Content-Type", "")
                token = parse_qs(body.decode()).get("logout_token", [""])[0]
                status, target, forwarded = receiver._answer(body, content_type, token)
                with receiver._arrived:
                    receiver._deliveries.append(
                        Delivery(self.path, content_type, token, target, forwarded)
                    )
                    receiver._arrived.notify_all()
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _answer(
        self, body: bytes, content_type: str, token: str
    ) -> tuple[int, str | None, int | None]:
        """(status for the provider, where it was forwarded, the service's status)."""
        target = self._target
        if target is None:
            return (200 if token else 400), None, None
        try:
            response = self._forwarder.post(
                target, content=body, headers={"Content-Type": content_type}
            )
        except httpx.HTTPError:
            return 502, target, None
        return response.status_code, target, response.status_code

    @contextlib.contextmanager
    def forwarding_to(self, url: str) -> Iterator[Self]:
        """While inside, forward every logout POST to ``url`` (e.g. a service's logout route)."""
        if self._target is not None:
            raise PeerError("this receiver is forwarding already")
        self._target = url
        try:
            yield self
        finally:
            self._target = None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5.0)
        self._server.server_close()
        self._forwarder.close()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._arrived:
            return list(self._deliveries)

    def wait_for(self, sid: str, *, timeout_seconds: float = 5.0) -> Delivery:
        """The delivery whose logout token names ``sid``, waiting up to the bound for it."""
        deadline = time.monotonic() + timeout_seconds
        with self._arrived:
            while True:
                for delivery in self._deliveries:
                    with contextlib.suppress(jwt.DecodeError):
                        if unverified_claims(delivery.logout_token).get("sid") == sid:
                            return delivery
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"no logout token for that sid within {timeout_seconds}s")
                self._arrived.wait(timeout=left)
