"""Revoking and lifting in the console: a confirmation that says what will be denied, then the
same operations and audit as the admin API (actor console:admin); a pasted token stores only
its jti, family or hash; checking a token stores nothing and logs no token."""

from __future__ import annotations

import html
import logging
import re

import pytest
from console_support import Signed

from revoker.service.state import ServiceState
from revoker.testing import TokenFactory

_DENY = re.compile(r"This will deny <strong>(.*?)</strong>", re.S)


def _confirmation(response_text: str) -> str:
    found = _DENY.search(response_text)
    assert found is not None, response_text[:500]
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    "case",
    [
        ("user", "subject", "user-42", "every token of subject user-42 issued at or before"),
        ("session", "session", "sid-7", "every token of the session sid-7 (sid)"),
        ("client", "client", "app-9", "every token of client app-9 issued at or before"),
        ("key", "key", "kid-3", "every token signed with key kid-3"),
    ],
    ids=["user", "session", "client", "key"],
)
def test_a_revoke_form_confirms_in_words_then_creates_the_rule(
    admin: Signed, state: ServiceState, case: tuple[str, str, str, str]
) -> None:
    """Preview: the rule described, nothing stored yet. Confirm: the rule, audited."""
    what, kind, value, words = case
    form = {"what": what, "value": value, "reason": "incident 12", "step": "preview"}
    preview = admin.post("/console/revoke", form)
    assert preview.status_code == 200
    assert _confirmation(preview.text).startswith(words)
    assert state.registry.audit(limit=10) == []
    done = admin.post("/console/revoke", {**form, "step": "confirm"})
    assert done.status_code == 303
    rule = state.registry.rules()[0]
    assert (str(rule.kind), rule.value, rule.actor, rule.reason) == (
        kind, value, "console:admin", "incident 12"
    )  # fmt: skip
    assert done.headers["location"] == f"/console/rules/{rule.id}"
    page = admin.client.get(done.headers["location"]).text
    assert html.escape(rule.describe().rsplit(" (rule ", 1)[0]) in page
    assert "Revoked: /auth denies these tokens now." in page
    [entry] = state.registry.audit(limit=10)
    assert (entry.action, entry.actor, entry.rule_id) == ("revoke", "console:admin", rule.id)


