"""Revocation rules: what a rule is, how it is checked, and how long it must live.

A rule names one value of one kind (a ``jti``, an ``origin_jti``, a ``sid``, a
``sub``, an ``email``, a client, a signing ``kid`` or an issuer), optionally scoped
to one issuer. The cut-off kinds (subject, email, client, issuer) revoke only tokens
issued at or before their ``cutoff``. An email rule's value is the address in lower
case (``normal_email``), and a token's ``email`` claim is compared in lower case too:
providers differ in how they case an address, and a revocation must not miss one.
``expires_at`` is the moment no token the rule could match is still alive, so expired
rules can be dropped everywhere.

Rules hold values, never whole tokens: a token without a ``jti`` is revoked by
its SHA-256, and a value shaped like a compact JWS is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from revoker.core.errors import DuplicateRule, InvalidRule, RuleNotFound, StoreError

__all__ = [
    "CUTOFF_KINDS",
    "LOOKS_LIKE_JWS",
    "MAX_VALUE_LENGTH",
    "DuplicateRule",
    "InvalidRule",
    "RegistryLimits",
    "Rule",
    "RuleKind",
    "RuleNotFound",
    "StoredRow",
    "default_expires_at",
    "issuer_ended_expires_at",
    "new_rule",
    "normal_email",
    "rule_from_row",
    "self_revocation",
    "signed_part_sha256",
    "storable_text",
    "stored_rule",
    "token_rule_value",
    "usable_jti",
]

MAX_VALUE_LENGTH = 1024
_MAX_REASON_LENGTH = 1024
_MAX_ACTOR_LENGTH = 256

# A whole compact JWS: its header always starts with '{"' (base64url "eyJ").
LOOKS_LIKE_JWS = _LOOKS_LIKE_JWS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class RuleKind(StrEnum):
    """What a rule's value is compared with."""

    TOKEN = "token"
    FAMILY = "family"
    SESSION = "session"
    SUBJECT = "subject"
    EMAIL = "email"
    CLIENT = "client"
    KEY = "key"
    ISSUER = "issuer"


#: Kinds that revoke only tokens issued at or before the rule's ``cutoff``.
CUTOFF_KINDS: frozenset[RuleKind] = frozenset(
    {RuleKind.SUBJECT, RuleKind.EMAIL, RuleKind.CLIENT, RuleKind.ISSUER}
)


