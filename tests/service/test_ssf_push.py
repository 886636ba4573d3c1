"""POST /ssf/events (RFC 8935 push of Shared Signals SETs): 202 once the rule is durable,
400 with the registered ``err`` codes and nothing stored, 503 for an outage, one rule per
(transmitter, jti), and the push token as a failed-credential budget of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ADMIN, T0, Serve, SwitchableStore
from ssf_support import AUDIENCE, CAEP, PUSH_TOKEN, RISC, denied, push, ssf_state

from revoker.core.registry import RuleKind
from revoker.core.signing import generate_key
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory
from ssf_transmitter import Transmitter

SESSION_REVOKED = CAEP + "session-revoked"
ACCOUNT_DISABLED = RISC + "account-disabled"


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    with Transmitter(audience=AUDIENCE) as running:
        yield running


@pytest.fixture
def state(
    factory: TokenFactory, transmitter: Transmitter, tmp_path: Path, store: SwitchableStore
) -> ServiceState:
    return ssf_state(factory, transmitter, tmp_path, store)


def user(factory: TokenFactory, sub: str = "user-1") -> dict[str, str]:
    return {"format": "iss_sub", "iss": factory.issuer, "sub": sub}


def test_a_pushed_event_is_202_and_denies_the_users_tokens(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """RISC account-disabled for iss_sub: 202 with no body, then /auth denies revoked_subject."""
    token = factory.access_token(sub="user-1")
    assert denied(client, token) is None
    set_token = transmitter.event(ACCOUNT_DISABLED, {"reason": "hijacking"},
                                  sub_id=user(factory), iat=T0)  # fmt: skip
    response = push(client, set_token)
    assert (response.status_code, response.content) == (202, b"")
    assert denied(client, token) == "revoked_subject"
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value, rule.issuer, rule.actor) == (
        RuleKind.SUBJECT, "user-1", factory.issuer, transmitter.issuer,
    )  # fmt: skip
    assert "RISC account-disabled" in rule.reason
    assert "reason=hijacking" in rule.reason
    (entry,) = state.registry.audit()
    assert (entry.action, entry.actor) == ("revoke", transmitter.issuer)


def test_a_duplicate_jti_is_applied_once(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    clock: FrozenClock,
) -> None:  # fmt: skip
    """A transmitter's retry of one SET: 202 each time, one rule, one audit entry."""
    set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
    for _ in range(3):
        assert push(client, set_token).status_code == 202
        clock.advance(1)
    assert len(state.registry.rules()) == 1
    assert len(state.registry.audit()) == 1


def _foreign_key(t: Transmitter, f: TokenFactory) -> str:
    claims = {"iss": t.issuer, "aud": AUDIENCE, "iat": T0, "jti": "j-1",
              "sub_id": user(f), "events": {SESSION_REVOKED: {}}}  # fmt: skip
    return t.sign(claims, key=generate_key("RS256"))


def _unknown_kid(t: Transmitter, f: TokenFactory) -> str:
    claims = {"iss": t.issuer, "aud": AUDIENCE, "iat": T0, "jti": "j-1",
              "sub_id": user(f), "events": {SESSION_REVOKED: {}}}  # fmt: skip
    return t.sign(claims, key=generate_key("RS256"), kid="someone-elses-key")


