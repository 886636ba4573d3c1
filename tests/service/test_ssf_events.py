"""Each CAEP, RISC and SSF event pushed to /ssf/events ends in its rule (or in none), and a
token of that user, session or token is denied through /auth afterwards; the stream's own
events (verification, stream-updated) and the sources' health on /readyz and /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_support import T0, Serve
from ssf_support import AUDIENCE, CAEP, RISC, SSF, denied, push, samples, ssf_state

from revoker.app.signals.streams import StreamBook, StreamRecord
from revoker.core.registry import Rule, RuleKind
from revoker.service.app import build_app
from revoker.service.console.signals import signal_cards
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory
from ssf_transmitter import Transmitter


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    with Transmitter(audience=AUDIENCE) as running:
        yield running


@pytest.fixture
def state(factory: TokenFactory, transmitter: Transmitter, tmp_path: Path) -> ServiceState:
    return ssf_state(factory, transmitter, tmp_path)


def iss_sub(factory: TokenFactory, sub: str = "user-1") -> dict[str, str]:
    return {"format": "iss_sub", "iss": factory.issuer, "sub": sub}


def applied(client: httpx.Client, state: ServiceState, set_token: str) -> Rule:
    """Push ``set_token``; it must be accepted and make exactly one rule, returned."""
    response = push(client, set_token)
    assert response.status_code == 202, response.text
    (rule,) = state.registry.rules()
    return rule


def not_applied(client: httpx.Client, state: ServiceState, set_token: str) -> None:
    """Push ``set_token``; it must be accepted and make no rule."""
    response = push(client, set_token)
    assert response.status_code == 202, response.text
    assert state.registry.rules() == []


# -- sessions -------------------------------------------------------------------------------


def test_session_revoked_for_a_session_ends_that_session_only(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """A complex subject's session: a session rule scoped to the user's issuer."""
    ended, other = factory.access_token(sid="s-1"), factory.access_token(sid="s-2")
    sub_id = {"format": "complex", "session": {"format": "opaque", "id": "s-1"},
              "user": iss_sub(factory)}  # fmt: skip
    rule = applied(client, state, transmitter.event(CAEP + "session-revoked", sub_id=sub_id,
                                                    iat=T0))  # fmt: skip
    assert (rule.kind, rule.value, rule.issuer) == (RuleKind.SESSION, "s-1", factory.issuer)
    assert denied(client, ended) == "revoked_session"
    assert denied(client, other) is None


def test_session_revoked_for_an_opaque_session_id(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """A simple opaque subject of a session event names the session (CAEP §3.1)."""
    token = factory.access_token(sid="dMTlD|1600802906337.16|16008.16")
    sub_id = {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"}
    rule = applied(client, state, transmitter.event(CAEP + "session-revoked", sub_id=sub_id,
                                                    iat=T0))  # fmt: skip
    assert rule.kind is RuleKind.SESSION
    assert rule.issuer is None  # the transmitter is no token issuer here: every issuer
    assert denied(client, token) == "revoked_session"


def test_session_revoked_for_a_user_cuts_off_at_the_event_timestamp(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    clock: FrozenClock,
) -> None:  # fmt: skip
    """Every token issued up to event_timestamp is denied; a sign-in after it is not."""
    before = factory.access_token()
    clock.advance(10)
    after = factory.access_token()
    clock.advance(10)
    body = {"event_timestamp": T0 + 5, "initiating_entity": "policy",
            "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"}}  # fmt: skip
    set_token = transmitter.event(CAEP + "session-revoked", body, sub_id=iss_sub(factory),
                                  iat=T0 + 20)  # fmt: skip
    rule = applied(client, state, set_token)
    assert (rule.kind, rule.value, rule.cutoff) == (RuleKind.SUBJECT, "user-1", T0 + 5)
    assert "Landspeed Policy Violation: C076E82F" in rule.reason
    assert "initiating_entity=policy" in rule.reason
    assert denied(client, before) == "revoked_subject"
    assert denied(client, after) is None


def test_without_an_event_timestamp_the_cut_off_is_the_sets_iat(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    clock: FrozenClock,
) -> None:  # fmt: skip
    """iat stands in for event_timestamp; the txn is in the rule's reason."""
    clock.advance(30)
    set_token = transmitter.event(RISC + "sessions-revoked", sub_id=iss_sub(factory),
                                  iat=T0 + 20, txn="8675309")  # fmt: skip
    rule = applied(client, state, set_token)
    assert (rule.kind, rule.cutoff) == (RuleKind.SUBJECT, T0 + 20)
    assert "txn 8675309" in rule.reason
    assert "RISC sessions-revoked" in rule.reason


