"""Subject identifiers (RFC 9493, SSF 1.0 §3) and what a rule can name from them.

A SET names its subject in the top-level ``sub_id`` (SSF 1.0 §3.1), or, for CAEP and
RISC events defined before it, in the event's own ``subject`` member (§3.1.1).
``read_identifier`` checks one identifier's shape for the formats a rule can use:

- ``iss_sub``: a user at a token issuer (``sub``): a subject rule;
- ``email``: a user by address: an email rule (the token's ``email`` claim);
- ``opaque``: an identifier the two parties agreed on: a user's ``sub``, or, for a
  session event, a session's ``sid``;
- ``jwt_id`` (SSF 1.0 §3.5.1): one token (``jti``): a token rule;
- ``complex`` (§3.3): its ``user`` and ``session`` members (a session event ends that
  session; any other event, that user);
- ``aliases`` (RFC 9493 §3.2.6): the first member of a usable format.

Other formats (``phone_number``, ``account``, ``did``, ``uri``, ``saml_assertion_id``,
``ip-addresses``, proprietary ones) are read but name nothing a token carries, so they
give no target. Google's RISC transmitter spells ``format`` as ``subject_type`` (RISC
1.0 §5); that spelling is read too, and ``format`` wins when both are there.

An ``iss_sub`` or ``jwt_id`` names the *token* issuer, which may differ from the
transmitter (Okta's SSF transmitter is the org, its tokens come from an
authorization server): the rule is scoped to that issuer when revoker trusts it
(compared without a trailing ``/``), and to every issuer otherwise, so a user is
never left signed in because of how two URLs were spelt. ``email`` and ``opaque``
carry no issuer: they are scoped to the transmitter when it is a trusted token
issuer too, else to every issuer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from revoker.core.detail import shown
from revoker.core.registry import RuleKind
from revoker.core.registry.rules import MAX_VALUE_LENGTH, normal_email

__all__ = [
    "USER_FORMATS",
    "Identifier",
    "MalformedSubject",
    "Scope",
    "Target",
    "read_identifier",
    "session_target",
    "token_target",
    "user_target",
]

#: The formats a user target can be read from, in the order ``aliases`` prefers them.
USER_FORMATS = ("iss_sub", "email", "opaque")
_MAX_MEMBERS = 16


class MalformedSubject(ValueError):
    """A subject identifier that does not follow its format (RFC 8935 ``invalid_request``)."""


@dataclass(frozen=True, slots=True)
class Identifier:
    """One subject identifier: its format and its members (a complex one's are identifiers)."""

    format: str
    members: Mapping[str, Any]

    def text(self, name: str) -> str:
        value = self.members.get(name)
        if not isinstance(value, str) or not value:
            raise MalformedSubject(
                f"a {shown(self.format)} subject identifier needs a non-empty string {name!r}"
            )
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise MalformedSubject(f"the subject's {name!r} is not a value a rule can hold")
        return value

    def part(self, name: str) -> Identifier | None:
        """A complex subject's member ``name``, read as an identifier (None when absent)."""
        member = self.members.get(name)
        return None if member is None else read_identifier(member, f"member {name!r}")

    def describe(self) -> str:
        """A short, safe description for a rule's reason: ``iss_sub 'user-1'`` …"""
        key = {"iss_sub": "sub", "email": "email", "opaque": "id", "jwt_id": "jti"}.get(self.format)
        value = self.members.get(key) if key is not None else None
        return f"{self.format} {shown(value, limit=64)}" if value is not None else self.format


def read_identifier(value: object, where: str = "the subject") -> Identifier:
    """An identifier from its JSON object; ``MalformedSubject`` when it is not one."""
    if not isinstance(value, dict):
        raise MalformedSubject(f"{where} must be a JSON object, not {shown(value)}")
    form = value.get("format", value.get("subject_type"))
    if not isinstance(form, str) or not form:
        raise MalformedSubject(f"{where} has no 'format'")
    if len(value) > _MAX_MEMBERS:
        raise MalformedSubject(f"{where} has more than {_MAX_MEMBERS} members")
    identifier = Identifier(form, value)
    if form in ("complex", "aliases"):
        return identifier
    if form == "iss_sub":
        identifier.text("iss")
        identifier.text("sub")
    elif form == "email":
        identifier.text("email")
    elif form == "opaque":
        identifier.text("id")
    elif form == "jwt_id":
        identifier.text("iss")
        identifier.text("jti")
    return identifier


@dataclass(frozen=True, slots=True)
class Scope:
    """How rules are scoped: the trusted token issuers, and the transmitter speaking."""

    trusted: tuple[str, ...]
    transmitter: str

    def issuer(self, named: str | None) -> str | None:
        """The trusted spelling of ``named`` (trailing ``/`` aside), or None: every issuer.
        Without a name (email, opaque): the transmitter, when it is a trusted issuer."""
        wanted = (named if named is not None else self.transmitter).rstrip("/")
        for issuer in self.trusted:
            if issuer.rstrip("/") == wanted:
                return issuer
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule names: its kind, its value and its issuer scope (None: every issuer)."""

    kind: RuleKind
    value: str
    issuer: str | None
    named: str  # the identifier, described for the rule's reason


def _user(identifier: Identifier, scope: Scope) -> Target | None:
    form = identifier.format
    if form == "iss_sub":
        issuer = scope.issuer(identifier.text("iss"))
        return Target(RuleKind.SUBJECT, identifier.text("sub"), issuer, identifier.describe())
    if form == "email":
        address = normal_email(identifier.text("email"))
        return Target(RuleKind.EMAIL, address, scope.issuer(None), identifier.describe())
    if form == "opaque":
        return Target(
            RuleKind.SUBJECT, identifier.text("id"), scope.issuer(None), identifier.describe()
        )
    if form == "aliases":
        return _first(_aliases(identifier), scope)
    return None


def _aliases(identifier: Identifier) -> list[Identifier]:
    members = identifier.members.get("identifiers")
    if not isinstance(members, list) or not members or len(members) > _MAX_MEMBERS:
        raise MalformedSubject("an aliases subject needs a non-empty list 'identifiers'")
    found = [read_identifier(member, "an alias") for member in members]
    if any(alias.format == "aliases" for alias in found):
        raise MalformedSubject("an alias cannot itself be an aliases identifier (RFC 9493)")
    return found


def _first(identifiers: Iterable[Identifier], scope: Scope) -> Target | None:
    by_format = {item.format: item for item in reversed(list(identifiers))}
    for form in USER_FORMATS:
        if form in by_format:
            return _user(by_format[form], scope)
    return None


def user_target(identifier: Identifier, scope: Scope) -> Target | None:
    """The user ``identifier`` names (a complex subject's ``user``), or None."""
    if identifier.format == "complex":
        user = identifier.part("user")
        return None if user is None else user_target(user, scope)
    return _user(identifier, scope)


def session_target(identifier: Identifier, scope: Scope) -> Target | None:
    """For a session event: the session named (a simple ``opaque`` subject, or a complex
    subject's ``session``), else the user named (every session of theirs), else None."""
    if identifier.format == "opaque":
        return Target(
            RuleKind.SESSION, identifier.text("id"), scope.issuer(None), identifier.describe()
        )
    if identifier.format != "complex":
        return user_target(identifier, scope)
    session = identifier.part("session")
    if session is None:
        return user_target(identifier, scope)
    if session.format != "opaque":
        return user_target(identifier, scope)  # a session named otherwise: its user's
    user = identifier.part("user")
    named = user.members.get("iss") if user is not None and user.format == "iss_sub" else None
    issuer = scope.issuer(named if isinstance(named, str) else None)
    return Target(RuleKind.SESSION, session.text("id"), issuer, session.describe())


def token_target(identifier: Identifier, scope: Scope) -> Target | None:
    """A ``jwt_id`` subject: that token (a token rule on its ``jti``), else None."""
    if identifier.format != "jwt_id":
        return None
    issuer = scope.issuer(identifier.text("iss"))
    return Target(RuleKind.TOKEN, identifier.text("jti"), issuer, identifier.describe())
