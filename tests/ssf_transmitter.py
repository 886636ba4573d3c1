"""A Shared Signals transmitter for the tests: real keys, real HTTP, on loopback.

``Transmitter`` serves, on an ephemeral 127.0.0.1 port (its issuer is ``http://127.0.0.1:PORT``
plus an optional path, as SSF 1.0 §7.2 places the well-known document):

- ``GET /.well-known/ssf-configuration{path}``: its metadata (issuer, ``jwks_uri``, the
  stream management endpoints, ``critical_subject_members`` when told);
- ``GET /jwks.json``: its public keys (RS256, kid ``tr-key-1``);
- ``POST|GET|DELETE /ssf/stream``: create, read, delete streams (SSF 1.0 §8.1.1);
- ``GET /ssf/status``: a stream's status (§8.1.2);
- ``POST /ssf/verify``: a verification request: 204, then the verification SET with the
  ``state`` echoed is pushed to the stream's endpoint, or queued for polling (§8.1.4);
- ``POST /ssf/poll/{stream_id}``: RFC 8936 polls: ``ack`` and ``setErrs`` recorded,
  queued SETs answered (up to ``maxEvents``), ``moreAvailable`` when more wait.

``sign`` mints SETs with its key; ``push`` POSTs one to a receiver as RFC 8935 says;
``queue`` holds one for the next polls until it is acknowledged. ``hold_acks`` keeps a poll
that carries acks waiting until ``release_acks``, and commits its acks only if the poller is
still connected then (as a transmitter that processes a poll in one transaction would), so a
test can kill the poller between receiving a SET and acknowledging it.

Nothing here logs a SET or a token.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx

from revoker.core.signing import PrivateKey, generate_key, public_jwk, sign_compact

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"
SECEVENT_JWT = "application/secevent+jwt"
MANAGEMENT_TOKEN = "transmitter-management-token-01"


@dataclass
class Stream:
    stream_id: str
    method: str  # urn:ietf:rfc:8935 or urn:ietf:rfc:8936
    endpoint_url: str
    authorization_header: str | None
    events_requested: list[str]
    status: str = "enabled"
    queue: dict[str, str] = field(default_factory=dict)  # jti -> SET, until acknowledged


@dataclass
class PollRecord:
    """One poll as the transmitter received it."""

    ack: list[str]
    set_errs: dict[str, Any]
    delivered: list[str]
    committed: bool = False


class Transmitter:
    """See the module docstring."""

    def __init__(self, *, path: str = "", audience: str = "revoker-receiver") -> None:
        self.key: PrivateKey = generate_key("RS256")
        self.kid = "tr-key-1"
        self.audience = audience
        self.critical: list[str] = []
        self.streams: dict[str, Stream] = {}
        self.polls: list[PollRecord] = []
        self.acked: set[str] = set()
        self.errors: dict[str, Any] = {}
        self.management_requests: list[tuple[str, str, str | None]] = []  # method, path, auth
        self.hold_acks = False
        self.failed_pushes = 0
        self.ack_arrived = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{port}"
        self.issuer = self.base + path
        self._path = path
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- life cycle ---------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    # -- SETs ---------------------------------------------------------------------

    def sign(
        self,
        claims: dict[str, Any],
        *,
        typ: str | None = "secevent+jwt",
        key: PrivateKey | None = None,
        kid: str | None = None,
    ) -> str:
        header: dict[str, Any] = {"alg": "RS256", "kid": kid or self.kid}
        if typ is not None:
            header["typ"] = typ
        return sign_compact(
            header, {k: v for k, v in claims.items() if v is not None}, key or self.key
        )

    def event(
        self,
        event_type: str,
        body: dict[str, Any] | None = None,
        *,
        sub_id: dict[str, Any] | None,
        iat: float,
        **claims: Any,
    ) -> str:
        """A SET of one event from this transmitter; ``claims`` override or add (None drops)."""
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "jti": uuid.uuid4().hex,
            "iat": int(iat),
            "aud": self.audience,
            "txn": "txn-" + uuid.uuid4().hex[:8],
            "sub_id": sub_id,
            "events": {event_type: body or {}},
        }
        payload.update(claims)
        return self.sign(payload)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key, kid=self.kid, alg="RS256")]}

    def configuration(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "spec_version": "1_0",
            "issuer": self.issuer,
            "jwks_uri": self.base + "/jwks.json",
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
            "configuration_endpoint": self.base + "/ssf/stream",
            "status_endpoint": self.base + "/ssf/status",
            "verification_endpoint": self.base + "/ssf/verify",
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
        }
        if self.critical:
            document["critical_subject_members"] = self.critical
        return document

    @staticmethod
    def push(url: str, set_token: str, *, token: str | None, **headers: str) -> httpx.Response:
        """POST a SET to a receiver as RFC 8935 §2 says."""
        sent = {"Content-Type": SECEVENT_JWT, "Accept": "application/json", **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return httpx.post(url, content=set_token.encode(), headers=sent, timeout=10)

    def queue(self, stream_id: str, set_token: str, jti: str | None = None) -> str:
        """Hold ``set_token`` for the stream's polls until it is acknowledged; its jti."""
        if jti is None:
            payload = set_token.split(".")[1]
            import base64  # noqa: PLC0415 - a test helper's one use

            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            jti = str(claims["jti"])
        with self._lock:
            self.streams[stream_id].queue[jti] = set_token
        return jti

    def add_stream(self, method: str, endpoint_url: str = "", **options: Any) -> Stream:
        stream_id = uuid.uuid4().hex
        if method.endswith("8936"):
            endpoint_url = f"{self.base}/ssf/poll/{stream_id}"
        stream = Stream(stream_id, method, endpoint_url, options.get("authorization_header"),
                        list(options.get("events_requested", [])))  # fmt: skip
        with self._lock:
            self.streams[stream_id] = stream
        return stream

    def release_acks(self) -> None:
        self._release.set()

    @property
    def delivered(self) -> list[str]:
        """Every jti answered to a poll, in order (a redelivery appears twice)."""
        return [jti for poll in self.polls for jti in poll.delivered]

    # -- the HTTP side --------------------------------------------------------------

    def _stream_document(self, stream: Stream) -> dict[str, Any]:
        delivery: dict[str, Any] = {"method": stream.method, "endpoint_url": stream.endpoint_url}
        if stream.authorization_header:  # some transmitters echo it back
            delivery["authorization_header"] = stream.authorization_header
        supported = [
            CAEP + "session-revoked",
            CAEP + "credential-change",
            RISC + "account-disabled",
        ]
        return {
            "stream_id": stream.stream_id,
            "iss": self.issuer,
            "aud": self.audience,
            "delivery": delivery,
            "events_supported": supported,
            "events_requested": stream.events_requested,
            "events_delivered": [e for e in stream.events_requested if e in supported],
            "description": "test stream",
        }

    def _verification(self, stream: Stream, state: str | None) -> None:
        event: dict[str, Any] = {} if state is None else {"state": state}
        set_token = self.event(
            SSF + "verification", event, sub_id={"format": "opaque", "id": stream.stream_id},
            iat=time.time(),
        )  # fmt: skip
        if stream.method.endswith("8936"):
            self.queue(stream.stream_id, set_token)
            return
        headers = {}
        if stream.authorization_header:
            headers["Authorization"] = stream.authorization_header

        def deliver() -> None:
            try:
                sent = {"Content-Type": SECEVENT_JWT, **headers}
                httpx.post(
                    stream.endpoint_url, content=set_token.encode(), headers=sent, timeout=10
                )
            except httpx.HTTPError:
                self.failed_pushes += 1  # a real transmitter would retry later

        threading.Thread(target=deliver, daemon=True).start()

    def _poll(self, stream: Stream, body: dict[str, Any]) -> tuple[dict[str, Any], PollRecord]:
        ack = [str(j) for j in body.get("ack", [])]
        errs = dict(body.get("setErrs", {}))
        limit = int(body.get("maxEvents", 100))
        with self._lock:
            pending = [j for j in stream.queue if j not in ack and j not in errs]
            chosen = pending[:limit]
            record = PollRecord(ack, errs, chosen)
            self.polls.append(record)
            answer = {
                "sets": {j: stream.queue[j] for j in chosen},
                "moreAvailable": len(pending) > len(chosen),
            }
        return answer, record

    def _commit(self, stream: Stream, record: PollRecord) -> None:
        with self._lock:
            for jti in [*record.ack, *record.set_errs]:
                stream.queue.pop(jti, None)
            self.acked.update(record.ack)
            self.errors.update(record.set_errs)
            record.committed = True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        transmitter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else {}

            def _refused(self) -> bool:
                """Management and poll endpoints need the management token: True (and a
                401 sent) when this request lacks it."""
                if not urlsplit(self.path).path.startswith("/ssf/"):
                    return False
                auth = self.headers.get("Authorization")
                transmitter.management_requests.append((self.command, self.path, auth))
                if auth == f"Bearer {MANAGEMENT_TOKEN}":
                    return False
                self._body()  # read what was sent, so the connection stays usable
                self._send(401, {"error": "unauthorized"})
                return True

            def do_GET(self) -> None:
                if self._refused():
                    return
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/ssf-configuration" + transmitter._path:
                    self._send(200, transmitter.configuration())
                elif url.path == "/jwks.json":
                    self._send(200, transmitter.jwks())
                elif url.path == "/ssf/stream":
                    if "stream_id" in query:
                        stream = transmitter.streams.get(query["stream_id"])
                        if stream is None:
                            self._send(404, {"error": "not_found"})
                        else:
                            self._send(200, transmitter._stream_document(stream))
                    else:
                        streams = list(transmitter.streams.values())
                        self._send(200, [transmitter._stream_document(s) for s in streams])
                elif url.path == "/ssf/status":
                    stream = transmitter.streams.get(query.get("stream_id", ""))
                    if stream is None:
                        self._send(404, {"error": "not_found"})
                    else:
                        self._send(200, {"stream_id": stream.stream_id, "status": stream.status})
                else:
                    self._send(404, {"error": "not_found"})

            def do_DELETE(self) -> None:
                if self._refused():
                    return
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/ssf/stream" and transmitter.streams.pop(
                    query.get("stream_id", ""), None
                ):
                    self._send(204)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self._refused():
                    return
                url = urlsplit(self.path)
                if url.path == "/ssf/stream":
                    body = self._body()
                    delivery = body.get("delivery") or {"method": "urn:ietf:rfc:8936"}
                    stream = transmitter.add_stream(
                        delivery["method"], delivery.get("endpoint_url", ""),
                        authorization_header=delivery.get("authorization_header"),
                        events_requested=body.get("events_requested", []),
                    )  # fmt: skip
                    self._send(201, transmitter._stream_document(stream))
                elif url.path == "/ssf/verify":
                    body = self._body()
                    stream = transmitter.streams.get(str(body.get("stream_id")))
                    if stream is None:
                        self._send(404, {"error": "not_found"})
                        return
                    self._send(204)
                    transmitter._verification(stream, body.get("state"))
                elif url.path.startswith("/ssf/poll/"):
                    stream = transmitter.streams.get(url.path.rsplit("/", 1)[1])
                    if stream is None:
                        self._send(404, {"error": "not_found"})
                        return
                    body = self._body()
                    if body.get("ack") and transmitter.hold_acks:
                        transmitter.ack_arrived.set()
                        transmitter._release.wait(30)
                        if not _still_connected(self.connection):
                            return  # the poller died while its poll was held: not committed
                    answer, record = transmitter._poll(stream, body)
                    transmitter._commit(stream, record)
                    self._send(200, answer)
                else:
                    self._send(404, {"error": "not_found"})

        return Handler


def _still_connected(connection: socket.socket) -> bool:
    """Whether the peer has not closed its side (a killed poller's socket reads EOF)."""
    try:
        connection.setblocking(False)
        try:
            data = connection.recv(1, socket.MSG_PEEK)
        finally:
            connection.setblocking(True)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return bool(data)


@contextmanager
def running(**options: Any) -> Iterator[Transmitter]:
    with Transmitter(**options) as transmitter:
        yield transmitter