# Every validation failure, and the err RFC 8935 §2.4 (or SSF §8.1.4.1) registers for it.
CASES: list[tuple[str, Callable[[Transmitter, TokenFactory], str], str]] = [
    ("typ-JWT", lambda t, f: t.sign({"iss": t.issuer, "aud": AUDIENCE, "iat": T0, "jti": "j",
     "sub_id": user(f), "events": {SESSION_REVOKED: {}}}, typ="JWT"), "invalid_request"),
    ("no-typ", lambda t, f: t.sign({"iss": t.issuer, "aud": AUDIENCE, "iat": T0, "jti": "j",
     "sub_id": user(f), "events": {SESSION_REVOKED: {}}}, typ=None), "invalid_request"),
    ("foreign-key", _foreign_key, "invalid_key"),
    ("unknown-kid", _unknown_kid, "invalid_key"),
    ("wrong-iss", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0,
     iss="https://elsewhere.example"), "invalid_issuer"),
    ("wrong-aud", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0,
     aud="someone-else"), "invalid_audience"),
    ("no-events", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0, events=None),
     "invalid_request"),
    ("two-events", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0,
     events={SESSION_REVOKED: {}, ACCOUNT_DISABLED: {}}), "invalid_request"),
    ("too-old", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0 - 86401),
     "invalid_request"),
    ("no-iat", lambda t, f: t.sign({"iss": t.issuer, "aud": AUDIENCE, "jti": "j",
     "sub_id": user(f), "events": {SESSION_REVOKED: {}}}), "invalid_request"),
    ("no-jti", lambda t, f: t.event(SESSION_REVOKED, sub_id=user(f), iat=T0, jti=None),
     "invalid_request"),
    ("no-subject", lambda t, f: t.event(SESSION_REVOKED, sub_id=None, iat=T0),
     "invalid_request"),
    ("subject-without-sub", lambda t, f: t.event(SESSION_REVOKED, iat=T0,
     sub_id={"format": "iss_sub", "iss": f.issuer}), "invalid_request"),
    ("credential-change-without-change-type", lambda t, f: t.event(
     CAEP + "credential-change", {"credential_type": "password"}, sub_id=user(f), iat=T0),
     "invalid_request"),
    ("timestamp-not-a-number", lambda t, f: t.event(SESSION_REVOKED,
     {"event_timestamp": "yesterday"}, sub_id=user(f), iat=T0), "invalid_request"),
    ("a-logout-token", lambda t, f: f.logout_token(), "invalid_issuer"),
    ("an-access-token", lambda t, f: f.access_token(), "invalid_issuer"),
    ("not-a-jws", lambda t, f: "not-a-set", "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "err"), [(m, e) for _, m, e in CASES],
                         ids=[i for i, _, _ in CASES])  # fmt: skip
def test_every_validation_failure_is_400_with_its_err_and_nothing_stored(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    *, make: Callable[[Transmitter, TokenFactory], str], err: str,
) -> None:  # fmt: skip
    """RFC 8935 §2.3: 400, application/json {"err", "description"}; no rule, no audit entry."""
    response = push(client, make(transmitter, factory))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"err", "description"}
    assert body["err"] == err
    assert state.registry.rules() == []
    assert state.registry.audit() == []


@pytest.mark.parametrize(
    ("token", "content_type", "err"),
    [
        pytest.param(None, "application/secevent+jwt", "authentication_failed", id="no-token"),
        pytest.param("wrong-push-token-000000", "application/secevent+jwt",
                     "authentication_failed", id="wrong-token"),
        pytest.param(PUSH_TOKEN, "application/json", "invalid_request", id="media-type"),
    ],
)  # fmt: skip
def test_bad_authorization_or_media_type_is_400_and_stores_nothing(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    *, token: str | None, content_type: str, err: str,
) -> None:  # fmt: skip
    """The push token is checked before the SET is read; a wrong one stores nothing."""
    set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
    response = push(client, set_token, token=token, content_type=content_type)
    assert (response.status_code, response.json()["err"]) == (400, err)
    assert state.registry.rules() == []


def test_a_refused_set_does_not_mark_its_jti_as_seen(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    store: SwitchableStore,
) -> None:  # fmt: skip
    """The same jti refused (an outage: 503) and then delivered whole is applied."""
    set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
    store.failing = True
    outage = push(client, set_token)
    store.failing = False
    assert outage.status_code == 503
    assert "retry-after" in outage.headers
    assert push(client, set_token).status_code == 202
    assert len(state.registry.rules()) == 1