# -- users ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "body"),
    [
        pytest.param(RISC + "account-disabled", {"reason": "hijacking"}, id="account-disabled"),
        pytest.param(RISC + "account-purged", {}, id="account-purged"),
        pytest.param(RISC + "credential-compromise", {"credential_type": "password"},
                     id="credential-compromise"),
        pytest.param(RISC + "account-credential-change-required", {},
                     id="account-credential-change-required"),
        pytest.param(CAEP + "credential-change",
                     {"credential_type": "password", "change_type": "update"}, id="cc-update"),
        pytest.param(CAEP + "credential-change",
                     {"credential_type": "fido2-roaming", "change_type": "revoke"},
                     id="cc-revoke"),
        pytest.param(CAEP + "credential-change",
                     {"credential_type": "x509", "change_type": "delete"}, id="cc-delete"),
    ],
)  # fmt: skip
def test_each_user_event_cuts_the_users_tokens_off(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    *, event_type: str, body: dict[str, Any],
) -> None:  # fmt: skip
    """A subject cut-off scoped to the token issuer; another user's tokens live on."""
    mine, theirs = factory.id_token(sub="user-1"), factory.id_token(sub="user-2")
    rule = applied(client, state, transmitter.event(event_type, body, sub_id=iss_sub(factory),
                                                    iat=T0))  # fmt: skip
    assert (rule.kind, rule.value, rule.issuer, rule.cutoff) == (
        RuleKind.SUBJECT, "user-1", factory.issuer, T0,
    )  # fmt: skip
    assert denied(client, mine) == "revoked_subject"
    assert denied(client, theirs) is None


@pytest.mark.parametrize(
    ("body", "credential_types"),
    [
        pytest.param({"credential_type": "fido2-roaming", "change_type": "create"}, (),
                     id="a-new-credential"),
        pytest.param({"credential_type": "fido2-roaming", "change_type": "update"},
                     ("password",), id="a-type-that-does-not-count"),
    ],
)  # fmt: skip
def test_credential_changes_that_revoke_nothing(
    factory: TokenFactory, transmitter: Transmitter, tmp_path: Path, serve: Serve,
    *, body: dict[str, Any], credential_types: tuple[str, ...],
) -> None:  # fmt: skip
    """Enrolling a credential, or changing one of a type --ssf-credential-type leaves out."""
    state = ssf_state(factory, transmitter, tmp_path, ssf_credential_types=credential_types)
    with serve(build_app(state)) as client:
        not_applied(client, state, transmitter.event(CAEP + "credential-change", body,
                                                     sub_id=iss_sub(factory), iat=T0))  # fmt: skip
        assert denied(client, factory.access_token()) is None


