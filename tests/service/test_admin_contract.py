"""One contract, two transports: ``revoker serve`` (Starlette on a real uvicorn) and the API
Gateway revoke function (proxy events, REST payload 1.0) answer every admin, /revoke and
/introspect request the same, status and body, from the same settings, store and clock.

Each step runs on both; the bodies are compared after the random ids of admin-created rules
are replaced by the order they first appeared in (the ids of self-revocations are
deterministic, so they are compared as they are).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from service_support import ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET, T0, Serve, basic, bearer

from revoker.app.compose import Revoker
from revoker.app.settings import Settings
from revoker.aws.clients import AwsClients
from revoker.aws.revoke_handler import handle
from revoker.aws.runtime import Runtime
from revoker.core.tokens import b64url_encode
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, StaticJwksFetcher, TokenFactory
from ssf_transmitter import CAEP, RISC, Transmitter

_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
Reply = tuple[int, Any, dict[str, str]]
Call = Callable[..., Reply]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def settings_for(factory: TokenFactory) -> Settings:
    return Settings(
        issuers=(factory.issuer,),
        audience=(factory.client_id,),
        store_url="memory://",
        admin_token=ADMIN_TOKEN,
        introspect_clients=((CLIENT_ID, CLIENT_SECRET),),
    )


@dataclass
class Transports:
    service: Call
    aws: Call


def _body(content: bytes) -> Any:
    return json.loads(content) if content else None


PUSH_TOKEN = "push-token-for-tests-0123456789"
GTR_TOKEN = "gtr-token-for-tests-0123456789"


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    with Transmitter(audience="revoker-receiver") as running:
        yield running


@pytest.fixture
def transports(
    factory: TokenFactory, clock: FrozenClock, serve: Serve, transmitter: Transmitter,
    tmp_path: Path,
) -> Iterator[Transports]:  # fmt: skip
    """Both transports, each on its own memory store, from the same settings and clock."""
    settings = settings_for(factory).replace(
        ssf_transmitters=(transmitter.issuer,),
        ssf_audience=("revoker-receiver",),
        ssf_push_token=PUSH_TOKEN,
        ssf_streams_file=str(tmp_path / "ssf-streams.json"),
        gtr_token=GTR_TOKEN,
    )
    fetcher = StaticJwksFetcher(factory.jwks())
    state = ServiceState.build(settings, fetcher=fetcher, clock=clock)
    revoker = Revoker.from_settings(settings, fetcher=fetcher, clock=clock, effects=False)
    runtime = Runtime(revoker=revoker, clients=AwsClients(), passthrough=None)
    revoker.start(follow=False)
    with serve(build_app(state)) as client:

        def service(method: str, path: str, **request: Any) -> Reply:
            response = client.request(
                method,
                path,
                headers=request.get("headers"),
                content=request.get("content", b""),
                params=request.get("query"),
            )
            return response.status_code, _body(response.content), dict(response.headers)

        def aws(method: str, path: str, **request: Any) -> Reply:
            content: bytes = request.get("content", b"")
            event = {
                "resource": path,
                "path": path,
                "httpMethod": method,
                "headers": request.get("headers") or {},
                "queryStringParameters": request.get("query"),
                "requestContext": {"stage": "prod", "identity": {"sourceIp": "127.0.0.1"}},
                "body": content.decode("utf-8", "surrogateescape") if content else None,
                "isBase64Encoded": False,
            }
            answer = handle(runtime, event)
            lowered = {name.lower(): value for name, value in answer["headers"].items()}
            return answer["statusCode"], _body(answer["body"].encode()), lowered

        yield Transports(service, aws)
    runtime.close()


class Ids:
    """Replaces rule ids by their order of first appearance, per transport."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._id(v) if k in ("id", "rule_id") else self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, str):  # an id quoted in a message
            return _HEX_ID.sub(lambda found: self._id(found.group(0)), value)
        return value

    def _id(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.isalnum() or len(value) != 32:
            return value
        return self.seen.setdefault(value, f"rule-{len(self.seen)}")


def same(transports: Transports, ids: tuple[Ids, Ids], method: str, path: str,
         **request: Any) -> Reply:  # fmt: skip
    """Run one request on both transports; they must answer the same status and body."""
    status_a, body_a, headers_a = transports.service(method, path, **request)
    status_b, body_b, headers_b = transports.aws(method, path, **request)
    assert (status_a, ids[0](body_a)) == (status_b, ids[1](body_b)), f"{method} {path}"
    for name in ("www-authenticate", "retry-after", "cache-control"):
        assert headers_a.get(name) == headers_b.get(name), name
    return status_a, body_a, headers_a


def admin_json(body: Any, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    return {
        "headers": {**bearer(token), "content-type": "application/json"},
        "content": json.dumps(body).encode(),
    }


def form(*, auth: str | None = None, **fields: str) -> dict[str, Any]:
    """A form request, with ``Authorization: Bearer <auth>`` when given."""
    headers = {"content-type": FORM}
    if auth is not None:
        headers.update(bearer(auth))
    return {"headers": headers, "content": urlencode(fields).encode()}


@pytest.fixture
def ids() -> tuple[Ids, Ids]:
    return Ids(), Ids()


def test_rules_create_list_get_lift_and_audit_alike(
    transports: Transports, ids: tuple[Ids, Ids], clock: FrozenClock
) -> None:
    """The rule life cycle: the same envelopes, pages and audit entries on both."""
    new = admin_json({"kind": "subject", "value": "user-9", "reason": "fired"})
    status, body, _ = same(transports, ids, "POST", "/admin/rules", **new)
    assert (status, body["rule"]["cutoff"]) == (201, T0)
    admin = bearer(ADMIN_TOKEN)
    listed = {"kind": "subject", "limit": "10"}
    _, page, _ = same(transports, ids, "GET", "/admin/rules", headers=admin, query=listed)
    assert (len(page["rules"]), page["limit"], page["offset"]) == (1, 10, 0)
    rule_ids = (body["rule"]["id"], transports.aws("GET", "/admin/rules", headers=admin)[1])
    aws_id = rule_ids[1]["rules"][0]["id"]
    for method, query in (("GET", None), ("DELETE", {"reason": "oops"}), ("DELETE", None)):
        clock.advance(1)
        status_a, body_a, _ = transports.service(
            method, f"/admin/rules/{rule_ids[0]}", headers=admin, query=query
        )
        status_b, body_b, _ = transports.aws(
            method, f"/admin/rules/{aws_id}", headers=admin, query=query
        )
        assert (status_a, ids[0](body_a)) == (status_b, ids[1](body_b)), method
    assert (status_a, body_a["error"]) == (404, "rule_not_found")  # lifted already
    same(transports, ids, "GET", "/admin/rules/no-such-rule", headers=admin)
    since = {"since_seq": "0", "limit": "10"}
    _, audit, _ = same(transports, ids, "GET", "/admin/audit", headers=admin, query=since)
    assert [entry["action"] for entry in audit["entries"]] == ["revoke", "lift"]


def _json_body(content: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"headers": {**bearer(ADMIN_TOKEN), "content-type": content_type}, "content": content}


@pytest.mark.parametrize(
    ("method", "path", "request_"),
    [
        ("POST", "/admin/rules", {"headers": {"content-type": JSON}, "content": b"{}"}),
        ("POST", "/admin/rules", admin_json({"kind": "token", "value": "x"}, token="wrong-" * 4)),
        ("GET", "/admin/rules", {"headers": {"authorization": basic(CLIENT_ID, CLIENT_SECRET)}}),
        ("POST", "/admin/rules", admin_json({"kind": "planet", "value": "x"})),
        ("POST", "/admin/rules", admin_json({"kind": "token", "value": "x", "actor": "me"})),
        ("POST", "/admin/rules", admin_json({"kind": "token", "value": " x"})),
        ("POST", "/admin/rules",
         admin_json({"kind": "session", "value": "s", "issuer": "https://nope"})),
        ("POST", "/admin/rules", admin_json({"kind": "token", "value": "a\x00b"})),
        ("POST", "/admin/rules", _json_body(b'{"kind": "token", "kind": "subject", "value": "x"}')),
        ("POST", "/admin/rules", _json_body(b"kind=token&value=x", FORM)),
        ("POST", "/admin/rules", _json_body(b'{"kind": ')),
        ("GET", "/admin/rules", {"headers": bearer(ADMIN_TOKEN), "query": {"limit": "1001"}}),
        ("GET", "/admin/audit", {"headers": bearer(ADMIN_TOKEN), "query": {"limit": "0"}}),
        ("PUT", "/admin/rules", {"headers": bearer(ADMIN_TOKEN)}),
        ("GET", "/admin/nothing", {"headers": bearer(ADMIN_TOKEN)}),
        ("POST", "/admin/check", admin_json({"token": ""})),
    ],
    ids=["no-credential", "wrong-bearer", "client-is-not-admin", "bad-kind", "no-actor-field",
         "value-with-space", "untrusted-issuer-scope", "nul", "repeated-member", "form",
         "bad-json", "page-too-big", "zero-limit", "method", "route", "empty-token"],
)  # fmt: skip
def test_bad_admin_requests_get_the_same_error(
    transports: Transports, ids: tuple[Ids, Ids], method: str, path: str, request_: dict[str, Any]
) -> None:
    """Every refusal: the same status, code and description on both transports."""
    status, body, _ = same(transports, ids, method, path, **request_)
    assert 400 <= status < 500
    assert set(body) <= {"error", "error_description"}


def test_self_revocation_introspection_and_check_alike(
    transports: Transports, ids: tuple[Ids, Ids], factory: TokenFactory
) -> None:
    """RFC 7009 and RFC 7662 answers, and /admin/check's decision document, match."""
    token = factory.access_token()
    client = {"authorization": basic(CLIENT_ID, CLIENT_SECRET), "content-type": FORM}
    _, active, _ = same(transports, ids, "POST", "/introspect", headers=client,
                        content=urlencode({"token": token}).encode())  # fmt: skip
    assert active["active"] is True
    same(transports, ids, "POST", "/introspect", **form(auth="x" * 20, token=token))
    same(transports, ids, "POST", "/admin/check", **admin_json({"token": token}))
    assert same(transports, ids, "POST", "/revoke", **form(token=token))[0] == 200
    same(transports, ids, "POST", "/revoke", **form(token=token))  # again: nothing new
    other = factory.access_token()  # a valid bearer, but not the token revoked
    same(transports, ids, "POST", "/revoke", **form(auth=other, token=token))
    same(transports, ids, "POST", "/revoke", **form(token="garbage"))
    same(transports, ids, "POST", "/revoke", **form())
    jwe = b64url_encode(json.dumps({"enc": "A256GCM", "alg": "RSA-OAEP"}).encode()) + ".a.b.c.d"
    assert same(transports, ids, "POST", "/revoke", **form(token=jwe))[0] == 400
    _, inactive, _ = same(transports, ids, "POST", "/introspect", headers=client,
                          content=urlencode({"token": token}).encode())  # fmt: skip
    assert inactive == {"active": False}
    _, decision, _ = same(transports, ids, "POST", "/admin/check", **admin_json({"token": token}))
    assert decision["reason"] == "revoked_family"
    _, audit, _ = same(transports, ids, "GET", "/admin/audit", headers=bearer(ADMIN_TOKEN))
    assert [entry["actor"] for entry in audit["entries"]] == ["self:user-1"]


def test_the_failed_credential_limit_is_the_same(
    transports: Transports, ids: tuple[Ids, Ids]
) -> None:
    """Ten wrong admin tokens from one address, then 429 with Retry-After on both."""
    for attempt in range(10):
        wrong = bearer(f"wrong-admin-token-{attempt:04d}")
        assert same(transports, ids, "GET", "/admin/rules", headers=wrong)[0] == 401
    status, _, headers = same(transports, ids, "GET", "/admin/rules", headers=bearer(ADMIN_TOKEN))
    assert (status, headers["retry-after"]) == (429, "60")
    client = {"authorization": basic(CLIENT_ID, CLIENT_SECRET), "content-type": FORM}
    # A separate budget: the guesses at the admin token did not lock the client out.
    assert same(transports, ids, "POST", "/introspect", headers=client,
                content=b"token=x")[0] == 200  # fmt: skip


def test_back_channel_logout_alike(
    transports: Transports, ids: tuple[Ids, Ids], factory: TokenFactory
) -> None:
    """The same logout token is applied, replayed and refused the same way on both."""
    token = factory.logout_token(sid="session-9")
    for body in (token, token, factory.access_token(), ""):
        same(transports, ids, "POST", "/backchannel-logout", **form(logout_token=body))
    _, rules, _ = same(transports, ids, "GET", "/admin/rules", headers=bearer(ADMIN_TOKEN))
    assert [(rule["kind"], rule["value"]) for rule in rules["rules"]] == [("session", "session-9")]


def pushed(set_token: str, *, token: str | None = PUSH_TOKEN,
           content_type: str = "application/secevent+jwt") -> dict[str, Any]:  # fmt: skip
    headers = {"content-type": content_type}
    if token is not None:
        headers.update(bearer(token))
    return {"headers": headers, "content": set_token.encode()}


def test_shared_signals_pushes_alike(
    transports: Transports, ids: tuple[Ids, Ids], factory: TokenFactory, transmitter: Transmitter
) -> None:
    """/ssf/events: the same 202s, the same 400 err codes, one rule per jti on both."""
    user = {"format": "iss_sub", "iss": factory.issuer, "sub": "user-1"}
    disabled = transmitter.event(RISC + "account-disabled", sub_id=user, iat=T0)
    revoked = transmitter.event(CAEP + "session-revoked", sub_id={"format": "opaque", "id": "s"},
                                iat=T0)  # fmt: skip
    for request in (
        pushed(disabled), pushed(disabled), pushed(revoked),
        pushed(transmitter.event(RISC + "account-disabled", sub_id=user, iat=T0, aud="other")),
        pushed(transmitter.event(RISC + "account-disabled", sub_id=user, iat=T0 - 90_000)),
        pushed(factory.access_token()), pushed("garbage"), pushed(disabled, token=None),
        pushed(disabled, token="wrong-push-token-0000"),
        pushed(disabled, content_type="application/json"),
    ):  # fmt: skip
        status, body, _ = same(transports, ids, "POST", "/ssf/events", **request)
        assert status in (202, 400)
        assert body is None or set(body) == {"err", "description"}
    _, rules, _ = same(transports, ids, "GET", "/admin/rules", headers=bearer(ADMIN_TOKEN))
    assert [(rule["kind"], rule["value"]) for rule in rules["rules"]] == [
        ("subject", "user-1"), ("session", "s"),
    ]  # fmt: skip


def test_global_token_revocation_alike(transports: Transports, ids: tuple[Ids, Ids]) -> None:
    """/global-token-revocation: 204, 400, 401 and the rule the same on both."""
    json_body = {"content-type": "application/json"}
    for headers, body in (
        ({**json_body, **bearer(GTR_TOKEN)}, {"sub_id": {"format": "email", "email": "a@x.io"}}),
        ({**json_body, **bearer(GTR_TOKEN)}, {"sub_id": {"format": "phone_number"}}),
        ({**json_body, **bearer(GTR_TOKEN)}, {"subject": "a"}),
        ({**json_body, **bearer("wrong-gtr-token-0000")}, {"sub_id": {"format": "opaque"}}),
        (json_body, {"sub_id": {"format": "opaque", "id": "u"}}),
    ):
        same(transports, ids, "POST", "/global-token-revocation", headers=headers,
             content=json.dumps(body).encode())  # fmt: skip
    _, rules, _ = same(transports, ids, "GET", "/admin/rules", headers=bearer(ADMIN_TOKEN))
    assert [(rule["kind"], rule["value"]) for rule in rules["rules"]] == [("email", "a@x.io")]
