"""What each CAEP, RISC and SSF event means here: a rule, a verification, a stream status or
nothing.

- CAEP ``session-revoked``: a session subject (``opaque``, or a complex subject's
  ``session``) gives a session rule; a user subject, a user cut-off at
  ``event_timestamp`` (else the SET's ``iat``);
- RISC ``sessions-revoked`` (deprecated for the CAEP event): a user cut-off (all the
  account's sessions);
- CAEP ``credential-change`` with ``change_type`` update, revoke or delete (of a
  ``credential_type`` that counts, ``--ssf-credential-type``): a user cut-off;
  ``create`` changes nothing;
- CAEP ``token-claims-change`` for a ``jwt_id`` subject: a token rule (the token's claims
  are no longer true);
- RISC ``account-disabled``, ``account-purged``, ``credential-compromise``,
  ``account-credential-change-required``: a user cut-off;
- RISC ``account-enabled``: nothing is lifted (logged: a cut-off never blocks a later
  sign-in, so there is nothing to undo);
- SSF ``verification``: its ``state`` is checked; ``stream-updated``: the stream's status
  is recorded;
- anything else, or a subject no token carries: acknowledged, counted, not applied.

A user cut-off is a subject rule for ``iss_sub`` and ``opaque``, an email rule for
``email`` (``subjects``). An event whose own members break its definition (a
``credential-change`` without ``change_type``, a ``token-claims-change`` without
``claims``, an ``event_timestamp`` that is not a number) is refused with
``invalid_request`` (RFC 8935 §2.4), as a malformed subject is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from revoker.app.signals.subjects import (
    Identifier,
    MalformedSubject,
    Scope,
    Target,
    read_identifier,
    session_target,
    token_target,
    user_target,
)
from revoker.core.detail import shown
from revoker.core.security_event import SecurityEvent

__all__ = [
    "APPLIED_EVENTS",
    "CAEP",
    "RISC",
    "SSF",
    "STREAM_UPDATED",
    "VERIFICATION",
    "EventPolicy",
    "Plan",
    "plan_for",
    "short_name",
]

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"

SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
SESSIONS_REVOKED = RISC + "sessions-revoked"
ACCOUNT_ENABLED = RISC + "account-enabled"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"
#: RISC events that cut every token of the account off.
_ACCOUNT_CUT_OFFS = frozenset(
    RISC + name
    for name in (
        "account-disabled",
        "account-purged",
        "credential-compromise",
        "account-credential-change-required",
    )
)
#: The events that may make a rule: what ``revoker ssf register`` asks a transmitter for.
APPLIED_EVENTS: tuple[str, ...] = (
    SESSION_REVOKED,
    CREDENTIAL_CHANGE,
    TOKEN_CLAIMS_CHANGE,
    *sorted(_ACCOUNT_CUT_OFFS),
    SESSIONS_REVOKED,
)
_CUTTING_CHANGES = frozenset({"update", "revoke", "delete"})
_CHANGE_TYPES = _CUTTING_CHANGES | {"create"}
_STREAM_STATUSES = frozenset({"enabled", "paused", "disabled"})
_MAX_REASON_CHARS = 200

Action = Literal["revoke", "verify", "stream_updated", "ignore"]


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """Choices about events: which credential types' changes count (empty: every type)."""

    credential_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do about one event. ``outcome`` is the metric's label for ignored events
    (``not_applied``, ``unsupported_event``, ``unsupported_subject``)."""

    action: Action
    target: Target | None = None
    cutoff: float | None = None
    reason: str = ""
    outcome: str = "applied"
    stream_id: str | None = None
    state: str | None = None
    status: str | None = None


def short_name(event_type: str) -> str:
    """``https://…/caep/event-type/session-revoked`` -> ``CAEP session-revoked``."""
    for prefix, label in ((CAEP, "CAEP"), (RISC, "RISC"), (SSF, "SSF")):
        if event_type.startswith(prefix):
            return f"{label} {event_type[len(prefix) :]}"
    return shown(event_type, limit=96)


def _subject(event: SecurityEvent) -> Identifier:
    """``sub_id``, else the event's legacy ``subject`` (SSF 1.0 §3.1.1)."""
    value = event.sub_id if event.sub_id is not None else event.event.get("subject")
    if value is None:
        raise MalformedSubject("the SET names no subject: neither 'sub_id' nor 'subject'")
    return read_identifier(value)


def _cutoff(event: SecurityEvent, now: float) -> float:
    """``event_timestamp`` when the event carries one, else the SET's ``iat``; never later
    than now (a transmitter's clock ahead of ours must not cut off a later sign-in)."""
    stamp = event.event.get("event_timestamp")
    if stamp is None:
        return min(event.iat, now)
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise MalformedSubject(f"'event_timestamp' must be a number, not {shown(stamp)}")
    return min(float(stamp), now)


