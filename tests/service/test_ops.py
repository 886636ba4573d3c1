"""Operations: /healthz, /readyz (fails when the replica is stale), /metrics (decisions, latency,
rules by kind, replica lag, JWKS fetches) and /openapi.json (every route described)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from service_support import ADMIN, Serve, SwitchableStore, bearer, make_state

from revoker.service import api_routes, ops
from revoker.service.app import build_app
from revoker.service.openapi import openapi_document
from revoker.testing import FrozenClock, TokenFactory


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_healthz_answers_while_the_process_lives(client: httpx.Client) -> None:
    """/healthz: 200 {"status": "ok"}."""
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_200_when_fresh_and_503_when_stale(
    factory: TokenFactory, clock: FrozenClock, serve: Serve
) -> None:
    """/readyz follows the replica: 503 "stale" once it could not sync for max_staleness."""
    store = SwitchableStore()
    with serve(build_app(make_state(factory, store))) as client:
        ready = client.get("/readyz")
        store.failing = True
        clock.advance(31)
        stale = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert stale.status_code == 503
    assert stale.json()["status"] == "stale"
    assert stale.json()["replica_lag_seconds"] == 31


def test_metrics_count_decisions_by_reason_and_time_them(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Each /auth decision is counted under its reason; the histogram counts every check."""
    token = factory.access_token()
    for _ in range(3):
        client.get("/auth", headers=bearer(token))
    client.get("/auth", headers=bearer("garbage"))
    client.get("/auth")
    client.post("/introspect", data={"token": token}, headers=ADMIN)
    found = samples(client)
    decisions = "revoker_decisions_total"
    assert found[(decisions, (("endpoint", "auth"), ("reason", "allowed")))] == 3
    assert found[(decisions, (("endpoint", "auth"), ("reason", "malformed")))] == 1
    assert found[(decisions, (("endpoint", "auth"), ("reason", "missing_token")))] == 1
    assert found[(decisions, (("endpoint", "introspect"), ("reason", "allowed")))] == 1
    assert found[("revoker_decision_seconds_count", ())] == 4


def test_metrics_show_rules_by_kind_replica_lag_and_jwks_fetches(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Scrape-time gauges: active rules per kind, replica lag and seq; JWKS fetches per source."""
    client.post("/admin/rules", json={"kind": "key", "value": "kid-9"}, headers=ADMIN)
    client.post("/admin/rules", json={"kind": "subject", "value": "u"}, headers=ADMIN)
    client.post("/admin/rules", json={"kind": "subject", "value": "v"}, headers=ADMIN)
    found = samples(client)
    assert found[("revoker_rules_active", (("kind", "subject"),))] == 2
    assert found[("revoker_rules_active", (("kind", "key"),))] == 1
    assert found[("revoker_rules_active", (("kind", "token"),))] == 0
    assert found[("revoker_replica_lag_seconds", ())] == 0
    assert found[("revoker_replica_fresh", ())] == 1
    assert found[("revoker_replica_seq", ())] >= 3
    source = (("source", factory.issuer + "/.well-known/jwks.json"),)
    assert found[("revoker_jwks_fetches_total", source)] == 1  # warmed once at start
    assert found[("revoker_jwks_fetch_failures_total", source)] == 0
    assert found[("revoker_rule_changes_total", (("action", "revoke"),))] == 3


def test_failed_credentials_are_counted(client: httpx.Client) -> None:
    """Wrong admin tokens show up in revoker_credential_failures_total."""
    client.get("/admin/rules", headers=bearer("wrong-token-000000000"))
    found = samples(client)
    assert found[("revoker_credential_failures_total", (("endpoint", "admin"),))] == 1


def test_openapi_describes_every_route_and_method(client: httpx.Client) -> None:
    """/openapi.json lists each Starlette route with exactly its methods, and /auth."""
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.0")
    paths = document["paths"]
    for route in [*ops.routes, *api_routes.routes]:
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert set(paths[route.path]) == methods, route.path
    assert set(paths["/auth"]) >= {"get", "post", "put", "delete", "patch", "head", "options"}
    assert "/auth/{path}" in paths


def test_openapi_shows_the_cookie_when_one_is_configured(factory: TokenFactory) -> None:
    """With --cookie-name, /auth documents the cookie as a way to send the token."""
    document = openapi_document(make_state(factory, cookie_name="session").settings)
    scheme = document["components"]["securitySchemes"]["tokenCookie"]
    assert (scheme["in"], scheme["name"]) == ("cookie", "session")
    assert {"tokenCookie": []} in document["paths"]["/auth"]["get"]["security"]
    assert "tokenCookie" not in str(openapi_document(None))


def test_unknown_routes_are_json_404(client: httpx.Client) -> None:
    """Starlette's own 404 comes in the JSON error shape."""
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
