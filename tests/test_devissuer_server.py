"""The dev issuer over HTTP: its URLs, boto3's cognito-idp client against it, run_issuer."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from devissuer_support import ALICE, BOB, NOW, claims_of, login
from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError
from revoker.devissuer import (
    DevIssuerServer,
    run_issuer,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


# --- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def server(clock: FrozenClock) -> Iterator[DevIssuerServer]:
    with DevIssuerServer(users=[ALICE, BOB], clock=clock) as running:
        yield running


@pytest.fixture
def cognito(server: DevIssuerServer) -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_server_urls_follow_the_cognito_layout(server: DevIssuerServer) -> None:
    """issuer is {url}/{pool_id} and the JWKS lives at {issuer}/.well-known/jwks.json."""
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert server.issuer == f"{server.url}/us-east-1_RevokerDev"
    assert server.jwks_url == server.issuer + "/.well-known/jwks.json"
    assert server.issuer_obj.issuer == server.issuer


def test_server_publishes_discovery_and_jwks(server: DevIssuerServer) -> None:
    """GET discovery and JWKS return the issuer's JSON documents."""
    discovery = httpx.get(server.issuer + "/.well-known/openid-configuration", timeout=5)
    jwks = httpx.get(server.jwks_url, timeout=5)
    assert discovery.status_code == jwks.status_code == 200
    assert jwks.headers["content-type"] == "application/json"
    assert discovery.json()["jwks_uri"] == server.jwks_url
    assert jwks.json() == server.issuer_obj.jwks()


def test_boto3_sign_in_refresh_and_revoke_token(server: DevIssuerServer, cognito: Any) -> None:
    """boto3's real client signs in, refreshes, revokes; the revoked refresh is NotAuthorized."""
    client_id = server.issuer_obj.client_id
    result = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": "alice", "PASSWORD": "alice-password"},
    )["AuthenticationResult"]
    assert claims_of(result["IdToken"])["iss"] == server.issuer
    renewed = cognito.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId=client_id,
        AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
    )["AuthenticationResult"]
    assert (
        claims_of(renewed["AccessToken"])["origin_jti"]
        == claims_of(result["AccessToken"])["origin_jti"]
    )
    cognito.revoke_token(Token=result["RefreshToken"], ClientId=client_id)
    with pytest.raises(ClientError) as caught:
        cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
        )
    assert caught.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert caught.value.response["Error"]["Message"] == "Refresh Token has been revoked"


def test_boto3_global_sign_out(server: DevIssuerServer, cognito: Any) -> None:
    """boto3's global_sign_out kills the refresh token; a second call is NotAuthorized."""
    client_id = server.issuer_obj.client_id
    result = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": "bob", "PASSWORD": "bob-password"},
    )["AuthenticationResult"]
    cognito.global_sign_out(AccessToken=result["AccessToken"])
    for call in (
        lambda: cognito.global_sign_out(AccessToken=result["AccessToken"]),
        lambda: cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
        ),
    ):
        with pytest.raises(cognito.exceptions.NotAuthorizedException):
            call()


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ({"USERNAME": "alice", "PASSWORD": "wrong"}, "NotAuthorizedException"),
        ({"USERNAME": "eve", "PASSWORD": "pw"}, "UserNotFoundException"),
        (
            {"USERNAME": "alice", "PASSWORD": "alice-password", "ClientId": "otherclient"},
            "ResourceNotFoundException",
        ),
    ],
    ids=["wrong-password", "unknown-user", "unknown-client"],
)
def test_boto3_sees_cognitos_error_codes(
    server: DevIssuerServer, cognito: Any, call: dict[str, str], code: str
) -> None:
    """Errors reach boto3 as ClientError with the Cognito code and a message."""
    client_id = call.pop("ClientId", server.issuer_obj.client_id)
    with pytest.raises(ClientError) as caught:
        cognito.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters=call
        )
    error = caught.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


INITIATE_AUTH = {"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"}


