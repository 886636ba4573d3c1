"""The Security Event Token profile (RFC 8417, as Shared Signals 1.0 uses it: CAEP, RISC).

``SecurityEventVerifier.verify`` checks a SET with the keys, issuers, audiences,
algorithm allow-list and leeway of the access-token ``Verifier`` (the transmitter
is a trusted issuer with a JWKS):

1. the signature, by a trusted issuer's key, with an allowed algorithm, no ``crit``;
2. the header ``typ`` ``secevent+jwt`` (RFC 8417 §2.3, required here: explicit typing
   is what keeps a SET from passing for any other JWT, and the other way round);
3. ``aud`` names one accepted audience;
4. ``iat`` present, not in the future and not older than ``max_age_seconds``; ``exp``
   and ``sub`` not required (SSF SETs carry neither), ``exp`` checked when present;
5. ``jti`` present;
6. ``events`` a JSON object with exactly one member (SSF §4.1), whose value is a JSON
   object, and not the back-channel logout event (that belongs to logout tokens).

Profile failures raise ``InvalidSecurityEvent``; shared checks keep their reason
codes. Deduplication by ``jti`` is the application's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revoker.core.detail import iso_time, shown, shown_list
from revoker.core.errors import ConfigurationError, InvalidSecurityEvent
from revoker.core.event_tokens import (
    EventTokenProfile,
    audience_values,
    events_of,
    string_claim,
    typ_of,
)
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT

if TYPE_CHECKING:
    from revoker.core.verify import Verifier

__all__ = [
    "DEFAULT_SET_MAX_AGE_SECONDS",
    "SECURITY_EVENT_TYPE",
    "SecurityEvent",
    "SecurityEventVerifier",
]

#: The header ``typ`` of a SET, as ``header_type`` gives it.
SECURITY_EVENT_TYPE = "secevent+jwt"
DEFAULT_SET_MAX_AGE_SECONDS = 900.0


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A SET that passed every check but deduplication: one event and its subject."""

    iss: str
    jti: str
    iat: float
    aud: tuple[str, ...]
    event_type: str
    event: Mapping[str, Any] = field(repr=False)
    #: SSF's top-level subject identifier (RFC 9493), when the SET carries one.
    sub_id: Mapping[str, Any] | None = field(default=None, repr=False)
    txn: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _one_event(claims: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    events = events_of(claims, InvalidSecurityEvent)
    if len(events) != 1:
        raise InvalidSecurityEvent(
            f"a SET reports exactly one event; this one has {len(events)}:"
            f" {shown_list(sorted(events))}"
        )
    ((event_type, event),) = events.items()
    if event_type == BACKCHANNEL_LOGOUT_EVENT:
        raise InvalidSecurityEvent(
            "the back-channel logout event comes in a logout token, not in a SET"
        )
    if not isinstance(event, dict):
        raise InvalidSecurityEvent(f"event {shown(event_type)} must be a JSON object")
    return event_type, event


class SecurityEventVerifier:
    """Verifies SETs with an access-token ``Verifier``'s keys and policy.

    ``audience`` overrides the verifier's audiences (the receiver's identifiers as the
    stream names them); ``max_age_seconds`` bounds how old a SET's ``iat`` may be.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        audience: tuple[str, ...] | None = None,
        max_age_seconds: float = DEFAULT_SET_MAX_AGE_SECONDS,
    ) -> None:
        if not (isinstance(max_age_seconds, int | float) and 0 < max_age_seconds < math.inf):
            raise ConfigurationError("max_age_seconds must be positive and finite")
        self._profile = EventTokenProfile(verifier, audience=audience)
        self.audience = self._profile.audience
        self.max_age_seconds = float(max_age_seconds)

    def verify(self, token: str) -> SecurityEvent:
        """The checked SET, or a ``TokenRejected`` naming the check that failed."""
        profile = self._profile
        parsed = profile.signed(token)
        header, claims = parsed.header, parsed.claims
        if typ_of(header, InvalidSecurityEvent) != SECURITY_EVENT_TYPE:
            received = shown(header["typ"]) if "typ" in header else "absent"
            raise InvalidSecurityEvent(f"header typ is {received}, not a SET's 'secevent+jwt'")
        event_type, event = _one_event(claims)
        now = profile.verifier.clock()
        profile.check_common(claims, now, exp_required=False)
        iat = float(claims["iat"])
        if iat < now - self.max_age_seconds:
            raise InvalidSecurityEvent(
                f"the SET was issued at {iso_time(iat)}, more than"
                f" {self.max_age_seconds:g} s before now {iso_time(now)}"
            )
        jti = string_claim(claims, "jti", required=True)
        assert jti is not None  # noqa: S101 - required=True guarantees it
        sub_id = claims.get("sub_id")
        if sub_id is not None and not isinstance(sub_id, dict):
            raise InvalidSecurityEvent(f"claim 'sub_id' must be a JSON object, not {shown(sub_id)}")
        return SecurityEvent(
            iss=str(claims["iss"]),
            jti=jti,
            iat=iat,
            aud=audience_values(claims),
            event_type=event_type,
            event=event,
            sub_id=sub_id,
            txn=string_claim(claims, "txn", required=False),
            claims=claims,
        )
