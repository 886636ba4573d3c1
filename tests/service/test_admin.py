"""/admin: credentials (never open), rules of every kind, listing with filters and paging,
lifting, the audit log, the token check, body limits and clear 4xx for bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from service_support import ADMIN, ADMIN_TOKEN, CLIENT, T0, Serve, SwitchableStore, bearer
from service_support import make_state as make

from revoker.service.app import build_app
from revoker.testing import TEST_ISSUER, FrozenClock, TokenFactory

ROUTES = [
    ("POST", "/admin/rules", {"kind": "token", "value": "jti-1"}),
    ("GET", "/admin/rules", None),
    ("DELETE", "/admin/rules/some-id", None),
    ("GET", "/admin/audit", None),
    ("POST", "/admin/check", {"token": "x"}),
]
ROUTE_IDS = ["create", "list", "lift", "audit", "check"]


def call(
    client: httpx.Client, method: str, path: str, body: Any = None, headers: Any = None
) -> httpx.Response:
    return client.request(method, path, json=body, headers=ADMIN if headers is None else headers)


def create(client: httpx.Client, **body: Any) -> httpx.Response:
    return call(client, "POST", "/admin/rules", body)


# --- credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_without_an_admin_token_configured_the_admin_api_is_closed(
    factory: TokenFactory, serve: Serve, method: str, path: str, body: Any
) -> None:
    """No --admin-token: every admin route answers 403 admin_disabled, whatever is sent."""
    with serve(build_app(make(factory, admin_token=None))) as client:
        for headers in ({}, ADMIN, bearer("x")):
            response = call(client, method, path, body, headers)
            assert response.status_code == 403
            assert response.json()["error"] == "admin_disabled"


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "unauthorized"),
        (bearer(ADMIN_TOKEN[:-1]), 401, "invalid_token"),
        (bearer(ADMIN_TOKEN + "0"), 401, "invalid_token"),
        ({"Authorization": "Basic YWRtaW46eA=="}, 401, "invalid_client"),
        (CLIENT, 403, "insufficient_scope"),
        ({"Authorization": f"bearer {ADMIN_TOKEN}"}, 200, None),
    ],
    ids=["missing", "truncated", "extended", "basic", "introspection-client", "lower-case"],
)
def test_admin_credentials(
    client: httpx.Client,
    route: tuple[str, str, Any],
    headers: dict[str, str],
    status: int,
    error: str | None,
) -> None:
    """Only the admin bearer passes (scheme case-insensitive); anything else is 401 or 403."""
    response = call(client, *route, headers=headers)
    if error is None:
        assert response.status_code not in (401, 403, 429), response.text
        return
    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_failed_admin_tokens_are_limited_per_address(
    client: httpx.Client, clock: FrozenClock
) -> None:
    """10 wrong admin tokens in a minute, then 429 with Retry-After for every admin call."""
    for attempt in range(10):
        wrong = bearer(f"wrong-admin-token-{attempt:04d}")
        assert call(client, "GET", "/admin/rules", headers=wrong).status_code == 401
    limited = call(client, "GET", "/admin/rules")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) == 60
    clock.advance(30)
    assert int(call(client, "GET", "/admin/audit").headers["retry-after"]) == 30
    clock.advance(31)
    assert call(client, "GET", "/admin/rules").status_code == 200


# --- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"kind": "token", "value": "jti-1"}, {"cutoff": None}),
        ({"kind": "family", "value": "origin-1", "reason": "logout"}, {"reason": "logout"}),
        ({"kind": "session", "value": "sid-1", "issuer": TEST_ISSUER}, {"issuer": TEST_ISSUER}),
        ({"kind": "subject", "value": "user-1"}, {"cutoff": T0}),
        ({"kind": "client", "value": "app-1", "cutoff": T0 - 60}, {"cutoff": T0 - 60}),
        ({"kind": "key", "value": "kid-1"}, {"expires_at": None}),
        ({"kind": "issuer", "value": "https://iss", "cutoff": "2023-11-14T22:13:00Z"},
         {"cutoff": 1_699_999_980.0}),
        ({"kind": "subject", "value": "user-2", "cutoff": "now", "expires_at": T0 + 99},
         {"cutoff": T0, "expires_at": T0 + 99}),
    ],
    ids=["token", "family", "session", "subject-default-cutoff", "client-epoch", "key",
         "issuer-iso8601", "now-and-expires"],
)  # fmt: skip
def test_rules_of_every_kind_are_created_durably_and_audited(
    client: httpx.Client, store: SwitchableStore, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    """201 with the rule; it is in the store, and the audit log names the admin."""
    response = create(client, **body)
    assert response.status_code == 201, response.text
    rule = response.json()["rule"]
    assert rule["kind"] == body["kind"]
    assert rule["value"] == body["value"]
    assert rule["actor"] == "admin"
    for name, value in expected.items():
        assert rule[name] == value, name
    assert store.inner.get(rule["id"]) is not None
    (entry,) = call(client, "GET", "/admin/audit").json()["entries"]
    assert (entry["action"], entry["rule_id"], entry["actor"]) == ("revoke", rule["id"], "admin")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "everything", "value": "x"}, "unknown rule kind 'everything'"),
        ({"value": "x"}, "'kind' is required"),
        ({"kind": "token"}, "'value' is required"),
        ({"kind": "token", "value": 7}, "'value' must be a string"),
        ({"kind": "token", "value": "x", "expire_at": 1}, "unknown field 'expire_at'"),
        ({"kind": "subject", "value": "x", "cutoff": "yesterday"}, "not an ISO 8601 time"),
        ({"kind": "subject", "value": "x", "cutoff": True}, "epoch seconds"),
        ({"kind": "subject", "value": "x", "cutoff": 10**400}, "finite"),
        ({"kind": "subject", "value": "x", "cutoff": T0 + 3600}, "cutoff lies in the future"),
        ({"kind": "token", "value": "x", "expires_at": T0 - 1}, "expires_at lies in the past"),
        ({"kind": "token", "value": "x", "cutoff": T0}, "takes no cutoff"),
        ({"kind": "token", "value": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}, "whole token"),
        ({"kind": "token", "value": "x" * 2000}, "longer than"),
    ],
    ids=["unknown-kind", "no-kind", "no-value", "value-type", "unknown-field", "bad-time",
         "bool-time", "huge-time", "future-cutoff", "past-expiry", "cutoff-on-token",
         "whole-token", "too-long"],
)  # fmt: skip
def test_a_bad_rule_is_400_with_a_clear_message(
    client: httpx.Client, store: SwitchableStore, body: dict[str, Any], message: str
) -> None:
    """Bad input: 400 invalid_rule naming the problem; nothing is stored."""
    response = create(client, **body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_rule"
    assert message in response.json()["error_description"]
    assert store.inner.snapshot(T0)[1] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"kind": "token",', "application/json", 400),
        (b'["token", "x"]', "application/json", 400),
        (b'{"kind": "token", "value": NaN}', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"kind=token&value=x", "application/x-www-form-urlencoded", 415),
    ],
    ids=["truncated-json", "array", "nan", "not-utf8", "form"],
)
def test_bad_json_is_400_and_another_media_type_415(
    client: httpx.Client, content: bytes, content_type: str, status: int
) -> None:
    """Not a JSON object: 400 invalid_request with the parse error; a form: 415."""
    response = client.post(
        "/admin/rules", content=content, headers={**ADMIN, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    """The admin body limit (64 KiB) holds for rules and checks."""
    big = {"kind": "token", "value": "x", "reason": "r" * 70_000}
    assert create(client, **big).status_code == 413
    assert call(client, "POST", "/admin/check", {"token": "t" * 70_000}).status_code == 413


def test_a_store_outage_on_a_write_is_503_store_unavailable(
    client: httpx.Client, store: SwitchableStore
) -> None:
    """The store cannot take the rule: 503 with a stable error and Retry-After, never a 500."""
    store.failing = True
    response = create(client, kind="token", value="jti-1")
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert "retry-after" in response.headers
    assert call(client, "GET", "/admin/rules").status_code == 503
    assert call(client, "DELETE", "/admin/rules/abc").status_code == 503


def test_listing_filters_and_pages(client: httpx.Client) -> None:
    """Filters combine; limit and offset page through the rules, oldest first."""
    for index in range(5):
        assert create(client, kind="token", value=f"jti-{index}").status_code == 201
    assert create(client, kind="session", value="sid-1", issuer=TEST_ISSUER).status_code == 201
    everything = call(client, "GET", "/admin/rules").json()
    assert [r["value"] for r in everything["rules"]][:2] == ["jti-0", "jti-1"]
    assert len(everything["rules"]) == 6
    page = call(client, "GET", "/admin/rules?kind=token&limit=2&offset=2").json()
    assert [r["value"] for r in page["rules"]] == ["jti-2", "jti-3"]
    assert (page["limit"], page["offset"]) == (2, 2)
    by_value = call(client, "GET", "/admin/rules?value=jti-4").json()["rules"]
    assert [r["value"] for r in by_value] == ["jti-4"]
    by_issuer = call(client, "GET", f"/admin/rules?issuer={TEST_ISSUER}").json()["rules"]
    assert [r["kind"] for r in by_issuer] == ["session"]


def test_expired_rules_are_listed_only_when_asked(client: httpx.Client, clock: FrozenClock) -> None:
    """include_expired=true also lists rules past expires_at that were not pruned yet."""
    assert create(client, kind="token", value="jti-1", expires_at=T0 + 10).status_code == 201
    clock.advance(11)
    assert call(client, "GET", "/admin/rules").json()["rules"] == []
    listed = call(client, "GET", "/admin/rules?include_expired=true").json()["rules"]
    assert [r["value"] for r in listed] == ["jti-1"]


@pytest.mark.parametrize(
    "query",
    ["kind=everything", "limit=0", "limit=1001", "limit=ten", "offset=-1",
     "include_expired=maybe"],
    ids=["kind", "limit-zero", "limit-large", "limit-text", "offset-negative", "bool"],
)  # fmt: skip
def test_bad_list_parameters_are_400(client: httpx.Client, query: str) -> None:
    """Each bad filter or page parameter: 400 with its name in the message."""
    response = call(client, "GET", f"/admin/rules?{query}")
    assert response.status_code == 400
    assert query.split("=", maxsplit=1)[0] in response.json()["error_description"]


def test_lifting_a_rule_allows_its_tokens_again_and_is_audited(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """DELETE lifts the rule (200, the rule); a second DELETE is 404 rule_not_found."""
    token = factory.access_token(sub="user-5")
    factory.clock.advance(1)
    rule = create(client, kind="subject", value="user-5").json()["rule"]
    assert client.get("/auth", headers=bearer(token)).status_code == 401
    lifted = call(client, "DELETE", f"/admin/rules/{rule['id']}?reason=mistake")
    assert lifted.status_code == 200
    assert lifted.json()["rule"]["id"] == rule["id"]
    assert client.get("/auth", headers=bearer(token)).status_code == 200
    again = call(client, "DELETE", f"/admin/rules/{rule['id']}")
    assert again.status_code == 404
    assert again.json()["error"] == "rule_not_found"
    entries = call(client, "GET", "/admin/audit").json()["entries"]
    assert [(e["action"], e["actor"], e["reason"]) for e in entries] == [
        ("revoke", "admin", ""),
        ("lift", "admin", "mistake"),
    ]


def test_the_audit_log_pages_by_sequence(client: httpx.Client) -> None:
    """limit and since select audit entries after a sequence number."""
    for index in range(3):
        create(client, kind="token", value=f"jti-{index}")
    entries = call(client, "GET", "/admin/audit").json()["entries"]
    first = entries[0]["seq"]
    after = call(client, "GET", f"/admin/audit?since_seq={first}&limit=1").json()["entries"]
    assert [e["value"] for e in after] == ["jti-1"]
    assert call(client, "GET", "/admin/audit?limit=0").status_code == 400


# --- check ----------------------------------------------------------------------------------


def test_check_returns_the_decision_rule_and_claims(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """POST /admin/check: allowed with claims; after a rule, denied with its reason and rule."""
    claims = factory.base_claims("access")
    token = factory.sign(claims)
    allowed = call(client, "POST", "/admin/check", {"token": token}).json()
    assert allowed["allowed"] is True
    assert allowed["reason"] == "allowed"
    assert allowed["rule"] is None
    assert allowed["claims"]["jti"] == claims["jti"]
    rule = create(client, kind="family", value=claims["origin_jti"]).json()["rule"]
    denied = call(client, "POST", "/admin/check", {"token": token}).json()
    assert (denied["allowed"], denied["reason"]) == (False, "revoked_family")
    assert denied["rule"]["id"] == rule["id"]


def test_check_gives_the_reason_code_of_a_bad_token(client: httpx.Client) -> None:
    """A bad token is a 200 decision with its reason code, its detail and no claims, never a 5xx."""
    document = call(client, "POST", "/admin/check", {"token": "garbage"}).json()
    assert document.pop("detail")
    assert document == {"allowed": False, "reason": "malformed", "rule": None, "claims": None}


@pytest.mark.parametrize(
    "body",
    [{}, {"token": ""}, {"token": 5}, {"token": "x", "extra": 1}],
    ids=["empty", "empty-token", "number", "unknown-field"],
)
def test_check_refuses_a_bad_body_with_400(client: httpx.Client, body: dict[str, Any]) -> None:
    """The check body is {"token": "<jwt>"} and nothing else."""
    response = call(client, "POST", "/admin/check", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_admin_routes_give_405_with_allow_for_other_methods(client: httpx.Client) -> None:
    """An unsupported method is 405 listing every allowed one."""
    response = call(client, "PUT", "/admin/rules", {})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