def _text(value: object) -> str:
    """A transmitter's free text, safe for a rule's reason: printable, one line, bounded."""
    text = value if isinstance(value, str) else ""
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


def _reasons(event: Mapping[str, Any]) -> list[str]:
    """CAEP's ``reason_admin`` (English, else its first language), ``initiating_entity``,
    RISC's ``reason`` and CAEP's ``change_type``/``credential_type``, as they are given."""
    parts: list[str] = []
    admin = event.get("reason_admin")
    if isinstance(admin, dict) and admin:
        message = admin.get("en", next(iter(admin.values())))
        if _text(message):
            parts.append(_text(message))
    for name in ("initiating_entity", "reason", "credential_type", "change_type"):
        if name in event and _text(event[name]):
            parts.append(f"{name}={_text(event[name])}")
    return parts


def describe(event: SecurityEvent, target: Target | None) -> str:
    """A rule's reason: the event, its ``txn``, its subject and its reasons."""
    words = [f"SSF {short_name(event.event_type)}"]
    if event.txn:
        words.append(f"txn {_text(event.txn)[:64]}")
    if target is not None:
        words.append(target.named)
    return "; ".join([", ".join(words), *_reasons(event.event)])[:1024]


def _revoke(event: SecurityEvent, target: Target | None, now: float) -> Plan:
    if target is None:
        return Plan("ignore", reason=describe(event, None), outcome="unsupported_subject")
    cutoff = None if target.kind.value in ("session", "token") else _cutoff(event, now)
    return Plan("revoke", target=target, cutoff=cutoff, reason=describe(event, target))


def _credential_change(event: SecurityEvent, scope: Scope, policy: EventPolicy, now: float) -> Plan:
    change = event.event.get("change_type")
    credential = event.event.get("credential_type")
    if change not in _CHANGE_TYPES:
        raise MalformedSubject(
            f"a credential-change event needs 'change_type' create, revoke, update or delete, "
            f"not {shown(change)}"
        )
    if not isinstance(credential, str) or not credential:
        raise MalformedSubject("a credential-change event needs a string 'credential_type'")
    if change not in _CUTTING_CHANGES or (
        policy.credential_types and credential not in policy.credential_types
    ):
        return Plan("ignore", reason=describe(event, None), outcome="not_applied")
    return _revoke(event, user_target(_subject(event), scope), now)


def _stream_event(event: SecurityEvent) -> Plan:
    subject = _subject(event)
    if subject.format != "opaque":
        raise MalformedSubject("a stream's events name the stream as an 'opaque' sub_id")
    stream_id = subject.text("id")
    if event.event_type == VERIFICATION:
        state = event.event.get("state")
        if state is not None and not isinstance(state, str):
            raise MalformedSubject("the verification event's 'state' must be a string")
        return Plan("verify", stream_id=stream_id, state=state, outcome="verification")
    status = event.event.get("status")
    if status not in _STREAM_STATUSES:
        raise MalformedSubject(
            f"a stream-updated event needs 'status' enabled, paused or disabled, not "
            f"{shown(status)}"
        )
    return Plan(
        "stream_updated",
        stream_id=stream_id,
        status=str(status),
        reason=_text(event.event.get("reason")),
        outcome="stream_updated",
    )


def plan_for(event: SecurityEvent, scope: Scope, policy: EventPolicy, now: float) -> Plan:
    """What ``event`` asks for; ``MalformedSubject`` when it breaks its own definition."""
    kind = event.event_type
    if kind in (VERIFICATION, STREAM_UPDATED):
        return _stream_event(event)
    if kind == SESSION_REVOKED:
        return _revoke(event, session_target(_subject(event), scope), now)
    if kind == SESSIONS_REVOKED or kind in _ACCOUNT_CUT_OFFS:
        return _revoke(event, user_target(_subject(event), scope), now)
    if kind == CREDENTIAL_CHANGE:
        return _credential_change(event, scope, policy, now)
    if kind == TOKEN_CLAIMS_CHANGE:
        claims = event.event.get("claims")
        if not isinstance(claims, dict) or not claims:
            raise MalformedSubject("a token-claims-change event needs a non-empty 'claims' object")
        target = token_target(_subject(event), scope)
        if target is None:
            return Plan("ignore", reason=describe(event, None), outcome="unsupported_subject")
        return _revoke(event, target, now)
    _subject(event)  # even an event not applied must name a subject of a valid shape
    outcome = "not_applied" if kind == ACCOUNT_ENABLED else "unsupported_event"
    return Plan("ignore", reason=describe(event, None), outcome=outcome)