def test_a_rule_can_be_scoped_to_one_trusted_issuer(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """The issuer scope is one of the trusted issuers; any other is refused before anything."""
    form = {"what": "user", "value": "u1", "issuer": factory.issuer, "step": "confirm"}
    assert admin.post("/console/revoke", form).status_code == 303
    assert state.registry.rules()[0].issuer == factory.issuer
    refused = admin.post("/console/revoke", {**form, "issuer": "https://other.example"})
    assert refused.status_code == 400
    assert "is not a trusted issuer" in html.unescape(refused.text)
    assert len(state.registry.rules()) == 1


def test_a_bad_value_comes_back_to_the_form_with_the_reason(
    admin: Signed, state: ServiceState
) -> None:
    """A value no token could carry (white space around it) is refused with a clear line."""
    response = admin.post(
        "/console/revoke", {"what": "user", "value": " padded ", "step": "preview"}
    )
    assert response.status_code == 400
    assert "white space" in response.text
    assert state.registry.rules() == []


def test_the_issuer_wide_cut_off_needs_the_issuer_typed_again(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """A wrong or missing typed URL revokes nothing; the exact URL revokes every token."""
    form = {"what": "issuer", "issuer": factory.issuer, "reason": "key leak", "step": "preview"}
    preview = admin.post("/console/revoke", form)
    assert _confirmation(preview.text).startswith(f"every token of issuer {factory.issuer}")
    assert "Type the issuer" in preview.text
    for typed in ("", factory.issuer + "/", "yes"):
        wrong = admin.post("/console/revoke", {**form, "step": "confirm", "typed": typed})
        assert wrong.status_code == 400
        assert "nothing was revoked" in wrong.text
    assert state.registry.rules() == []
    done = admin.post("/console/revoke", {**form, "step": "confirm", "typed": factory.issuer})
    assert done.status_code == 303
    [rule] = state.registry.rules()
    assert (str(rule.kind), rule.value) == ("issuer", factory.issuer)
    decision = state.authorizer.check(factory.access_token())
    assert decision.reason == "revoked_issuer"


def test_a_pasted_token_stores_its_family_and_never_the_token(
    admin: Signed, state: ServiceState, factory: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """revoke_by_possession: the family (origin_jti) is revoked; the token is in no rule, no
    audit entry, no log line and no page after the confirmation."""
    caplog.set_level(logging.DEBUG)
    token = factory.access_token()
    origin = state.authorizer.verify(token).origin_jti
    form = {"what": "token", "token": token, "reason": "lost laptop", "step": "preview"}
    preview = admin.post("/console/revoke", form)
    assert _confirmation(preview.text).startswith(f"every token of the sign-in {origin}")
    done = admin.post("/console/revoke", {**form, "step": "confirm"})
    assert done.status_code == 303
    [rule] = state.registry.rules()
    assert (str(rule.kind), rule.value, rule.actor) == ("family", origin, "console:admin")
    stored = repr(rule.to_dict()) + repr([e.to_dict() for e in state.registry.audit()])
    assert token not in stored
    assert token not in caplog.text
    assert token not in admin.client.get(done.headers["location"]).text
    assert state.authorizer.check(token).reason == "revoked_family"


def test_a_pasted_token_that_is_refused_revokes_nothing(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """An expired or forged token is denied already: the form says why, nothing is stored."""
    expired = factory.access_token(exp=int(factory.clock()) - 60)
    response = admin.post("/console/revoke", {"what": "token", "token": expired, "step": "confirm"})
    assert response.status_code == 400
    assert "This token is refused (expired" in response.text
    assert state.registry.rules() == []


def test_checking_a_token_shows_its_decision_and_stores_nothing(
    admin: Signed, state: ServiceState, factory: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Decision, reason code, detail, the matching rule and the claims; no rule, no audit,
    the token neither logged nor echoed back."""
    caplog.set_level(logging.DEBUG)
    token = factory.access_token(sub="user-77")
    allowed = admin.post("/console/check", {"token": token})
    assert "Allowed" in allowed.text
    assert "user-77" in allowed.text  # the claims
    rule = state.registry.revoke("subject", "user-77", actor="admin")
    denied = admin.post("/console/check", {"token": token})
    assert "Denied" in denied.text
    assert "revoked_subject" in denied.text
    assert rule.id in denied.text
    malformed = admin.post("/console/check", {"token": "not-a-jwt"})
    assert "malformed" in malformed.text
    assert len(state.registry.audit()) == 1  # only the rule this test made itself
    for page in (allowed.text, denied.text):
        assert token not in page
    assert token not in caplog.text


def test_lifting_needs_a_reason_and_is_audited(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """No reason: 400 and the rule stays. A reason: lifted through the operations, audited."""
    rule = state.registry.revoke("subject", "user-1", actor="admin")
    token = factory.access_token(sub="user-1", iat=int(factory.clock()) - 10)
    assert state.authorizer.check(token).reason == "revoked_subject"
    page = admin.client.get(f"/console/rules/{rule.id}")
    assert "Lifting allows these tokens again" in page.text
    refused = admin.post(f"/console/rules/{rule.id}/lift", {"reason": "  "})
    assert refused.status_code == 400
    assert state.registry.get(rule.id) is not None
    lifted = admin.post(f"/console/rules/{rule.id}/lift", {"reason": "wrong user"})
    assert lifted.status_code == 303
    assert state.registry.get(rule.id) is None
    assert state.authorizer.check(token).allowed
    entry = state.registry.audit()[-1]
    assert (entry.action, entry.actor, entry.reason) == ("lift", "console:admin", "wrong user")
    assert "Lifted:" in admin.client.get("/console/rules").text
    gone = admin.client.get(f"/console/rules/{rule.id}")
    assert gone.status_code == 404


def test_rule_changes_are_counted_as_the_admin_apis_are(admin: Signed, state: ServiceState) -> None:
    """The console's rules go through Operations: revoker_rule_changes_total counts them."""
    admin.post("/console/revoke", {"what": "user", "value": "u", "step": "confirm"})
    rule_id = state.registry.rules()[0].id
    admin.post(f"/console/rules/{rule_id}/lift", {"reason": "r"})
    metrics = state.metrics.render().decode()
    assert 'revoker_rule_changes_total{action="revoke"} 1.0' in metrics
    assert 'revoker_rule_changes_total{action="lift"} 1.0' in metrics