@pytest.mark.parametrize(
    ("request_parts", "expected"),
    [
        (("/", {"X-Amz-Target": "AWSCognitoIdentityProviderService.AdminDeleteUser"}, b"{}"),
         (400, "ResourceNotFoundException")),
        (("/", {}, b"{}"), (400, "ResourceNotFoundException")),
        (("/", INITIATE_AUTH, b"{nope"), (400, "InvalidParameterException")),
        (("/", INITIATE_AUTH, b"[1]"), (400, "InvalidParameterException")),
        (("/", INITIATE_AUTH, b"[" * 100_000), (413, "InvalidParameterException")),
        (("/elsewhere", {}, b"{}"), (404, "ResourceNotFoundException")),
    ],
    ids=["unknown-action", "no-target", "bad-json", "not-an-object", "too-large", "unknown-path"],
)  # fmt: skip
def test_bad_requests_get_cognito_shaped_errors(
    server: DevIssuerServer,
    request_parts: tuple[str, dict[str, str], bytes],
    expected: tuple[int, str],
) -> None:
    """Malformed calls get a JSON {__type, message} body and a 4xx, never a 500."""
    path, headers, body = request_parts
    status, code = expected
    response = httpx.post(
        server.url + path,
        content=body,
        headers={"Content-Type": "application/x-amz-json-1.1", **headers},
        timeout=5,
    )
    assert response.status_code == status
    assert response.json()["__type"] == code
    assert response.headers["x-amzn-ErrorType"] == code


def test_rotate_keys_endpoint_publishes_the_new_kid(server: DevIssuerServer) -> None:
    """POST /{pool}/rotate-keys returns the new kid, which the JWKS then lists first."""
    old_kid = server.issuer_obj.current_kid
    response = httpx.post(server.issuer + "/rotate-keys", timeout=5)
    assert response.status_code == 200
    new_kid = response.json()["kid"]
    kids = [key["kid"] for key in httpx.get(server.jwks_url, timeout=5).json()["keys"]]
    assert kids == [new_kid, old_kid]


def test_stop_closes_the_port_and_is_idempotent() -> None:
    """After stop() the port refuses connections; stop() twice is fine; start() again is not."""
    server = DevIssuerServer(users=[ALICE]).start()
    assert httpx.get(server.jwks_url, timeout=5).status_code == 200
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.jwks_url, timeout=5)
    with pytest.raises(RuntimeError):
        server.start()


def test_a_server_never_started_stops_at_once() -> None:
    """stop() on a server that never served closes its socket without waiting for a loop."""
    server = DevIssuerServer(users=[ALICE])
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.jwks_url, timeout=5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"pool_id": "not a pool"}, "pool"), ({"access_lifetime_seconds": 0}, "lifetime")],
    ids=["bad-pool-id", "bad-lifetime"],
)
def test_server_configuration_errors(kwargs: dict[str, Any], match: str) -> None:
    """A bad pool id or issuer setting is a ConfigurationError raised by the constructor."""
    with pytest.raises(ConfigurationError, match=match):
        DevIssuerServer(users=[ALICE], **kwargs)


def test_public_url_replaces_the_bound_address_in_the_issuer() -> None:
    """public_url sets the issuer that tokens carry, for clients that reach it by another name."""
    with DevIssuerServer(users=[ALICE], public_url="http://issuer.local:9000/") as server:
        assert server.issuer == "http://issuer.local:9000/us-east-1_RevokerDev"
        assert claims_of(login(server.issuer_obj)["AccessToken"])["iss"] == server.issuer


# --- run_issuer ----------------------------------------------------------------------------


class _Lines(io.StringIO):
    """A stdout stand-in that tells a waiting test when the banner is complete."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def flush(self) -> None:
        self.ready.set()


def test_run_issuer_prints_where_and_for_whom_then_stops_on_request() -> None:
    """run_issuer prints the issuer, JWKS URL and users, serves, and returns when stopped."""
    out, stop = _Lines(), threading.Event()
    thread = threading.Thread(
        target=run_issuer,
        args=("127.0.0.1", 0, [ALICE, BOB], "eu-west-1_Demo"),
        kwargs={"out": out, "stop": stop},
        daemon=True,
    )
    thread.start()
    try:
        assert out.ready.wait(10)
        banner = out.getvalue()
        jwks_url = re.search(r"jwks:\s+(\S+)", banner)
        assert jwks_url is not None
        assert jwks_url[1].endswith("/eu-west-1_Demo/.well-known/jwks.json")
        assert "alice (groups: admin,staff), bob" in banner
        assert "alice-password" not in banner
        assert httpx.get(jwks_url[1], timeout=5).status_code == 200
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_run_issuer_exits_cleanly_on_sigterm() -> None:
    """The blocking issuer stops with exit status 0 when the process gets SIGTERM."""
    code = (
        "from revoker.devissuer import DevUser, run_issuer;"
        "run_issuer('127.0.0.1', 0, [DevUser('alice', 'pw', 'a@example.com')], 'us-east-1_X')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        jwks_url = re.search(r"jwks:\s+(\S+)", "".join(lines))
        assert jwks_url is not None, lines
        assert json.loads(httpx.get(jwks_url[1], timeout=5).text)["keys"]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
