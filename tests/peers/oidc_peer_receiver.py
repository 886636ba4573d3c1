"""A loopback back-channel logout endpoint that records the logout tokens POSTed to it."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

import jwt
from oidc_peer_tokens import PeerError, unverified_claims


@dataclass(frozen=True)
class Delivery:
    """One back-channel logout POST as it arrived."""

    path: str
    content_type: str
    logout_token: str = field(repr=False)


class LogoutReceiver:
    """A loopback endpoint recording the logout tokens POSTed to it (answers 200, no-store)."""

    MAX_BODY = 64 * 1024

    def __init__(self, path: str = "/backchannel-logout") -> None:
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                if length > receiver.MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length).decode()
                token = parse_qs(body).get("logout_token", [""])[0]
                with receiver._arrived:
                    receiver._deliveries.append(
                        Delivery(self.path, self.headers.get("Content-Type", ""), token)
                    )
                    receiver._arrived.notify_all()
                self.send_response(200 if token else 400)
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

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5.0)
        self._server.server_close()

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
