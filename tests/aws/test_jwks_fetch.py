"""The standard-library JWKS fetcher, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from revoker.aws.jwks_fetch import UrllibJwksFetcher
from revoker.core.errors import JwksUnavailable
from revoker.core.jwks import MAX_DOCUMENT_BYTES, JwksCache, JwksSource
from revoker.testing import TokenFactory

FACTORY = TokenFactory()
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/jwks.json": (200, {}, json.dumps(FACTORY.jwks()).encode()),
    "/redirect": (302, {"Location": "/jwks.json"}, b""),
    "/array": (200, {}, b"[]"),
    "/not-json": (200, {}, b"<html>"),
    "/broken": (500, {}, b"{}"),
    "/huge": (200, {}, b'{"keys": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}'),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_fetches_a_jwks_that_verifies_tokens(server: str) -> None:
    """The fetched JWKS feeds a key cache that verifies the factory's token."""
    cache = JwksCache(JwksSource.from_url(f"{server}/jwks.json"), fetcher=UrllibJwksFetcher())
    cache.warm()
    assert cache.kids == {FACTORY.kid}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/redirect", "HTTP 302", id="redirect-refused"),
        pytest.param("/array", "JSON object", id="not-an-object"),
        pytest.param("/not-json", "did not return JSON", id="not-json"),
        pytest.param("/broken", "HTTP 500", id="server-error"),
        pytest.param("/huge", "more than", id="too-large"),
        pytest.param("/missing", "HTTP 404", id="not-found"),
    ],
)
def test_every_failure_is_jwks_unavailable(server: str, path: str, message: str) -> None:
    """Redirects, bad bodies, HTTP errors and oversize documents all raise JwksUnavailable."""
    with pytest.raises(JwksUnavailable, match=message):
        UrllibJwksFetcher().fetch_json(f"{server}{path}")


def test_an_unreachable_host_is_jwks_unavailable() -> None:
    """A refused connection is a JwksUnavailable naming the failure, not an OSError."""
    with pytest.raises(JwksUnavailable, match="failed"):
        UrllibJwksFetcher(timeout_seconds=1).fetch_json("http://127.0.0.1:9/jwks.json")


def test_only_http_urls_are_fetched() -> None:
    """file:// and friends are refused before urllib sees them."""
    with pytest.raises(JwksUnavailable, match="http"):
        UrllibJwksFetcher().fetch_json("file:///etc/passwd")
