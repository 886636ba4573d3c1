"""Who a verified token speaks for, read the same way for every transport.

``Identity.from_claims`` reads Cognito's and standard OIDC claims alike: the
username from ``username``, ``cognito:username`` or ``preferred_username``; the
groups from ``cognito:groups`` or ``groups``; the scopes from ``scope`` (space
separated) or ``scp`` (a list, as Okta and Entra send it); the client from
``client_id``, else ``azp``, else the first ``aud``; the token use from Cognito's
``token_use``, else the token's kind. ``/auth`` sends it as the ``X-Auth-*``
headers, the Lambda authorizer as its context, ``/introspect`` as RFC 7662's
``username`` and ``client_id``; the in-app integrations build their principal on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["IDENTITY_HEADERS", "Identity", "introspection_document"]

IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Username",
    "X-Auth-Groups",
    "X-Auth-Scope",
    "X-Auth-Client-Id",
    "X-Auth-Token-Use",
)


def _strings(value: Any, *, split: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split()) if split else (value,) if value else ()
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str) and item)
    return ()


def _first(*values: Any) -> str:
    for value in values:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list):
            found = next((item for item in value if isinstance(item, str) and item), None)
            if found is not None:
                return found
    return ""


@dataclass(frozen=True, slots=True)
class Identity:
    """The six things a gateway or an app wants to know about a token's holder."""

    sub: str
    username: str
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    client_id: str
    token_use: str

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, kind: str | None = None) -> Identity:
        scope = claims.get("scope")
        return cls(
            sub=_first(claims.get("sub")),
            username=_first(
                claims.get("username"),
                claims.get("cognito:username"),
                claims.get("preferred_username"),
            ),
            groups=_strings(claims.get("cognito:groups", claims.get("groups"))),
            scopes=_strings(scope if scope is not None else claims.get("scp"), split=True),
            client_id=_first(claims.get("client_id"), claims.get("azp"), claims.get("aud")),
            token_use=_first(claims.get("token_use"), kind),
        )

    def values(self) -> tuple[str, str, str, str, str, str]:
        """The six values as strings, in ``IDENTITY_HEADERS`` order (lists joined)."""
        return (
            self.sub,
            self.username,
            ",".join(self.groups),
            " ".join(self.scopes),
            self.client_id,
            self.token_use,
        )

    def context(self) -> dict[str, str]:
        """The six values keyed for an authorizer context (API Gateway, AppSync)."""
        keys = ("sub", "username", "groups", "scope", "client_id", "token_use")
        return dict(zip(keys, self.values(), strict=True))


def introspection_document(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``{"active": true}``, the claims, and the RFC 7662 names derived from them."""
    identity = Identity.from_claims(claims)
    document: dict[str, Any] = {"active": True}
    document.update((name, value) for name, value in claims.items() if name != "active")
    cnf = claims.get("cnf")
    # RFC 9449 §6.2: a DPoP-bound token is of type DPoP.
    document["token_type"] = "DPoP" if isinstance(cnf, dict) and "jkt" in cnf else "Bearer"
    if identity.client_id and "client_id" not in claims:
        document["client_id"] = identity.client_id
    if identity.username and "username" not in claims:
        document["username"] = identity.username
    return document
