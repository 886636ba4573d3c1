"""Security Event Tokens (RFC 8417, as Shared Signals 1.0 sends them): typ secevent+jwt, iat
fresh, exactly one event, jti; exp and sub not required; never taken for another profile."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from revoker.core.errors import (
    ConfigurationError,
    InvalidLogoutToken,
    InvalidSecurityEvent,
    IssuedInFuture,
    MissingClaim,
    RevokerError,
    TokenExpired,
    WrongAudience,
    WrongTokenUse,
)
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT, LogoutTokenVerifier
from revoker.core.security_event import SecurityEventVerifier
from revoker.testing import TokenFactory
from verify_support import NOW, policy_for, verifier_for

TRANSMITTER = "https://ssf.example.com"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


@pytest.fixture
def transmitter(factory: TokenFactory) -> TokenFactory:
    sender = copy.copy(factory)
    sender.issuer = TRANSMITTER
    return sender


def event_token(f: TokenFactory, *, typ: Any = "secevent+jwt", **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": TRANSMITTER,
        "aud": f.client_id,
        "iat": NOW,
        "jti": "set-1",
        "sub_id": {"format": "opaque", "id": "user-1"},
        "events": {SESSION_REVOKED: {"event_timestamp": NOW}},
    }
    claims.update(overrides)
    header: dict[str, Any] = {"alg": f.alg, "kid": f.kid}
    if typ is not None:
        header["typ"] = typ
    return f.sign({k: v for k, v in claims.items() if v is not None}, header=header)


def set_verifier(f: TokenFactory, **options: Any) -> SecurityEventVerifier:
    return SecurityEventVerifier(verifier_for(f, policy_for(f, token_use=None)), **options)


def refused(
    verifier: SecurityEventVerifier, token: str, error: type[RevokerError], fragment: str
) -> None:
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert type(info.value) is error
    assert fragment in info.value.detail


def test_a_security_event_verifies(transmitter: TokenFactory) -> None:
    """The control: a CAEP session-revoked SET with no exp and no sub passes."""
    event = set_verifier(transmitter).verify(event_token(transmitter))
    assert (event.iss, event.jti, event.iat) == (TRANSMITTER, "set-1", NOW)
    assert event.event_type == SESSION_REVOKED
    assert event.event == {"event_timestamp": NOW}
    assert event.sub_id == {"format": "opaque", "id": "user-1"}


@pytest.mark.parametrize(
    ("typ", "overrides", "error", "fragment"),
    [
        (None, {}, InvalidSecurityEvent, "typ is absent"),
        ("JWT", {}, InvalidSecurityEvent, "typ is 'JWT'"),
        ("logout+jwt", {}, InvalidSecurityEvent, "'secevent+jwt'"),
        ("secevent+jwt", {"events": None}, InvalidSecurityEvent, "no 'events' claim"),
        ("secevent+jwt", {"events": {}}, InvalidSecurityEvent, "has 0"),
        (
            "secevent+jwt",
            {"events": {SESSION_REVOKED: {}, "urn:other": {}}},
            InvalidSecurityEvent,
            "has 2",
        ),
        ("secevent+jwt", {"events": {SESSION_REVOKED: "x"}}, InvalidSecurityEvent, "JSON object"),
        (
            "secevent+jwt",
            {"events": {BACKCHANNEL_LOGOUT_EVENT: {}}},
            InvalidSecurityEvent,
            "logout token",
        ),
        ("secevent+jwt", {"jti": None}, MissingClaim, "no 'jti' claim"),
        ("secevent+jwt", {"iat": None}, MissingClaim, "no 'iat' claim"),
        ("secevent+jwt", {"iat": NOW - 901}, InvalidSecurityEvent, "more than 900 s"),
        ("secevent+jwt", {"iat": NOW + 60}, IssuedInFuture, "lies in the future"),
        ("secevent+jwt", {"exp": NOW - 10}, TokenExpired, "expired at"),
        ("secevent+jwt", {"aud": "someone-else"}, WrongAudience, "'someone-else'"),
        ("secevent+jwt", {"aud": None}, MissingClaim, "no 'aud' claim"),
        ("secevent+jwt", {"sub_id": "user-1"}, InvalidSecurityEvent, "'sub_id'"),
    ],
    ids=repr,
)
def test_each_set_rule_refuses_its_flaw(
    transmitter: TokenFactory,
    typ: str | None,
    overrides: dict[str, Any],
    error: type[RevokerError],
    fragment: str,
) -> None:
    """Explicit typing, one event as an object, jti, a fresh iat, aud, and exp when present."""
    refused(
        set_verifier(transmitter), event_token(transmitter, typ=typ, **overrides), error, fragment
    )


def test_the_maximum_age_is_configurable(transmitter: TokenFactory) -> None:
    """max_age_seconds bounds iat; a positive finite number of seconds."""
    token = event_token(transmitter, iat=NOW - 100)
    assert set_verifier(transmitter).verify(token)
    refused(set_verifier(transmitter, max_age_seconds=60), token, InvalidSecurityEvent, "60 s")
    with pytest.raises(ConfigurationError):
        set_verifier(transmitter, max_age_seconds=0)


def test_sets_logout_tokens_and_access_tokens_are_never_taken_for_one_another(
    transmitter: TokenFactory,
) -> None:
    """Each profile refuses the other two: explicit typ and the events claim keep them apart."""
    verifier = verifier_for(transmitter, policy_for(transmitter, token_use=None))
    a_set = event_token(transmitter)
    with pytest.raises(WrongTokenUse):
        verifier.verify(a_set)
    with pytest.raises(InvalidLogoutToken):
        LogoutTokenVerifier(verifier).verify(a_set)
    logout = transmitter.logout_token()
    with pytest.raises(InvalidSecurityEvent):
        SecurityEventVerifier(verifier).verify(logout)
    with pytest.raises(InvalidSecurityEvent):
        SecurityEventVerifier(verifier).verify(transmitter.id_token())
