"""The revoke forms: what each one asks for, and what it will deny, in words, before it does.

Six forms: a user (subject cut-off), a session, a token (pasted: revoked by
possession, so only its ``jti``, family or hash is stored), a client, a key and an
issuer-wide cut-off. A submitted form first comes back as a confirmation that
describes the rule it would create (``Rule.describe``) and what follows from it;
only the confirmed form creates the rule, through ``Operations.create_rule`` or
``Operations.revoke_by_possession``, as the admin API does. The issuer-wide
cut-off also asks for the issuer's URL typed again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revoker.app.operations import check_rule_value
from revoker.core.errors import InvalidRule
from revoker.core.registry import RegistryLimits, Rule, RuleKind
from revoker.core.registry.rules import new_rule, self_revocation

__all__ = [
    "FIELDS",
    "FORMS",
    "MAX_REASON",
    "Preview",
    "RevokeForm",
    "preview_rule",
    "preview_token",
    "rule_body",
]

MAX_REASON = 1024
#: Every field a revoke form may post.
FIELDS = frozenset({"what", "value", "issuer", "reason", "token", "step", "typed", "csrf"})


@dataclass(frozen=True, slots=True)
class RevokeForm:
    key: str
    kind: RuleKind | None  # None: a pasted token, revoked by possession
    title: str
    label: str
    hint: str
    effect: str  # what follows, after the rule's own description

    @property
    def scoped(self) -> bool:
        """Whether the form offers an issuer scope (the issuer form's value is the issuer)."""
        return self.kind not in (None, RuleKind.ISSUER)


FORMS: dict[str, RevokeForm] = {
    form.key: form
    for form in (
        RevokeForm(
            "user",
            RuleKind.SUBJECT,
            "A user",
            "Subject (sub)",
            "Every token of this user issued up to the moment you confirm: a global sign-out, "
            "a disabled account, a password change.",
            "The user's tokens are denied in every app; a sign-in after the cut-off is allowed.",
        ),
        RevokeForm(
            "session",
            RuleKind.SESSION,
            "A session",
            "Session id (sid)",
            "Every token that carries this sid, as OpenID Connect back-channel logout does.",
            "Tokens refreshed later within that session are denied too.",
        ),
        RevokeForm(
            "token",
            None,
            "A token",
            "Token (paste it)",
            "The token is verified first; only its jti, its family (origin_jti) or its hash "
            "is stored, never the token.",
            "Where the token has an origin_jti, every access and ID token of that sign-in is "
            "denied, including those refreshed later.",
        ),
        RevokeForm(
            "client",
            RuleKind.CLIENT,
            "A client",
            "Client id (client_id or aud)",
            "Every token issued to this app client up to the moment you confirm, for every user.",
            "Tokens issued to the client after the cut-off are allowed.",
        ),
        RevokeForm(
            "key",
            RuleKind.KEY,
            "A signing key",
            "Key id (kid)",
            "Every token signed with this key, whenever it was issued: a leaked key.",
            "The rule never expires on its own: new tokens signed with this key are denied "
            "until you lift it.",
        ),
        RevokeForm(
            "issuer",
            RuleKind.ISSUER,
            "An issuer (everything)",
            "Issuer",
            "Emergency: every token of this issuer issued up to the moment you confirm.",
            "Every user of this issuer must sign in again; tokens issued after the cut-off "
            "are allowed.",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Preview:
    """A confirmation: the form, its fields, and what the rule would deny."""

    form: RevokeForm
    fields: Mapping[str, str]  # what the confirmation posts again
    description: str
    typed: str | None  # what must be typed again to confirm (the issuer-wide cut-off)

    @property
    def effect(self) -> str:
        return self.form.effect


def _words(rule: Rule) -> str:
    # ``describe`` ends with the rule's id; a preview has none yet.
    return rule.describe().rsplit(" (rule ", 1)[0]


def _reason(fields: Mapping[str, str]) -> str:
    reason = fields.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidRule(f"the reason is longer than {MAX_REASON} characters")
    return reason


def preview_rule(
    form: RevokeForm,
    fields: Mapping[str, str],
    *,
    trusted: Sequence[str],
    limits: RegistryLimits,
    now: float,
    actor: str,
) -> Preview:
    """The confirmation of a rule form, or ``InvalidRule`` naming what is wrong."""
    assert form.kind is not None  # noqa: S101 - the token form has preview_token
    reason = _reason(fields)
    issuer = fields.get("issuer", "").strip() or None
    if form.kind is RuleKind.ISSUER:
        value = issuer or ""
        if not value:
            raise InvalidRule("choose the issuer")
    else:
        value = fields.get("value", "")
        if not value:
            raise InvalidRule(f"the {form.label.lower()} is required")
        check_rule_value(form.label.lower(), value)
    if issuer is not None and issuer not in trusted:
        raise InvalidRule(f"{issuer[:96]!r} is not a trusted issuer")
    rule = new_rule(form.kind, value, now=now, limits=limits, issuer=issuer, reason=reason,
                    actor=actor)  # fmt: skip
    kept = {"what": form.key, "value": value, "issuer": issuer or "", "reason": reason}
    typed = value if form.kind is RuleKind.ISSUER else None
    return Preview(form, kept, _words(rule), typed)


def rule_body(preview_fields: Mapping[str, str], form: RevokeForm) -> dict[str, Any]:
    """What ``Operations.create_rule`` takes for a confirmed rule form."""
    assert form.kind is not None  # noqa: S101 - the token form revokes by possession
    issuer = preview_fields.get("issuer", "").strip() or None
    if form.kind is RuleKind.ISSUER:
        return {"kind": "issuer", "value": issuer, "reason": _reason(preview_fields)}
    return {
        "kind": form.kind.value,
        "value": preview_fields.get("value", ""),
        "issuer": issuer,
        "reason": _reason(preview_fields),
    }


def preview_token(
    verified: Any, fields: Mapping[str, str], *, limits: RegistryLimits, now: float, actor: str
) -> Preview:
    """The confirmation of the token form, for a token that verified."""
    reason = _reason(fields)
    kind, value, expires_at = self_revocation(verified, limits)
    rule = new_rule(kind, value, now=now, limits=limits, expires_at=expires_at, reason=reason,
                    actor=actor)  # fmt: skip
    kept = {"what": "token", "token": fields.get("token", ""), "reason": reason}
    return Preview(FORMS["token"], kept, _words(rule), None)
