"""Where the DynamoDB store keeps a rule for the lookup mode, and which keys a token asks for.

A rule is filed under its (kind, issuer scope, value), hashed into the item's
partition key, so lookup items spread over every partition of the table. A
token's candidate keys are, for each kind, the value the token carries for it
(``index.match_index`` reads the same claims), each twice: unscoped (a rule
with no issuer matches any issuer) and scoped to the token's ``iss``. The set
may hold more keys than any rule could match (both ``client_id`` and every
``aud`` member, say): a superset is safe, because the rules found are matched by
the replica's own ``match_index``, which picks among them exactly as it would
among all rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from revoker.core.registry.rules import Rule, RuleKind, normal_email, token_rule_value

__all__ = [
    "COUNT_SHARDS",
    "LookupKey",
    "candidate_keys",
    "count_key",
    "lookup_key_of",
    "lookup_pk",
]

#: How many items the approximate rule count is spread over.
COUNT_SHARDS = 16

# (kind, issuer scope or None, value)
LookupKey = tuple[str, str | None, str]


def lookup_pk(key: LookupKey) -> str:
    """The partition key of the lookup item for ``key``: 128 bits of its SHA-256."""
    kind, scope, value = key
    # "\0" cannot occur in a rule's kind, issuer or value, so the join is unambiguous;
    # "=" marks a scope, so no issuer collides with the unscoped key.
    text = "\0".join((kind, "" if scope is None else "=" + scope, value))
    return "L#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def lookup_key_of(rule: Rule) -> LookupKey:
    return (rule.kind.value, rule.issuer, rule.value)


def count_key(shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"count#{shard:02d}"}, "sk": {"S": "count"}}


def candidate_keys(
    claims: Mapping[str, Any], header: Mapping[str, Any], raw: str
) -> list[LookupKey]:
    """Every key under which a rule revoking this token could be filed (no duplicates)."""
    iss = claims.get("iss")
    scopes: tuple[str | None, ...] = (None, iss) if isinstance(iss, str) else (None,)
    values: list[tuple[RuleKind, Any]] = [
        (RuleKind.KEY, header.get("kid")),
        (RuleKind.TOKEN, token_rule_value(claims, raw)),
        (RuleKind.FAMILY, claims.get("origin_jti")),
        (RuleKind.SESSION, claims.get("sid")),
        (RuleKind.SUBJECT, claims.get("sub")),
        (RuleKind.CLIENT, claims.get("client_id")),
        (RuleKind.ISSUER, iss),
    ]
    email = claims.get("email")
    if isinstance(email, str):
        values.append((RuleKind.EMAIL, normal_email(email)))
    aud = claims.get("aud")
    for member in (aud,) if isinstance(aud, str) else aud if isinstance(aud, list) else ():
        values.append((RuleKind.CLIENT, member))
    keys: dict[LookupKey, None] = {}
    for kind, value in values:
        if isinstance(value, str) and value:
            for scope in scopes:
                keys[kind.value, scope, value] = None
    return list(keys)
