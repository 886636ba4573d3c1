"""The OIDC Back-Channel Logout 1.0 validation profile (final, errata set 1: §2.4, §2.6).

``LogoutTokenVerifier.verify`` checks a ``logout_token`` as §2.6 asks, with the
keys, issuers, audiences, algorithm allow-list and leeway of the access-token
``Verifier``:

1. the signature, by a trusted issuer's key, with an allowed algorithm (never
   ``none``, never HS*: neither is in ``SUPPORTED_ALGORITHMS``), and no ``crit``;
2. the header ``typ``: ``logout+jwt`` (§2.4's explicit typing), ``JWT`` or absent;
3. ``iss`` trusted (before any key is fetched); ``aud`` names one accepted audience;
4. ``iat`` and ``exp`` present, ``exp`` not passed, ``iat`` not in the future, and the
   lifetime within the verifier's bound (as for an ID token);
5. ``jti`` present;
6. ``events`` a JSON object holding ``http://schemas.openid.net/event/backchannel-logout``,
   whose value is a JSON object;
7. ``sub`` or ``sid`` present (both may be);
8. no ``nonce`` (§2.4: so a logout token can never pass for an ID token).

Profile failures raise ``InvalidLogoutToken``; the shared checks keep their own
reason codes (``bad_signature``, ``wrong_issuer``, ``wrong_audience``, ``expired``,
``missing_claim`` …), all of them ``TokenRejected``, which §2.8 answers with 400.
Replay (§2.6 step 8) is the application's: it keeps no state here, and derives a
deterministic rule id from ``iss`` + ``jti``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revoker.core.detail import shown
from revoker.core.errors import InvalidLogoutToken
from revoker.core.event_tokens import (
    EventTokenProfile,
    audience_values,
    events_of,
    string_claim,
    typ_of,
)

if TYPE_CHECKING:
    from revoker.core.verify import Verifier

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "LOGOUT_TOKEN_TYPE", "LogoutToken", "LogoutTokenVerifier"]

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The header ``typ`` of an explicitly typed logout token, as ``header_type`` gives it.
LOGOUT_TOKEN_TYPE = "logout+jwt"
_ACCEPTED_TYPES = frozenset({None, LOGOUT_TOKEN_TYPE, "jwt"})


@dataclass(frozen=True, slots=True)
class LogoutToken:
    """A logout token that passed every §2.6 check but replay."""

    iss: str
    sub: str | None
    sid: str | None
    jti: str
    iat: float
    exp: float
    aud: tuple[str, ...]
    #: The event's own object (usually ``{}``; Keycloak sends ``revoke_offline_access``).
    event: Mapping[str, Any] = field(repr=False)
    claims: Mapping[str, Any] = field(repr=False)


def _check_typ(header: Mapping[str, Any]) -> None:
    if typ_of(header, InvalidLogoutToken) not in _ACCEPTED_TYPES:
        raise InvalidLogoutToken(
            f"header typ {shown(header['typ'])} is not a logout token's: 'logout+jwt',"
            " 'JWT' or no typ"
        )


def _logout_event(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    events = events_of(claims, InvalidLogoutToken)
    if BACKCHANNEL_LOGOUT_EVENT not in events:
        raise InvalidLogoutToken(
            f"claim 'events' does not hold {BACKCHANNEL_LOGOUT_EVENT!r}: not a logout token"
        )
    event = events[BACKCHANNEL_LOGOUT_EVENT]
    if not isinstance(event, dict):
        raise InvalidLogoutToken(
            f"the back-channel logout event must be a JSON object, not {shown(event)}"
        )
    return event


class LogoutTokenVerifier:
    """Verifies back-channel logout tokens with an access-token ``Verifier``'s keys and policy.

    ``audience`` overrides the verifier's audiences (the RP's client ids); one or the
    other must be set, since §2.6 checks ``aud`` like an ID token's.
    """

    def __init__(self, verifier: Verifier, *, audience: tuple[str, ...] | None = None) -> None:
        self._profile = EventTokenProfile(verifier, audience=audience)
        self.audience = self._profile.audience

    def verify(self, token: str) -> LogoutToken:
        """The checked logout token, or a ``TokenRejected`` naming the check that failed."""
        profile = self._profile
        parsed = profile.signed(token)
        header, claims = parsed.header, parsed.claims
        _check_typ(header)
        event = _logout_event(claims)  # first: an access or ID token is told so at once
        profile.check_common(claims, profile.verifier.clock(), exp_required=True)
        jti = string_claim(claims, "jti", required=True)
        sub = string_claim(claims, "sub", required=False)
        sid = string_claim(claims, "sid", required=False)
        if sub is None and sid is None:
            raise InvalidLogoutToken("the token names neither a 'sub' nor a 'sid' to log out")
        if "nonce" in claims:
            raise InvalidLogoutToken(
                "the token carries a 'nonce', which a logout token must not (§2.4)"
            )
        assert jti is not None  # noqa: S101 - required=True guarantees it
        return LogoutToken(
            iss=str(claims["iss"]),
            sub=sub,
            sid=sid,
            jti=jti,
            iat=float(claims["iat"]),
            exp=float(claims["exp"]),
            aud=audience_values(claims),
            event=event,
            claims=claims,
        )