def test_only_wrong_push_tokens_spend_the_failed_credential_budget(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter
) -> None:
    """Malformed SETs never lock a transmitter out; ten wrong tokens do, with 429."""
    for _ in range(12):
        assert push(client, "garbage").status_code == 400
    set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
    assert push(client, set_token).status_code == 202
    for n in range(10):
        assert push(client, "x", token=f"wrong-push-token-{n:06d}").status_code == 400
    throttled = push(client, set_token)
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "60")
    # A budget of its own: the admin API is not locked out by the push guesses.
    assert client.get("/admin/rules", headers=ADMIN).status_code == 200


def test_without_a_push_token_push_is_access_denied(
    factory: TokenFactory, transmitter: Transmitter, tmp_path: Path, serve: Serve
) -> None:
    """A receiver that only polls refuses pushes with access_denied, storing nothing."""
    state = ssf_state(factory, transmitter, tmp_path, ssf_push_token=None)
    set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
    with serve(build_app(state)) as client:
        response = push(client, set_token)
        assert state.registry.rules() == []
    assert (response.status_code, response.json()["err"]) == (400, "access_denied")


def test_without_a_transmitter_the_route_is_404(factory: TokenFactory, serve: Serve) -> None:
    """No --ssf-transmitter: Shared Signals are off."""
    from service_support import make_state  # noqa: PLC0415

    with serve(build_app(make_state(factory))) as client:
        assert push(client, "x").status_code == 404


def test_the_keys_unreachable_is_503_so_the_transmitter_retries(
    factory: TokenFactory, tmp_path: Path, serve: Serve
) -> None:
    """A transmitter whose configuration cannot be fetched: 503, nothing acknowledged."""
    with Transmitter(audience=AUDIENCE) as transmitter:
        set_token = transmitter.event(SESSION_REVOKED, sub_id=user(factory), iat=T0)
        state = ssf_state(factory, transmitter, tmp_path)
    with serve(build_app(state)) as client:  # the transmitter is gone now
        response = push(client, set_token)
        assert state.registry.rules() == []
    assert response.status_code == 503


MEDIA = st.sampled_from(["application/secevent+jwt", "application/jwt", "text/plain"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
SUBJECTS = JSON_VALUES | st.fixed_dictionaries(
    {"format": st.sampled_from(["iss_sub", "email", "opaque", "jwt_id", "complex", "aliases"])},
    optional=dict.fromkeys(
        ("iss", "sub", "email", "id", "jti", "user", "session", "identifiers"), JSON_VALUES
    ),
)
EVENTS = st.sampled_from([SESSION_REVOKED, ACCOUNT_DISABLED, CAEP + "credential-change",
                          CAEP + "token-claims-change", RISC + "sessions-revoked",
                          "https://schemas.openid.net/secevent/ssf/event-type/verification",
                          "https://schemas.openid.net/secevent/ssf/event-type/stream-updated",
                          "urn:example:other"])  # fmt: skip
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(body=st.binary(max_size=600) | st.text(max_size=600).map(str.encode), content_type=MEDIA)
def test_no_body_gets_a_5xx(client: httpx.Client, body: bytes, content_type: str) -> None:
    """Any bytes, any media type, with the right push token: a 4xx, never a 5xx."""
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {PUSH_TOKEN}"}
    response = client.post("/ssf/events", content=body, headers=headers)
    assert 400 <= response.status_code < 500


@FUZZ
@given(event_type=EVENTS, event=JSON_VALUES, sub_id=SUBJECTS)
def test_no_genuine_set_gets_a_5xx(
    client: httpx.Client, transmitter: Transmitter, event_type: str, event: object, sub_id: object
) -> None:
    """Any event body and subject, genuinely signed: 202 or 400, never a 5xx."""
    claims = {"iss": transmitter.issuer, "aud": AUDIENCE, "iat": T0, "jti": "fuzz",
              "sub_id": sub_id, "events": {event_type: event}}  # fmt: skip
    response = push(client, transmitter.sign(claims))
    assert response.status_code in (202, 400), response.text
