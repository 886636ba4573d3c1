"""``Principal``: who an allowed token speaks for, the one object every in-app integration
hands to a view.

It is built on ``revoker.app.identity.Identity``, so the username, groups,
scopes, client and token use are read from Cognito's and standard OIDC claims
exactly as ``/auth``'s ``X-Auth-*`` headers, the Lambda authorizer's context and
``/introspect`` read them. It is immutable all the way down: the claims are a
read-only copy (lists become tuples, objects read-only mappings), so a view
cannot change what the verified-token cache holds. It never holds the token:
``token_fingerprint`` (a SHA-256 prefix) is what a log line may show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from revoker.app.identity import Identity
from revoker.core.tokens import token_fingerprint

if TYPE_CHECKING:
    from typing import Self

    from revoker.core.authorizer import Decision

__all__ = ["Principal", "frozen_claims"]


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def frozen_claims(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only deep copy of JSON claims: objects as read-only mappings, arrays as tuples."""
    return MappingProxyType({name: _frozen(value) for name, value in claims.items()})


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a token that is genuine, valid now and not revoked.

    ``sub``, ``username``, ``groups``, ``scopes``, ``client_id`` and ``token_use``
    are ``Identity``'s six values (empty when the token lacks the claim);
    ``issuer`` is ``iss``; ``claims`` every claim, read-only; ``reason`` the
    decision's reason code (``allowed``); ``expires_at`` the token's ``exp``.
    """

    sub: str
    username: str
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    client_id: str
    token_use: str
    issuer: str
    expires_at: float
    token_fingerprint: str
    reason: str = "allowed"
    claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @classmethod
    def from_decision(cls, decision: Decision, token: str) -> Self:
        """The principal of an allowed decision (``ValueError`` for a denied one)."""
        if not decision.allowed or decision.claims is None:
            raise ValueError(f"a denied token ({decision.reason}) has no principal")
        claims = decision.claims
        identity = Identity.from_claims(claims)
        exp = claims.get("exp")
        return cls(
            sub=identity.sub,
            username=identity.username,
            groups=identity.groups,
            scopes=identity.scopes,
            client_id=identity.client_id,
            token_use=identity.token_use,
            issuer=str(claims.get("iss", "")),
            expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
            token_fingerprint=token_fingerprint(token),
            reason=decision.reason,
            claims=frozen_claims(claims),
        )

    def to_identity(self) -> Identity:
        """The six values as the ``Identity`` the gateway transports send."""
        return Identity(
            sub=self.sub,
            username=self.username,
            groups=self.groups,
            scopes=self.scopes,
            client_id=self.client_id,
            token_use=self.token_use,
        )

    @property
    def is_authenticated(self) -> bool:
        """Always true: what Starlette, Django and DRF ask of a user object."""
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        """The username, else the subject."""
        return self.username or self.sub

    def missing_scopes(self, required: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The required scopes this token does not carry, in the order given."""
        have = self.scopes
        return tuple(scope for scope in required if scope not in have)

    def missing_groups(self, required: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The required groups the holder is not in, in the order given."""
        have = self.groups
        return tuple(group for group in required if group not in have)

    def has_scopes(self, *required: str) -> bool:
        return not self.missing_scopes(required)

    def in_groups(self, *required: str) -> bool:
        return not self.missing_groups(required)
