"""RFC 9493 subject identifiers and SSF complex subjects, read into what a rule can name: the
formats, their required members, the issuer scope, and what names nothing a token carries."""

from __future__ import annotations

from typing import Any

import pytest

from revoker.app.signals.subjects import (
    MalformedSubject,
    Scope,
    read_identifier,
    session_target,
    token_target,
    user_target,
)
from revoker.core.registry import RuleKind

TRUSTED = "https://login.example.com"
TRANSMITTER = "https://ssf.example.com"
SCOPE = Scope(trusted=(TRUSTED,), transmitter=TRANSMITTER)


def target(function: Any, sub_id: dict[str, Any], scope: Scope = SCOPE) -> Any:
    found = function(read_identifier(sub_id), scope)
    return None if found is None else (found.kind, found.value, found.issuer)


@pytest.mark.parametrize(
    ("sub_id", "expected"),
    [
        pytest.param({"format": "iss_sub", "iss": TRUSTED, "sub": "u"},
                     (RuleKind.SUBJECT, "u", TRUSTED), id="iss_sub-trusted"),
        pytest.param({"format": "iss_sub", "iss": TRUSTED + "/", "sub": "u"},
                     (RuleKind.SUBJECT, "u", TRUSTED), id="iss_sub-trailing-slash"),
        pytest.param({"format": "iss_sub", "iss": "https://other.example", "sub": "u"},
                     (RuleKind.SUBJECT, "u", None), id="iss_sub-untrusted-every-issuer"),
        pytest.param({"format": "email", "email": "A@B.example"},
                     (RuleKind.EMAIL, "a@b.example", None), id="email-lower-case"),
        pytest.param({"format": "opaque", "id": "u-1"}, (RuleKind.SUBJECT, "u-1", None),
                     id="opaque"),
        pytest.param({"subject_type": "iss_sub", "iss": TRUSTED, "sub": "u"},
                     (RuleKind.SUBJECT, "u", TRUSTED), id="google-risc-subject-type"),
        pytest.param({"format": "complex", "user": {"format": "opaque", "id": "u"},
                      "device": {"format": "opaque", "id": "d"}},
                     (RuleKind.SUBJECT, "u", None), id="complex-user"),
        pytest.param({"format": "aliases", "identifiers": [
                         {"format": "phone_number", "phone_number": "+1"},
                         {"format": "opaque", "id": "u"},
                         {"format": "email", "email": "u@x.example"}]},
                     (RuleKind.EMAIL, "u@x.example", None), id="aliases-prefer-email-to-opaque"),
        pytest.param({"format": "phone_number", "phone_number": "+1 206 555 0123"}, None,
                     id="phone-number-names-no-token"),
        pytest.param({"format": "complex", "device": {"format": "opaque", "id": "d"}}, None,
                     id="complex-without-user"),
        pytest.param({"format": "catalog_item", "catalog_id": "c0384"}, None,
                     id="proprietary"),
    ],
)  # fmt: skip
def test_a_user_subject_names_its_rule(sub_id: dict[str, Any], expected: Any) -> None:
    """iss_sub scoped to its issuer when trusted; email and opaque to the transmitter's."""
    assert target(user_target, sub_id) == expected


def test_email_and_opaque_are_scoped_to_the_transmitter_when_it_issues_tokens() -> None:
    """A transmitter that is also a trusted token issuer (one IdP doing both)."""
    both = Scope(trusted=(TRUSTED,), transmitter=TRUSTED)
    assert target(user_target, {"format": "email", "email": "a@b.c"}, both) == (
        RuleKind.EMAIL, "a@b.c", TRUSTED,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sub_id", "expected"),
    [
        pytest.param({"format": "opaque", "id": "s-1"}, (RuleKind.SESSION, "s-1", None),
                     id="opaque-is-the-session"),
        pytest.param({"format": "complex", "session": {"format": "opaque", "id": "s-1"},
                      "user": {"format": "iss_sub", "iss": TRUSTED, "sub": "u"}},
                     (RuleKind.SESSION, "s-1", TRUSTED), id="complex-session-scoped-by-user"),
        pytest.param({"format": "complex", "user": {"format": "iss_sub", "iss": TRUSTED,
                      "sub": "u"}}, (RuleKind.SUBJECT, "u", TRUSTED), id="complex-user-only"),
        pytest.param({"format": "iss_sub", "iss": TRUSTED, "sub": "u"},
                     (RuleKind.SUBJECT, "u", TRUSTED), id="a-user-every-session"),
    ],
)  # fmt: skip
def test_a_session_event_names_the_session_else_the_user(
    sub_id: dict[str, Any], expected: Any
) -> None:
    """CAEP session-revoked: the session identified by the subject, else all the user's."""
    assert target(session_target, sub_id) == expected


def test_only_a_jwt_id_names_a_token() -> None:
    """SSF 1.0 §3.5.1: iss and jti; scoped like iss_sub."""
    jwt_id = {"format": "jwt_id", "iss": TRUSTED, "jti": "j-1"}
    assert target(token_target, jwt_id) == (RuleKind.TOKEN, "j-1", TRUSTED)
    assert target(token_target, {"format": "opaque", "id": "j-1"}) is None


@pytest.mark.parametrize(
    "sub_id",
    [
        pytest.param("user-1", id="not-an-object"),
        pytest.param({"id": "u"}, id="no-format"),
        pytest.param({"format": ""}, id="empty-format"),
        pytest.param({"format": "iss_sub", "iss": TRUSTED}, id="iss_sub-without-sub"),
        pytest.param({"format": "iss_sub", "iss": TRUSTED, "sub": 7}, id="sub-not-a-string"),
        pytest.param({"format": "email"}, id="email-without-email"),
        pytest.param({"format": "opaque", "id": ""}, id="empty-id"),
        pytest.param({"format": "jwt_id", "jti": "j"}, id="jwt_id-without-iss"),
        pytest.param({"format": "opaque", "id": "x" * 1025}, id="longer-than-a-rule-holds"),
        pytest.param({"format": "opaque", "id": "a\x00b"}, id="nul"),
    ],
)
def test_a_malformed_identifier_is_refused(sub_id: Any) -> None:
    """Its format's members must be there, non-empty strings a rule can hold."""
    with pytest.raises(MalformedSubject):
        user_target(read_identifier(sub_id), SCOPE)


@pytest.mark.parametrize(
    "sub_id",
    [
        pytest.param({"format": "aliases"}, id="aliases-without-identifiers"),
        pytest.param({"format": "aliases", "identifiers": []}, id="aliases-empty"),
        pytest.param({"format": "aliases", "identifiers": [{"format": "aliases",
                      "identifiers": [{"format": "opaque", "id": "u"}]}]}, id="nested-aliases"),
        pytest.param({"format": "complex", "user": "u"}, id="complex-member-not-an-object"),
    ],
)  # fmt: skip
def test_aliases_and_complex_members_are_checked_too(sub_id: dict[str, Any]) -> None:
    """RFC 9493 §3.2.6: an aliases list of identifiers, none of them aliases itself."""
    with pytest.raises(MalformedSubject):
        user_target(read_identifier(sub_id), SCOPE)
