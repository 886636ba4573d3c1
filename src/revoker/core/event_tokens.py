"""Building blocks of the event-token profiles: back-channel logout tokens and SETs.

Both profiles are JWTs carrying an ``events`` object (RFC 8417 §2.2), signed by a
trusted issuer with the keys, algorithm allow-list and leeway the access-token
``Verifier`` uses. ``EventTokenProfile`` holds what they share (the verifier's key
caches, issuers, algorithms, leeway, and the audiences), and the helpers read the
claims both need. Neither profile keeps state: replay (``jti``) is the
application's to remember.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from revoker.core.claims import check_audience, check_times
from revoker.core.detail import shown
from revoker.core.errors import ConfigurationError, MalformedToken, MissingClaim, TokenRejected
from revoker.core.signed import verify_signed
from revoker.core.tokens import UnverifiedToken, header_type

if TYPE_CHECKING:
    from revoker.core.verify import Verifier

__all__ = [
    "EventTokenProfile",
    "audience_values",
    "events_of",
    "string_claim",
    "typ_of",
]


def string_claim(claims: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    """A string claim: ``MissingClaim`` when required and absent or empty, else None."""
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise MalformedToken(f"claim '{name}' must be a string, not {shown(value)}")
    if not value:
        if required:
            raise MissingClaim(f"the token has no '{name}' claim, which is required")
        return None
    return value


def events_of(claims: Mapping[str, Any], error: type[TokenRejected]) -> dict[str, Any]:
    """The ``events`` claim as a JSON object, or ``error`` saying why not."""
    if "events" not in claims:
        raise error("the token has no 'events' claim, so it reports no event")
    events = claims["events"]
    if not isinstance(events, dict):
        raise error(f"claim 'events' must be a JSON object, not {shown(events)}")
    return events


def typ_of(header: Mapping[str, Any], error: type[TokenRejected]) -> str | None:
    """``header_type``, with a non-string ``typ`` reported as ``error``."""
    try:
        return header_type(header)
    except MalformedToken as exc:
        raise error(exc.detail) from exc


def audience_values(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """``aud`` as a tuple (checked already: a string or a list of strings)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    return tuple(item for item in aud if isinstance(item, str)) if isinstance(aud, list) else ()


class EventTokenProfile:
    """What an event-token verifier shares with ``verifier``: keys, issuers, algorithms,
    leeway and clock; and the audiences (``audience`` or the verifier's own). An event
    token must name an audience: with none configured this is a configuration error."""

    def __init__(self, verifier: Verifier, *, audience: tuple[str, ...] | None = None) -> None:
        accepted = audience if audience is not None else verifier.policy.audience
        if accepted is None:
            raise ConfigurationError(
                "an event token must name its audience: configure the accepted audiences"
                " (the client ids the issuer sends logout tokens or events to)"
            )
        if (
            not isinstance(accepted, tuple)
            or not accepted
            or not all(isinstance(item, str) for item in accepted)
        ):
            raise ConfigurationError("audience must be a non-empty tuple of strings")
        self.verifier = verifier
        self.audience: tuple[str, ...] = accepted

    def signed(self, token: str) -> UnverifiedToken:
        """The token once a trusted issuer's key verifies it (``signed.verify_signed``)."""
        return verify_signed(token, self.verifier.policy, self.verifier.keys)

    def check_common(self, claims: Mapping[str, Any], now: float, *, exp_required: bool) -> None:
        """``aud`` names one accepted audience; ``iat`` (and ``exp`` if required) hold."""
        check_audience(claims, "aud", self.audience)
        check_times(claims, self.verifier.policy, now, exp_required=exp_required)
