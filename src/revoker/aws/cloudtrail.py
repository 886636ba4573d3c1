"""Reading Cognito's CloudTrail events (as EventBridge delivers them) for revocations.

These calls end every session a user had, so each becomes a subject rule with
cutoff = the event's time: AdminUserGlobalSignOut, AdminDisableUser,
AdminDeleteUser, AdminResetUserPassword, GlobalSignOut and ChangePassword.

Who the user is: a ``sub`` in ``additionalEventData`` when Cognito put one
there; else the ``username`` of an admin call, which the handler resolves to
a sub with AdminGetUser. Cognito hides some values (``HIDDEN_FOR_SECURITY_
REASONS``); a call that failed (``errorCode``) changed nothing. Anything that
cannot be attributed raises ``Unattributable`` with the reason to log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["SIGN_OUT_EVENTS", "SignOutEvent", "Unattributable", "read_sign_out_event"]

SIGN_OUT_EVENTS = frozenset(
    {
        "AdminUserGlobalSignOut",
        "AdminDisableUser",
        "AdminDeleteUser",
        "AdminResetUserPassword",
        "GlobalSignOut",
        "ChangePassword",
    }
)
_SOURCE = "cognito-idp.amazonaws.com"
_HIDDEN = frozenset({"HIDDEN_FOR_SECURITY_REASONS", "HIDDEN_DUE_TO_SECURITY_REASONS"})


class Unattributable(Exception):
    """The event cannot become a rule; ``str()`` says why, for the log."""


@dataclass(frozen=True, slots=True)
class SignOutEvent:
    """A Cognito call that ended a user's sessions at ``cutoff``."""

    event_id: str
    event_name: str
    cutoff: float
    user_pool_id: str | None
    sub: str | None
    username: str | None


def read_sign_out_event(event: Any) -> SignOutEvent:
    """The sign-out an EventBridge (or bare CloudTrail) event records, or ``Unattributable``."""
    if not isinstance(event, Mapping):
        raise Unattributable("the event is not a JSON object")
    detail = event.get("detail", event)
    if not isinstance(detail, Mapping) or detail.get("eventSource") != _SOURCE:
        raise Unattributable("not a Cognito user pool CloudTrail event")
    name = detail.get("eventName")
    if name not in SIGN_OUT_EVENTS:
        raise Unattributable(f"{str(name)[:64]} does not end sessions")
    if detail.get("errorCode"):
        raise Unattributable(f"{name} failed ({str(detail['errorCode'])[:64]}): nothing changed")
    event_id = _text(detail.get("eventID")) or _text(event.get("id"))
    if event_id is None:
        raise Unattributable(f"{name} has no event id")
    cutoff = _time(detail.get("eventTime"))
    if cutoff is None:
        raise Unattributable(f"{name} has no usable eventTime")
    request = _mapping(detail.get("requestParameters"))
    extra = _mapping(detail.get("additionalEventData"))
    sub = _text(extra.get("sub"))
    username = _text(request.get("username"))
    if sub is None and username is None:
        raise Unattributable(f"{name} does not carry the user (no sub, no username)")
    pool = _text(request.get("userPoolId")) or _text(extra.get("userPoolId"))
    return SignOutEvent(str(event_id), str(name), cutoff, pool, sub, username)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    """A usable string: not empty, not one of Cognito's redaction markers, not absurdly long."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or value in _HIDDEN or len(value) > 256:
        return None
    return value


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # CloudTrail writes UTC with a Z; a naive time would be a guess
    return moment.timestamp()
