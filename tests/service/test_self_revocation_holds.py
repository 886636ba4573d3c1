"""Hardening, round two (the service): a self-revocation always leaves the token's own rule,
whatever else denies it today; concurrent revocations of one token leave one rule; the
failed-credential budget is kept per credential kind and per worker process; NUL in a value
is a 400 for every store; SQLite stores are private files."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from service_support import (
    ADMIN,
    CLIENT,
    Serve,
    bearer,
    make_state,
    service_missing,
    service_settings,
)

from revoker.core.authorizer import Authorizer
from revoker.core.errors import StoreError
from revoker.core.registry import Registry, RuleKind, open_store
from revoker.core.registry.stores.sqlite import SqliteStore
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


def auth(client: httpx.Client, token: str) -> str:
    response = client.get("/auth", headers=bearer(token))
    return "allowed" if response.status_code == 200 else str(response.json()["reason"])


def test_a_self_revocation_under_another_rule_still_records_its_own(
    client: httpx.Client, factory: TokenFactory, state: ServiceState, clock: FrozenClock
) -> None:
    """A subject suspension denies the token; /revoke still writes its family rule, so lifting
    the suspension (or its expiry) does not let the logged-out token back."""
    claims = factory.base_claims("access", sub="user-3")
    token = factory.sign(claims)
    sibling = factory.base_claims("id", sub="user-3", origin_jti=claims["origin_jti"])
    refreshed_later = factory.sign(sibling)
    clock.advance(1)
    suspension = state.registry.revoke(RuleKind.SUBJECT, "user-3", actor="ops")
    assert auth(client, token) == "revoked_subject"
    assert client.post("/revoke", data={"token": token}).status_code == 200
    kinds = sorted(rule.kind for rule in state.registry.rules())
    assert kinds == [RuleKind.FAMILY, RuleKind.SUBJECT]
    state.registry.lift(suspension.id, actor="ops")
    assert auth(client, token) == "revoked_family"
    assert auth(client, refreshed_later) == "revoked_family"


def test_thirty_two_concurrent_revocations_of_one_token_leave_one_rule(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """The rule id is the token's own (deterministic), so the store's duplicate refusal makes
    the write idempotent: one rule, one audit entry, every answer 200."""
    token = factory.access_token()
    statuses: list[int] = []

    def revoke() -> None:
        statuses.append(client.post("/revoke", data={"token": token}).status_code)

    threads = [threading.Thread(target=revoke) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 32
    assert len(state.registry.rules()) == 1
    assert len(state.registry.audit()) == 1


def test_authorizer_revoke_token_also_holds_under_another_rule(factory: TokenFactory) -> None:
    """The library's Authorizer.revoke_token makes the same promise as /revoke."""
    registry = Registry(SqliteStore(":memory:"), clock=factory.clock)
    registry.sync()
    authorizer = Authorizer(factory.verifier(), registry)
    claims = factory.base_claims("access", sub="user-4")
    token = factory.sign(claims)
    factory.clock.advance(1)
    registry.revoke(RuleKind.SUBJECT, "user-4")
    first = authorizer.revoke_token(token, actor="self:user-4")
    again = authorizer.revoke_token(token, actor="self:user-4")
    assert (first.kind, first.value) == (RuleKind.FAMILY, claims["origin_jti"])
    assert again == first
    assert len(registry.rules()) == 2


