"""AppSync subscription invalidation: the filter a subscription carries, the payload a rule sends.

AppSync has no call that closes one client's connection. What it documents
instead ("Unsubscribing WebSocket connections using filters") is a pair:
a subscription's resolver sets an *invalidation filter*
(``extensions.setSubscriptionInvalidationFilter``), and a mutation's resolver
calls ``extensions.invalidateSubscriptions({subscriptionField, payload})``;
AppSync then unsubscribes every subscription of that field whose filter the
payload satisfies. The filter syntax is the enhanced-filtering one: a
``filterGroup`` of up to 10 filters, any of which may match (OR), each a list
of up to 5 conditions that must all hold (AND); ``in`` takes up to 5 values.

So revoker expresses "this rule matches this token" in that syntax:

- ``invalidation_filter(token)`` (computed by the AppSync authorizer, passed to
  resolvers as ``resolverContext.invalidation_filter``, a JSON string) holds one
  filter per rule kind that could match the token, mirroring the replica:
  ``kind`` equals it, ``value`` equals the token's value for that kind (``jti``
  or the signed part's SHA-256, ``origin_jti``, ``sid``, ``sub``, ``email`` in lower
  case, ``client_id`` or the ``aud`` members, the header's ``kid``, ``iss``), ``issuer`` is the
  token's issuer or ``*`` (an unscoped rule), and for the cut-off kinds
  ``cutoff`` ≥ the token's ``iat`` (inclusive, as the replica's cut-offs are).
- ``invalidation_payload(rule)`` is what a new rule sends through the mutation:
  ``{"kind", "value", "issuer" ("*" when unscoped), "cutoff" (0 without one)}``.

``tests/aws/test_appsync_filter.py`` evaluates filters the way the AppSync docs
define them and checks, over generated rules and tokens, that a payload
satisfies a token's filter exactly when the replica says the rule matches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from revoker.core.registry.rules import CUTOFF_KINDS, RuleKind, normal_email, token_rule_value

if TYPE_CHECKING:
    from revoker.core.registry.rules import Rule
    from revoker.core.verify import VerifiedToken

__all__ = [
    "ANY_ISSUER",
    "MAX_FILTERS",
    "NotInvalidatable",
    "invalidation_filter",
    "invalidation_payload",
]

#: The ``issuer`` of a rule that matches every issuer.
ANY_ISSUER = "*"
#: AppSync's limits: filters in a group, conditions in a filter, values of an ``in``.
MAX_FILTERS = 10
MAX_CONDITIONS = 5
MAX_IN_VALUES = 5


class NotInvalidatable(ValueError):
    """The token's revocations cannot be put in one AppSync filter group (too many values)."""


def _condition(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"fieldName": field, "operator": operator, "value": value}


def invalidation_filter(token: VerifiedToken) -> dict[str, Any]:
    """The ``filterGroup`` that a rule's payload satisfies when the rule revokes ``token``."""
    claims, header = token.claims, token.header
    issuer = token.issuer
    scope = _condition("issuer", "in", [issuer, ANY_ISSUER])
    iat = claims["iat"]
    values: list[tuple[RuleKind, list[str]]] = []
    for kind, value in (
        (RuleKind.KEY, header.get("kid")),
        (RuleKind.TOKEN, token_rule_value(claims, token.raw)),
        (RuleKind.FAMILY, claims.get("origin_jti")),
        (RuleKind.SESSION, claims.get("sid")),
        (RuleKind.SUBJECT, claims.get("sub")),
        (RuleKind.EMAIL, _email(claims)),
    ):
        if isinstance(value, str) and value:
            values.append((kind, [value]))
    clients = _clients(claims)
    for first in range(0, len(clients), MAX_IN_VALUES):
        values.append((RuleKind.CLIENT, clients[first : first + MAX_IN_VALUES]))
    values.append((RuleKind.ISSUER, [issuer]))
    if len(values) > MAX_FILTERS:
        raise NotInvalidatable(
            f"the token names {len(clients)} audiences: more than one AppSync filter group holds"
        )
    filters = []
    for kind, candidates in values:
        conditions = [_condition("kind", "eq", str(kind))]
        if len(candidates) == 1:
            conditions.append(_condition("value", "eq", candidates[0]))
        else:
            conditions.append(_condition("value", "in", candidates))
        conditions.append(scope)
        if kind in CUTOFF_KINDS:
            conditions.append(_condition("cutoff", "ge", iat))
        filters.append({"filters": conditions})
    return {"filterGroup": filters}


def _email(claims: Mapping[str, Any]) -> str | None:
    """What an email rule is compared with: the ``email`` claim in lower case."""
    email = claims.get("email")
    return normal_email(email) if isinstance(email, str) else None


def _clients(claims: Mapping[str, Any]) -> list[str]:
    """What a client rule is compared with, as the replica reads it: ``client_id`` when the
    token has one, else each ``aud`` string."""
    client = claims.get("client_id")
    if client is not None:
        return [client] if isinstance(client, str) and client else []
    aud = claims.get("aud")
    members = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    unique: list[str] = []
    for member in members:
        if isinstance(member, str) and member and member not in unique:
            unique.append(member)
    return unique


def invalidation_payload(rule: Rule) -> dict[str, Any]:
    """What the ``revokerInvalidate`` mutation sends for a new ``rule``."""
    return {
        "kind": str(rule.kind),
        "value": rule.value,
        "issuer": rule.issuer if rule.issuer is not None else ANY_ISSUER,
        "cutoff": rule.cutoff if rule.cutoff is not None else 0,
    }