def test_an_email_subject_denies_the_tokens_carrying_that_email(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """An email rule: the ID token (with email) is denied; a token without email is not."""
    id_token = factory.id_token(email="Alice@Example.com")
    access_token = factory.access_token()  # Cognito access tokens carry no email
    sub_id = {"format": "email", "email": "alice@example.com"}
    rule = applied(client, state, transmitter.event(RISC + "account-disabled", sub_id=sub_id,
                                                    iat=T0))  # fmt: skip
    assert (rule.kind, rule.value) == (RuleKind.EMAIL, "alice@example.com")
    assert denied(client, id_token) == "revoked_email"
    assert denied(client, access_token) is None


def test_an_opaque_user_and_a_legacy_in_event_subject(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """An opaque subject of a user event is a sub; ``subject`` inside the event is read when
    there is no sub_id (CAEP and RISC before SSF 1.0)."""
    token = factory.access_token(sub="00u1dnq5S0CfjlkpABCD")
    body = {"credential_type": "password", "change_type": "update",
            "subject": {"format": "opaque", "id": "00u1dnq5S0CfjlkpABCD"}}  # fmt: skip
    rule = applied(client, state, transmitter.event(CAEP + "credential-change", body,
                                                    sub_id=None, iat=T0))  # fmt: skip
    assert (rule.kind, rule.value) == (RuleKind.SUBJECT, "00u1dnq5S0CfjlkpABCD")
    assert denied(client, token) == "revoked_subject"


@pytest.mark.parametrize(
    ("named", "scope"),
    [
        pytest.param("{issuer}/", "{issuer}", id="trailing-slash-is-the-trusted-issuer"),
        pytest.param("https://login.elsewhere.example", None, id="untrusted-is-every-issuer"),
    ],
)
def test_an_iss_sub_names_the_token_issuer_not_the_transmitter(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState,
    *, named: str, scope: str | None,
) -> None:  # fmt: skip
    """Scoped to the named issuer when it is trusted (spelt as trusted), else to every one."""
    sub_id = {"format": "iss_sub", "iss": named.format(issuer=factory.issuer), "sub": "user-1"}
    rule = applied(client, state, transmitter.event(RISC + "account-purged", sub_id=sub_id,
                                                    iat=T0))  # fmt: skip
    assert rule.issuer == (scope.format(issuer=factory.issuer) if scope else None)
    assert denied(client, factory.access_token()) == "revoked_subject"


def test_token_claims_change_for_a_jwt_id_revokes_that_token(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """The token's claims are no longer true: a token rule on its jti, scoped to its issuer."""
    changed, other = factory.access_token(jti="f61t6e20"), factory.access_token(jti="other")
    sub_id = {"format": "jwt_id", "iss": factory.issuer, "jti": "f61t6e20"}
    body = {"event_timestamp": T0, "claims": {"role": "ro-admin"}}
    rule = applied(client, state, transmitter.event(CAEP + "token-claims-change", body,
                                                    sub_id=sub_id, iat=T0))  # fmt: skip
    assert (rule.kind, rule.value, rule.issuer) == (RuleKind.TOKEN, "f61t6e20", factory.issuer)
    assert denied(client, changed) == "revoked_token"
    assert denied(client, other) is None


# -- acknowledged, not applied ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "body", "sub_id", "outcome"),
    [
        pytest.param(RISC + "account-enabled", {}, {"format": "email", "email": "a@example.com"},
                     "not_applied", id="account-enabled-lifts-nothing"),
        pytest.param(CAEP + "assurance-level-change",
                     {"namespace": "NIST-AAL", "current_level": "nist-aal1"},
                     {"format": "iss_sub", "iss": "https://i.example", "sub": "u"},
                     "unsupported_event", id="another-event"),
        pytest.param(RISC + "account-disabled", {},
                     {"format": "phone_number", "phone_number": "+1 206 555 0123"},
                     "unsupported_subject", id="a-subject-no-token-carries"),
        pytest.param(CAEP + "token-claims-change", {"claims": {"role": "x"}},
                     {"format": "email", "email": "a@example.com"}, "unsupported_subject",
                     id="claims-change-of-a-user"),
    ],
)  # fmt: skip
def test_events_that_make_no_rule_are_acknowledged_and_counted(
    client: httpx.Client, transmitter: Transmitter, state: ServiceState,
    *, event_type: str, body: dict[str, Any], sub_id: dict[str, Any], outcome: str,
) -> None:  # fmt: skip
    """202, no rule, and revoker_signals_total{source="ssf"} counts the outcome."""
    not_applied(client, state, transmitter.event(event_type, body, sub_id=sub_id, iat=T0))
    found = samples(client)
    assert found[("revoker_signals_total", (("outcome", outcome), ("source", "ssf")))] == 1


def test_a_critical_member_not_read_here_discards_the_event(
    factory: TokenFactory, transmitter: Transmitter, tmp_path: Path, serve: Serve
) -> None:
    """SSF 1.0 §3.6: the transmitter marks tenant critical; a subject with one is refused."""
    transmitter.critical = ["tenant", "user"]
    state = ssf_state(factory, transmitter, tmp_path)
    sub_id = {"format": "complex", "user": iss_sub(factory),
              "tenant": {"format": "opaque", "id": "123456789"}}  # fmt: skip
    with serve(build_app(state)) as client:
        response = push(client, transmitter.event(RISC + "account-disabled", sub_id=sub_id,
                                                  iat=T0))  # fmt: skip
        assert state.registry.rules() == []
        plain = {"format": "complex", "user": iss_sub(factory)}
        accepted = push(client, transmitter.event(RISC + "account-disabled", sub_id=plain,
                                                  iat=T0))  # fmt: skip
    assert (response.status_code, response.json()["err"]) == (400, "invalid_request")
    assert "critical" in response.json()["description"]
    assert accepted.status_code == 202


# -- the stream's own events, and health ----------------------------------------------------------


def _record(transmitter: Transmitter, stream_id: str) -> StreamRecord:
    return StreamRecord(transmitter=transmitter.issuer, stream_id=stream_id, method="push",
                        endpoint_url="http://127.0.0.1/ssf/events", created_at=T0)  # fmt: skip


def test_a_verification_event_is_checked_against_the_state_asked_for(
    client: httpx.Client, transmitter: Transmitter, state: ServiceState, tmp_path: Path
) -> None:
    """The state asked for: 202 and recorded; another: 400 invalid_state (SSF §8.1.4.1)."""
    book = StreamBook(tmp_path / "ssf-streams.json")
    book.put(_record(transmitter, "stream-1"))
    book.ask_verification(transmitter.issuer, "stream-1", "state-1", T0)
    stream = {"format": "opaque", "id": "stream-1"}
    wrong = push(client, transmitter.event(SSF + "verification", {"state": "forged"},
                                           sub_id=stream, iat=T0))  # fmt: skip
    right = push(client, transmitter.event(SSF + "verification", {"state": "state-1"},
                                           sub_id=stream, iat=T0))  # fmt: skip
    assert (wrong.status_code, wrong.json()["err"]) == (400, "invalid_state")
    assert right.status_code == 202
    verification = book.get(transmitter.issuer, "stream-1")
    assert verification is not None
    assert verification.verification is not None
    assert verification.verification.verified_at == T0
    assert state.registry.rules() == []


def test_stream_updated_shows_on_readyz_and_metrics(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """A paused stream makes its source unhealthy; the last event and error are reported."""
    assert push(client, transmitter.event(RISC + "account-purged", sub_id=iss_sub(factory),
                                          iat=T0)).status_code == 202  # fmt: skip
    assert push(client, transmitter.event(RISC + "account-purged", sub_id=None,
                                          iat=T0)).status_code == 400  # fmt: skip
    ready = client.get("/readyz").json()
    (source,) = ready["signals"]
    assert (source["delivery"], source["transmitter"], source["events"]) == (
        "push", transmitter.issuer, 1,
    )  # fmt: skip
    assert source["last_event_at"] == T0
    assert source["last_error"].startswith("invalid_request")
    labels = (("delivery", "push"), ("stream", ""), ("transmitter", transmitter.issuer))
    found = samples(client)
    assert found[("revoker_ssf_events_total", labels)] == 1
    assert found[("revoker_ssf_last_event_seconds", labels)] == T0
    paused = transmitter.event(SSF + "stream-updated", {"status": "paused", "reason": "maint"},
                               sub_id={"format": "opaque", "id": "s-9"}, iat=T0)  # fmt: skip
    assert push(client, paused).status_code == 202
    (source,) = client.get("/readyz").json()["signals"]
    assert (source["stream_status"], source["healthy"]) == ("paused", False)
    assert samples(client)[("revoker_ssf_source_healthy", labels)] == 0


def test_the_console_shows_each_transmitter_as_a_signal_source(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, state: ServiceState
) -> None:
    """The SSF card is configured with the push source; it tells the last event and error."""
    cards = {card.kind: card for card in signal_cards(state.signal_sources)}
    assert cards["ssf"].configured
    ((name, status),) = cards["ssf"].sources
    assert (name, status.healthy, status.detail) == (
        f"push from {transmitter.issuer}", True, "no event yet",
    )  # fmt: skip
    assert push(client, transmitter.event(RISC + "account-purged", sub_id=iss_sub(factory),
                                          iat=T0)).status_code == 202  # fmt: skip
    ((_, status),) = signal_cards(state.signal_sources)[1].sources
    assert status.detail == "last event 0 s ago, 1 in all"
    assert push(client, transmitter.event(RISC + "account-purged", sub_id=iss_sub(factory),
                                          iat=T0, aud="x")).status_code == 400  # fmt: skip
    ((_, status),) = signal_cards(state.signal_sources)[1].sources
    assert not status.healthy
    assert "invalid_audience" in status.detail