def test_guesses_at_the_admin_token_do_not_lock_out_a_client(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Ten wrong bearers at /revoke (all from one proxy address) spend the admin budget only:
    the introspection client's Basic credential still works from the same address."""
    token = factory.access_token()
    for attempt in range(10):
        wrong = bearer(f"guess-{attempt:020d}")
        assert client.post("/revoke", data={"token": token}, headers=wrong).status_code == 401
    assert client.get("/admin/rules", headers=ADMIN).status_code == 429
    introspected = client.post("/introspect", data={"token": token}, headers=CLIENT)
    assert introspected.status_code == 200
    assert introspected.json()["active"] is True


def test_the_failure_budget_is_kept_per_worker(factory: TokenFactory, serve: Serve) -> None:
    """Each worker process has its own limiter (stated in the docs): an address locked out by
    one worker is not locked out by another's; with --workers N, N times the limit."""
    one, two = make_state(factory), make_state(factory)
    with serve(build_app(one)) as first:
        for attempt in range(10):
            first.get("/admin/rules", headers=bearer(f"guess-{attempt:020d}"))
        assert first.get("/admin/rules", headers=ADMIN).status_code == 429
    with serve(build_app(two)) as second:
        assert second.get("/admin/rules", headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "token", "value": "a\x00b"},
        {"kind": "token", "value": "x", "reason": "nul\x00inside"},
        {"kind": "session", "value": "s", "issuer": "https://cognito-idp.us-east-1.amazonaws.com/x\x00"},
    ],
    ids=["value", "reason", "issuer"],
)  # fmt: skip
def test_a_nul_anywhere_in_a_rule_is_a_400_not_a_503(
    client: httpx.Client, body: dict[str, str]
) -> None:
    """No store can keep a NUL (PostgreSQL text cannot): refused for every store alike, so a
    client is never told to retry forever."""
    response = client.post("/admin/rules", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_rule"


def test_a_token_whose_jti_holds_a_nul_can_still_revoke_itself(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """Its token rule names it by the signed part's hash, and the replica matches the same."""
    token = factory.access_token(jti="jti-with-\x00-inside", origin_jti=None)
    assert client.post("/revoke", data={"token": token}).status_code == 200
    (rule,) = state.registry.rules()
    assert rule.kind is RuleKind.TOKEN
    assert "\x00" not in rule.value
    assert auth(client, token) == "revoked_token"


def test_a_sqlite_store_and_its_wal_are_private_files(tmp_path: Path) -> None:
    """Created 0600 (the -wal and -shm too), whatever the umask: rules and the audit are not
    for every local user to read."""
    previous = os.umask(0o022)
    try:
        with Registry(SqliteStore(tmp_path / "rules.db")) as registry:
            registry.revoke(RuleKind.SUBJECT, "someone")
            for name in ("rules.db", "rules.db-wal", "rules.db-shm"):
                mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
                assert mode == 0o600, (name, oct(mode))
    finally:
        os.umask(previous)


@pytest.fixture
def postgres_state(factory: TokenFactory) -> Iterator[ServiceState]:
    """A service state on a real PostgreSQL store, in a schema of its own."""
    base = os.environ.get("REVOKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"revoker_nul_{uuid.uuid4().hex[:12]}"
    try:
        store = open_store(f"{base}?schema={schema}")
    except StoreError:
        service_missing(f"PostgreSQL at {base}")
    registry = Registry(store, clock=factory.clock, max_staleness_seconds=30)
    yield ServiceState.assemble(service_settings(factory), Authorizer(factory.verifier(), registry))
    registry.close()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize(
    "request_",
    [("GET", "/admin/rules/a%00b", None, 404),
     ("DELETE", "/admin/rules/a%00b", None, 404),
     ("GET", "/admin/rules", {"value": "a\x00"}, 400),
     ("GET", "/admin/rules", {"issuer": "https://x\x00"}, 400)],
    ids=["get", "lift", "value-filter", "issuer-filter"],
)  # fmt: skip
def test_a_nul_in_an_id_or_a_filter_is_answered_not_retried_on_postgresql(
    postgres_state: ServiceState,
    serve: Serve,
    request_: tuple[str, str, dict[str, str] | None, int],
) -> None:
    """No rule has a NUL anywhere: 404 or 400, never PostgreSQL's failure as a 503."""
    method, path, query, status = request_
    with serve(build_app(postgres_state)) as client:
        response = client.request(method, path, params=query, headers=ADMIN)
        assert response.status_code == status
