"""Attacks on the HTTP layer, against a real server on loopback: slowloris, an endless header,
too many headers, a partial body, idle and silent connections, a flood of connections, and
clients that leave mid-body. The app is revoker's own, served by uvicorn through
``revoker.service.http_guard`` (in a thread with short timeouts, or as ``revoker serve`` with
its defaults). Each test takes seconds: every loop is bounded in count and time."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hardening_attacks import Kit
from hardening_support import LiveServer, ServeProcess

from revoker.devissuer import DevIssuerServer
from revoker.service.app import RevokerApp
from revoker.service.http_guard import uvicorn_options
from revoker.service.http_limits import DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS, HttpLimits

MIB = 1024 * 1024
#: Slack for a busy 2-core CI on top of a timeout under test.
MARGIN_SECONDS = 1.0


class GuardedServer(LiveServer):  # type: ignore[misc]
    """The app on uvicorn with revoker's HTTP guard, as ``revoker serve`` configures it,
    with ``limits``; in a thread, on an ephemeral loopback port."""

    def __init__(self, app: RevokerApp, limits: HttpLimits) -> None:
        super().__init__(app)
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, **uvicorn_options(limits)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )


@pytest.fixture
def guarded(make_app: Callable[..., RevokerApp]) -> Callable[..., GuardedServer]:
    """``with guarded(**limits) as client``: a fresh app behind the guard with those limits."""

    def start(**limits: Any) -> GuardedServer:
        return GuardedServer(make_app(), HttpLimits(**limits))

    return start


def connect(client: httpx.Client, timeout: float = 5.0) -> socket.socket:
    url = client.base_url
    assert url.host is not None
    assert url.port is not None
    return socket.create_connection((url.host, url.port), timeout=timeout)


def read_until_closed(sock: socket.socket, deadline_seconds: float = 5.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes (bounded), and the seconds that took."""
    started = time.monotonic()
    received = b""
    sock.settimeout(deadline_seconds)
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while time.monotonic() - started < deadline_seconds:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def status_of(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def timed_auth(client: httpx.Client, token: str) -> float:
    started = time.perf_counter()
    assert client.get("/auth", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    return time.perf_counter() - started


def test_a_slowloris_head_gets_408_within_the_head_timeout_while_auth_stays_fast(
    guarded: Callable[..., GuardedServer], kit: Kit
) -> None:
    """Headers dribbled a byte at a time: 408 and closed within the head timeout, and /auth on
    another connection answers in milliseconds all along."""
    token = kit.rs.access_token()
    head = b"GET /auth HTTP/1.1\r\nHost: revoker\r\nX-Slow: " + b"a" * 4000
    latencies: list[float] = []
    answer = b""
    with guarded(head_timeout_seconds=0.5) as client:
        timed_auth(client, token)  # warm: the token is verified and cached
        sock = connect(client)
        started = time.monotonic()
        for byte in head:  # bounded by the head's length and by 5 s
            if time.monotonic() - started > 5 or select.select([sock], [], [], 0.01)[0]:
                break
            with contextlib.suppress(OSError):
                sock.sendall(bytes([byte]))
            latencies.append(timed_auth(client, token))
        answer, _ = read_until_closed(sock, 2.0)
        closed_after = time.monotonic() - started
        sock.close()
    assert status_of(answer) == 408, answer[:80]
    assert closed_after < 0.5 + MARGIN_SECONDS
    assert len(latencies) > 10
    assert statistics.median(latencies) < 0.05
    assert max(latencies) < 0.5


def test_a_silent_connection_is_closed_within_the_head_timeout(
    guarded: Callable[..., GuardedServer],
) -> None:
    """A connection that sends nothing is closed, without an answer, after the head timeout."""
    with guarded(head_timeout_seconds=0.5) as client:
        sock = connect(client)
        answer, seconds = read_until_closed(sock)
        sock.close()
    assert answer == b""
    assert 0.4 < seconds < 0.5 + MARGIN_SECONDS


def test_a_partial_body_gets_408_after_the_body_timeout(
    guarded: Callable[..., GuardedServer],
) -> None:
    """A body that stops short of its Content-Length: 408 and closed after the body timeout."""
    with guarded(body_timeout_seconds=0.5) as client:
        sock = connect(client)
        sock.sendall(
            b"POST /revoke HTTP/1.1\r\nHost: revoker\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"token=abc"
        )
        answer, seconds = read_until_closed(sock)
        sock.close()
        assert client.post("/revoke", data={"token": "abc"}).status_code == 200  # still serving
    assert status_of(answer) == 408, answer[:80]
    assert 0.4 < seconds < 0.5 + MARGIN_SECONDS


def test_a_large_body_and_many_requests_in_one_read_are_served_whole(
    guarded: Callable[..., GuardedServer],
) -> None:
    """What the guard parses a slice at a time is served as ever: a 60 KiB form body sent in
    one write, and 50 pipelined requests in one write, each answered in order."""
    with guarded() as client:
        revoked = client.post("/revoke", data={"token": "a" * 60_000})
        sock = connect(client)
        head = b"GET /auth HTTP/1.1\r\nHost: revoker\r\nX-Pad: " + b"p" * 300 + b"\r\n"
        sock.sendall((head + b"\r\n") * 49 + head + b"Connection: close\r\n\r\n")  # 17 KiB
        answers, _ = read_until_closed(sock)
        sock.close()
    assert revoked.status_code == 200  # RFC 7009: an invalid token is no error
    assert answers.count(b"HTTP/1.1 401 Unauthorized\r\n") == 50


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    guarded: Callable[..., GuardedServer],
) -> None:
    """After a response, a keep-alive connection that sends nothing more is closed after the
    idle timeout (and not before)."""
    with guarded(idle_timeout_seconds=0.5, head_timeout_seconds=30) as client:
        sock = connect(client)
        sock.sendall(b"GET /auth HTTP/1.1\r\nHost: revoker\r\n\r\n")
        response = sock.recv(65536)
        answer, seconds = read_until_closed(sock)
        sock.close()
    assert status_of(response) == 401  # no token
    assert answer == b""
    assert 0.4 < seconds < 0.5 + MARGIN_SECONDS


def test_a_body_sent_after_its_answer_then_silence_is_closed_after_the_idle_timeout(
    guarded: Callable[..., GuardedServer],
) -> None:
    """/auth answers without reading a body; once that body has come, a connection that
    sends nothing more is closed after the idle timeout."""
    with guarded(idle_timeout_seconds=0.5, body_timeout_seconds=30) as client:
        sock = connect(client)
        sock.sendall(b"POST /auth HTTP/1.1\r\nHost: revoker\r\nContent-Length: 10\r\n\r\n")
        response = sock.recv(65536)
        sock.sendall(b"0123456789")
        answer, seconds = read_until_closed(sock)
        sock.close()
    assert status_of(response) == 401
    assert answer == b""
    assert 0.4 < seconds < 0.5 + MARGIN_SECONDS


@pytest.mark.parametrize(
    ("headers", "status"),
    [pytest.param(DEFAULT_MAX_HEADERS, 401, id="at-the-limit"),
     pytest.param(DEFAULT_MAX_HEADERS + 1, 431, id="one-over")],
)  # fmt: skip
def test_too_many_headers_get_431(
    guarded: Callable[..., GuardedServer], headers: int, status: int
) -> None:
    """A head with more header fields than the limit (Host included) is 431; at it, served."""
    extra = b"".join(b"X-Field-%d: value\r\n" % n for n in range(headers - 1))
    with guarded() as client:
        sock = connect(client)
        sock.sendall(b"GET /auth HTTP/1.1\r\nHost: revoker\r\n" + extra + b"\r\n")
        answer = sock.recv(65536)
        sock.close()
    assert status_of(answer) == status, answer[:80]


@pytest.mark.parametrize(
    ("size", "status"),
    [pytest.param(DEFAULT_MAX_HEADER_BYTES - 1024, 401, id="under-the-limit"),
     pytest.param(DEFAULT_MAX_HEADER_BYTES + 1024, 431, id="over-it"),
     pytest.param(4 * DEFAULT_MAX_HEADER_BYTES, 431, id="far-over-it")],
)  # fmt: skip
def test_a_head_over_the_size_limit_gets_431(
    guarded: Callable[..., GuardedServer], size: int, status: int
) -> None:
    """A head larger than the limit (one long header, sent whole) is 431; under it, served."""
    with guarded() as client:
        sock = connect(client)
        sock.sendall(
            b"GET /auth HTTP/1.1\r\nHost: revoker\r\nConnection: close\r\nX-Big: "
            + b"a" * size
            + b"\r\n\r\n"
        )
        answer, _ = read_until_closed(sock, 3.0)
        sock.close()
    assert status_of(answer) == status, answer[:80]


def test_a_url_over_the_size_limit_gets_414(guarded: Callable[..., GuardedServer]) -> None:
    """A request line longer than the head limit is 414."""
    with guarded() as client:
        sock = connect(client)
        sock.sendall(b"GET /auth?" + b"a" * (2 * DEFAULT_MAX_HEADER_BYTES) + b" HTTP/1.1\r\n\r\n")
        answer, _ = read_until_closed(sock, 3.0)
        sock.close()
    assert status_of(answer) == 414, answer[:80]


def test_an_upgrade_request_is_answered_as_http_and_the_connection_closed(
    guarded: Callable[..., GuardedServer],
) -> None:
    """Upgrade: websocket is not switched to: /auth answers it as HTTP, then the connection
    closes (whatever followed the head is never parsed)."""
    with guarded() as client:
        sock = connect(client)
        sock.sendall(
            b"GET /auth HTTP/1.1\r\nHost: revoker\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            b"GET /metrics HTTP/1.1\r\nHost: revoker\r\n\r\n"
        )
        answer, seconds = read_until_closed(sock)
        sock.close()
    assert status_of(answer) == 401, answer[:80]
    assert answer.count(b"HTTP/1.1 ") == 1
    assert seconds < MARGIN_SECONDS


def test_past_the_connection_cap_new_connections_get_503_until_some_go(
    guarded: Callable[..., GuardedServer],
) -> None:
    """With the cap's worth of connections open, the next one gets 503 at once and is closed;
    once they go, the service answers again."""
    cap = 8
    with guarded(max_connections=cap, head_timeout_seconds=30) as client:
        held = [connect(client) for _ in range(cap)]
        try:
            extra = connect(client)
            answer, seconds = read_until_closed(extra)
            extra.close()
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        status = None
        while status != 401 and time.monotonic() < deadline:  # bounded: 5 s
            with contextlib.suppress(httpx.TransportError):
                status = client.get("/auth").status_code
            time.sleep(0.02)
        assert status == 401
    assert status_of(answer) == 503, answer[:80]
    assert b"retry-after: 1\r\n" in answer
    assert seconds < MARGIN_SECONDS


# -- against `revoker serve`, with its defaults -------------------------------------------


@pytest.fixture
def serve_process(dev_issuer: DevIssuerServer, tmp_path: Path) -> Iterator[ServeProcess]:
    """``revoker serve`` (one worker, its default HTTP limits) trusting the dev issuer."""
    process = ServeProcess(
        "--issuer", dev_issuer.issuer, "--audience", dev_issuer.issuer_obj.client_id,
        "--store", "memory://",
    )  # fmt: skip
    try:
        process.wait_ready()
        yield process
        assert process.stop() == 0
    finally:
        process.kill()


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def process_socket(process: ServeProcess) -> socket.socket:
    host, port = process.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def closes_counted(process: ServeProcess, reason: str) -> int:
    metrics = httpx.get(process.url + "/metrics", timeout=5).text
    match = re.search(
        rf'^revoker_http_connections_closed_total{{reason="{reason}"}} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    assert match is not None, f"no {reason} count in /metrics"
    return int(float(match.group(1)))


@pytest.mark.parametrize(
    ("start", "chunk"),
    [pytest.param(b"X-Endless: ", b"a" * 65536, id="one-endless-header"),
     pytest.param(b"", b"X-Tiny: a\r\n" * 6000, id="endless-tiny-headers")],
)  # fmt: skip
def test_an_endless_head_gets_431_and_costs_bounded_memory(
    serve_process: ServeProcess, start: bytes, chunk: bytes
) -> None:
    """A head streamed without end (up to 32 MiB) at `revoker serve`: 431 early on, the
    rest refused, the process grows by less than 16 MiB, and /auth still answers at once."""
    before = rss_bytes(serve_process.process.pid)
    sock = process_socket(serve_process)
    sock.sendall(b"GET /auth HTTP/1.1\r\nHost: revoker\r\n" + start)
    sent = 0
    with contextlib.suppress(OSError):
        while sent < 32 * MIB and not select.select([sock], [], [], 0)[0]:  # bounded: 32 MiB
            sock.sendall(chunk)
            sent += len(chunk)
    answer, _ = read_until_closed(sock, 3.0)
    sock.close()
    grown = rss_bytes(serve_process.process.pid) - before
    started = time.perf_counter()
    assert httpx.get(serve_process.url + "/auth", timeout=5).status_code == 401
    assert time.perf_counter() - started < 0.5
    assert status_of(answer) == 431, answer[:80]
    assert sent < 8 * MIB
    assert grown < 16 * MIB, f"grew by {grown / MIB:.1f} MiB"


def test_clients_leaving_mid_body_are_quiet_closes_counted_in_metrics(
    serve_process: ServeProcess,
) -> None:
    """200 clients that send half a body to /revoke and hang up: no traceback, no error line
    in the log, and revoker_http_connections_closed_total{reason="client_disconnect"} counts
    each of them."""
    clients = 200
    counted = closes_counted(serve_process, "client_disconnect")
    for _ in range(clients):
        sock = process_socket(serve_process)
        sock.sendall(
            b"POST /revoke HTTP/1.1\r\nHost: revoker\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 150\r\n\r\n"
            b"token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"
        )
        sock.close()
    deadline = time.monotonic() + 5
    while closes_counted(serve_process, "client_disconnect") < counted + clients:
        assert time.monotonic() < deadline, "the closes were not all counted"
        time.sleep(0.05)
    assert closes_counted(serve_process, "client_disconnect") == counted + clients
    log = "\n".join(serve_process.stderr)
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    assert not [line for line in serve_process.stderr if " error " in line]