def normal_email(address: str) -> str:
    """An ``email`` as email rules hold it and match it: in lower case (``str.lower``)."""
    return address.lower()


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    """The lifetimes that bound how long a rule must be kept."""

    max_token_lifetime_seconds: float = 86400.0
    # Refresh tokens keep minting tokens of one family; Cognito's default refresh validity.
    family_lifetime_seconds: float = 30 * 86400.0
    prune_margin_seconds: float = 300.0

    def __post_init__(self) -> None:
        for name in ("max_token_lifetime_seconds", "family_lifetime_seconds"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise InvalidRule(f"{name} must be positive and finite")
        if not 0 <= self.prune_margin_seconds < math.inf:
            raise InvalidRule("prune_margin_seconds must be zero or more and finite")


def issuer_ended_expires_at(now: float, limits: RegistryLimits) -> float:
    """When a family or session rule may go once its issuer has ended that sign-in: the
    issuer mints no new token from it, so the last token it matches was issued by ``now``
    and dies within one maximum token lifetime (plus the prune margin)."""
    return now + limits.max_token_lifetime_seconds + limits.prune_margin_seconds


def default_expires_at(
    kind: RuleKind, *, now: float, cutoff: float | None, limits: RegistryLimits
) -> float | None:
    """The latest moment a token this rule could match may still be alive (None: never)."""
    margin = limits.prune_margin_seconds
    if kind is RuleKind.KEY:
        return None  # a leaked key can sign new tokens at any time: kept until lifted
    if kind is RuleKind.TOKEN:
        return now + limits.max_token_lifetime_seconds + margin
    if kind in (RuleKind.FAMILY, RuleKind.SESSION):
        return now + limits.family_lifetime_seconds + margin
    if cutoff is None:
        raise InvalidRule(f"a {kind} rule needs a cutoff")
    return cutoff + limits.max_token_lifetime_seconds + margin


def token_rule_value(claims: Mapping[str, Any], raw: str) -> str:
    """The value a token rule uses for this token: its ``jti`` when a rule can hold it,
    else ``signed_part_sha256`` (the replica's ``match`` makes the same choice)."""
    jti = claims.get("jti")
    if usable_jti(jti):
        return str(jti)
    return signed_part_sha256(raw)


def usable_jti(jti: object) -> bool:
    """A ``jti`` a rule value can hold in every store: a non-empty string of at most
    ``MAX_VALUE_LENGTH`` characters without NUL (PostgreSQL text cannot hold one), and
    not shaped like a whole token (which a rule refuses). Any other ``jti`` is revoked and
    matched by the token's SHA-256 instead. (The parser already refuses lone surrogates.)
    The replica's indexes inline this test on their hot path: change them together."""
    return (
        isinstance(jti, str)
        and 0 < len(jti) <= MAX_VALUE_LENGTH
        and "\x00" not in jti
        and not (jti[:3] == "eyJ" and _LOOKS_LIKE_JWS.fullmatch(jti))
    )


def storable_text(text: str) -> str:
    """``text`` as every store can keep it: NUL and lone surrogates written as escapes.
    For text a rule takes from a token (an actor ``self:<sub>``), not for values matched."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def self_revocation(verified: Any, limits: RegistryLimits) -> tuple[RuleKind, str, float | None]:
    """The rule a token's holder may make: (kind, value, expires_at).

    Its family when it has an ``origin_jti`` (every token of that sign-in, refreshed
    ones too; the family lifetime), else the token itself (until it expires).
    """
    origin = verified.origin_jti
    if isinstance(origin, str) and usable_jti(origin):
        return RuleKind.FAMILY, origin, None
    value = token_rule_value(verified.claims, verified.raw)
    return RuleKind.TOKEN, value, verified.expires_at + limits.prune_margin_seconds


def signed_part_sha256(raw: str) -> str:
    """SHA-256 hex of ``header.payload``, the part the signature covers.

    Not of the whole token: an ECDSA signature has a twin, (r, n - s), that
    anyone can compute without the key and that verifies as well, so hashing
    the signature too would let a revoked token return under a new hash.
    """
    signed = raw.rpartition(".")[0] or raw
    return hashlib.sha256(signed.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One revocation rule; validated on construction, so a stored one is trusted as well."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: RuleKind
    value: str
    issuer: str | None = None
    cutoff: float | None = None
    expires_at: float | None = None
    reason: str = ""
    actor: str = "system"
    created_at: float

    def __post_init__(self) -> None:
        _check_text("id", self.id, limit=64)
        if not isinstance(self.kind, RuleKind):
            raise InvalidRule(f"unknown rule kind {self.kind!r}")
        _check_text("value", self.value, limit=MAX_VALUE_LENGTH)
        if _LOOKS_LIKE_JWS.fullmatch(self.value):
            raise InvalidRule("the value is a whole token: revoke it by its jti or SHA-256")
        if self.issuer is not None:
            _check_text("issuer", self.issuer, limit=MAX_VALUE_LENGTH)
        if self.kind is RuleKind.ISSUER and self.issuer not in (None, self.value):
            raise InvalidRule("an issuer rule's scope must be empty or its own value")
        if self.kind is RuleKind.EMAIL and self.value != normal_email(self.value):
            raise InvalidRule("an email rule holds the address in lower case")
        if (self.cutoff is None) == (self.kind in CUTOFF_KINDS):
            need = "needs" if self.kind in CUTOFF_KINDS else "takes no"
            raise InvalidRule(f"a {self.kind} rule {need} cutoff")
        for name in ("cutoff", "expires_at", "created_at"):
            number = getattr(self, name)
            if number is not None:
                object.__setattr__(self, name, _finite(name, number))
        _check_text("reason", self.reason, limit=_MAX_REASON_LENGTH, empty_ok=True)
        _check_text("actor", self.actor, limit=_MAX_ACTOR_LENGTH)

    @property
    def reason_code(self) -> str:
        """The decision's reason code when this rule matches, e.g. ``revoked_subject``."""
        return f"revoked_{self.kind}"

    def describe(self) -> str:
        """What this rule denies, in words: "every token of subject X issued at or before
        2026-12-01T10:42:07Z (rule 871b…)"."""
        what = _DESCRIPTIONS[self.kind].format(value=_shown(self.value))
        if self.cutoff is not None:
            what += f" issued at or before {_utc(self.cutoff)}"
        if self.issuer is not None and self.kind is not RuleKind.ISSUER:
            what += f" from {_shown(self.issuer)}"
        return f"{what} (rule {self.id})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; ``Rule.from_dict`` turns it back into an equal rule."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "value": self.value,
            "issuer": self.issuer,
            "cutoff": self.cutoff,
            "expires_at": self.expires_at,
            "reason": self.reason,
            "actor": self.actor,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Rebuild a rule from ``to_dict`` output; anything malformed raises ``InvalidRule``."""
        try:
            kind = RuleKind(data["kind"])
            return cls(
                id=data["id"],
                kind=kind,
                value=data["value"],
                issuer=data.get("issuer"),
                cutoff=data.get("cutoff"),
                expires_at=data.get("expires_at"),
                reason=data.get("reason", ""),
                actor=data["actor"],
                created_at=data["created_at"],
            )
        except KeyError as exc:
            raise InvalidRule(f"a stored rule lacks the field {exc.args[0]!r}") from exc
        except (ValueError, TypeError) as exc:
            if isinstance(exc, InvalidRule):
                raise
            raise InvalidRule(f"a stored rule is malformed: {exc}") from exc


_DESCRIPTIONS = {
    RuleKind.TOKEN: "the token {value}",
    RuleKind.FAMILY: "every token of the sign-in {value} (origin_jti)",
    RuleKind.SESSION: "every token of the session {value} (sid)",
    RuleKind.SUBJECT: "every token of subject {value}",
    RuleKind.EMAIL: "every token carrying the email {value}",
    RuleKind.CLIENT: "every token of client {value}",
    RuleKind.KEY: "every token signed with key {value}",
    RuleKind.ISSUER: "every token of issuer {value}",
}


def _shown(text: str, limit: int = 96) -> str:
    """A value as it may appear in a message: control characters escaped, long ones cut."""
    shown = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _utc(ts: float) -> str:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


#: A rule as the stores keep it: its fields in ``Rule`` order, the kind as its string.
StoredRow = tuple[
    str, str, str, str | None, float | None, float | None, str, str, float
]  # fmt: skip
_KINDS: dict[str, RuleKind] = {kind.value: kind for kind in RuleKind}
# The slot descriptors: setting through them skips the frozen __setattr__ and __post_init__.
_SET = tuple(
    getattr(Rule, name).__set__
    for name in ("id", "kind", "value", "issuer", "cutoff", "expires_at", "reason", "actor",
                 "created_at")
)  # fmt: skip


def stored_rule(  # noqa: PLR0917 -- a row's nine columns, positional for speed
    rule_id: str,
    kind: str,
    value: str,
    issuer: str | None,
    cutoff: float | None,
    expires_at: float | None,
    reason: str,
    actor: str,
    created_at: float,
) -> Rule:
    """A rule read back from a store, trusted: not validated again (about 7x cheaper).

    Only for rows a store wrote from a ``Rule``, which was validated when it was
    built; a replica loading a million rules at start pays for this per row.
    The kind is still looked up (an unknown one raises ``InvalidRule``), and
    the issuer, reason and actor are interned: a few distinct strings shared by
    many rules, kept once in memory instead of once per rule.
    """
    try:
        rule_kind = _KINDS[kind]
    except KeyError:
        raise InvalidRule(f"unknown rule kind {kind!r}") from None
    intern = sys.intern
    rule = object.__new__(Rule)
    s_id, s_kind, s_value, s_issuer, s_cutoff, s_expires, s_reason, s_actor, s_created = _SET
    s_id(rule, rule_id)
    s_kind(rule, rule_kind)
    s_value(rule, value)
    s_issuer(rule, None if issuer is None else intern(issuer))
    s_cutoff(rule, cutoff)
    s_expires(rule, expires_at)
    s_reason(rule, intern(reason))
    s_actor(rule, intern(actor))
    s_created(rule, created_at)
    return rule


def new_rule(
    kind: RuleKind | str,
    value: str,
    *,
    now: float,
    limits: RegistryLimits,
    issuer: str | None = None,
    cutoff: float | None = None,
    expires_at: float | None = None,
    reason: str = "",
    actor: str = "system",
) -> Rule:
    """A fresh rule, validated: cut-off kinds default their cutoff to ``now`` (not floored)."""
    try:
        rule_kind = RuleKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in RuleKind)
        raise InvalidRule(f"unknown rule kind {kind!r}: expected one of {kinds}") from None
    now = _finite("now", now)
    if rule_kind is RuleKind.EMAIL and isinstance(value, str):
        value = normal_email(value)
    if rule_kind in CUTOFF_KINDS and cutoff is None:
        cutoff = now
    if cutoff is not None:
        cutoff = _finite("cutoff", cutoff)
        if rule_kind in CUTOFF_KINDS and cutoff > now + limits.prune_margin_seconds:
            raise InvalidRule("the cutoff lies in the future")
    if expires_at is None:
        expires_at = default_expires_at(rule_kind, now=now, cutoff=cutoff, limits=limits)
    elif _finite("expires_at", expires_at) <= now:
        raise InvalidRule("expires_at lies in the past")
    return Rule(
        kind=rule_kind,
        value=value,
        issuer=issuer,
        cutoff=cutoff,
        expires_at=expires_at,
        reason=reason,
        actor=actor,
        created_at=now,
    )


def rule_from_row(row: Sequence[Any], *, store: str) -> Rule:
    """A validated rule from a row of the SQL stores' columns (id, kind, value, issuer,
    cutoff, expires_at, reason, actor, created_at); a malformed row is a ``StoreError``."""
    rule_id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at = row
    try:
        return Rule(
            id=rule_id,
            kind=RuleKind(kind),
            value=value,
            issuer=issuer,
            cutoff=cutoff,
            expires_at=expires_at,
            reason=reason,
            actor=actor,
            created_at=created_at,
        )
    except ValueError as exc:  # InvalidRule too: a row someone edited by hand
        raise StoreError(f"the {store} store holds a malformed rule: {exc}") from exc


def _finite(name: str, number: object) -> float:
    # bool is an int: refuse it, it is never a time.
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InvalidRule(f"{name} must be a number of epoch seconds")
    if not math.isfinite(number):
        raise InvalidRule(f"{name} must be finite")
    return float(number)


def _check_text(name: str, text: object, *, limit: int, empty_ok: bool = False) -> None:
    if not isinstance(text, str):
        raise InvalidRule(f"{name} must be a string")
    if not text and not empty_ok:
        raise InvalidRule(f"{name} must not be empty")
    if len(text) > limit:
        raise InvalidRule(f"{name} is longer than {limit} characters")
    if "\x00" in text:
        raise InvalidRule(f"{name} holds a NUL character, which no store can keep")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRule(f"{name} is not valid Unicode (a lone surrogate)") from None
