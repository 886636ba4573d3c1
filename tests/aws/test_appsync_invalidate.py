"""The invalidation mutation: posted to a loopback stand-in for AppSync, signed with SigV4.

moto has no AppSync GraphQL endpoint, so a small HTTP server on 127.0.0.1 plays
it: it records each request and answers what the test tells it to.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.credentials import Credentials

from revoker.aws.appsync_invalidate import MUTATION, AppSyncInvalidator, appsync_region
from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import new_rule

T0 = 1_700_000_000.0
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool"


class FakeAppSync(ThreadingHTTPServer):
    """Records POSTs; answers ``status`` with ``document``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.status = 200
        self.document: dict[str, Any] = {"data": {"revokerInvalidate": True}}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server: FakeAppSync = self.server  # type: ignore[assignment]
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append((self.path, dict(self.headers), json.loads(body)))
                answer = json.dumps(server.document).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/graphql"


@pytest.fixture
def appsync() -> Iterator[FakeAppSync]:
    server = FakeAppSync()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def invalidator(url: str, clock: FrozenClock | None = None) -> AppSyncInvalidator:
    return AppSyncInvalidator(
        url,
        region="eu-west-1",
        clock=clock or FrozenClock(T0),
        credentials=lambda: Credentials("AKIDEXAMPLE", "secret-example"),
        timeout_seconds=5,
    )


def subject_rule(**options: Any) -> Any:
    return new_rule(
        "subject", "user-1", now=T0, limits=RegistryLimits(), actor="test", issuer=ISSUER, **options
    )


def test_a_rule_posts_the_mutation_with_its_payload_signed_for_appsync(
    appsync: FakeAppSync,
) -> None:
    """One POST of the mutation, the rule as variables, SigV4 for service appsync."""
    revocation = subject_rule()
    assert invalidator(appsync.url).invalidate(revocation) is True
    [(path, headers, body)] = appsync.requests
    assert path == "/graphql"
    assert body == {
        "query": MUTATION,
        "variables": {"kind": "subject", "value": "user-1", "issuer": ISSUER, "cutoff": T0},
    }
    assert headers["Content-Type"] == "application/json"
    signature = headers["Authorization"]
    assert signature.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/appsync/aws4_request" in signature
    assert "X-Amz-Date" in headers


def test_graphql_errors_are_a_failure_reported_not_raised(appsync: FakeAppSync) -> None:
    """AppSync answering errors (a missing mutation, no IAM permission): False, logged."""
    appsync.document = {"errors": [{"errorType": "UnauthorizedException", "message": "no"}]}
    assert invalidator(appsync.url).invalidate(subject_rule()) is False


def test_an_http_error_is_a_failure_reported_not_raised(appsync: FakeAppSync) -> None:
    """A 403 from AppSync: False."""
    appsync.status = 403
    assert invalidator(appsync.url).invalidate(subject_rule()) is False


def test_an_unreachable_endpoint_is_a_failure_reported_not_raised(appsync: FakeAppSync) -> None:
    """Nothing listening: False, within the timeout."""
    url = appsync.url
    appsync.shutdown()
    appsync.server_close()
    assert invalidator(url).invalidate(subject_rule()) is False


def test_an_expired_rule_sends_nothing(appsync: FakeAppSync) -> None:
    """A rule that can match no live token (a stream record delivered late) is skipped."""
    clock = FrozenClock(T0)
    revocation = subject_rule()
    assert revocation.expires_at is not None
    clock.now = revocation.expires_at + 1
    assert invalidator(appsync.url, clock).invalidate(revocation) is True
    assert appsync.requests == []


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (
            "https://abcdefghijklmnopqrstuvwxyz.appsync-api.eu-west-1.amazonaws.com/graphql",
            "eu-west-1",
        ),
        ("https://api.example.com/graphql", None),
    ],
)
def test_the_region_comes_from_the_default_host_name(url: str, region: str | None) -> None:
    """A custom domain names no region (AWS_REGION is used then)."""
    assert appsync_region(url) == region


def test_no_credentials_is_a_failure_reported_not_raised(appsync: FakeAppSync) -> None:
    """Without credentials nothing is sent: False, and AppSync saw no request."""
    without = AppSyncInvalidator(
        appsync.url, region="eu-west-1", clock=FrozenClock(T0), credentials=lambda: None
    )
    assert without.invalidate(subject_rule()) is False
    assert appsync.requests == []
