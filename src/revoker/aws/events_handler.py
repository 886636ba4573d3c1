"""The EventBridge function: ``revoker.aws.events_handler.handler``.

An EventBridge rule sends Cognito's CloudTrail events here (see
``deploy/aws/template.yaml``); each sign-out-like call becomes a subject rule
(cutoff = the event's time, scoped to the pool's issuer), so the user's ID and
access tokens issued before it are refused at once, not at their ``exp``.

CloudTrail names the user by ``username`` in admin calls; with
``REVOKER_RESOLVE_USERNAMES`` (the default) it is resolved to the ``sub``
with AdminGetUser. Events that cannot be attributed (another pool, a failed
call, a deleted user's unknown sub, no user at all) are ignored with one log
line saying why. The rule id comes from the CloudTrail event id, so a
redelivered event adds nothing. AWS or store failures raise, so EventBridge's
asynchronous invocation retries them.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from revoker.aws.cloudtrail import SignOutEvent, Unattributable, read_sign_out_event
from revoker.aws.cognito_users import CognitoUsers
from revoker.aws.runtime import current_runtime
from revoker.core.errors import ConfigurationError
from revoker.core.jwks import cognito_issuer
from revoker.core.registry.rules import InvalidRule, Rule, RuleKind

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["handle", "handler"]

log = logging.getLogger("revoker.aws")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.events_handler.handler``)."""
    return handle(current_runtime(), event)


def handle(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Turn one CloudTrail event into a subject rule; say what was done."""
    from revoker.app.operations import RuleEvent  # noqa: PLC0415 - with the rest of the app

    try:
        signal = read_sign_out_event(event)
        issuer = _issuer(runtime, signal)  # before any look-up: another pool is not ours
        rule, created = _ensure_rule(runtime, signal, _subject(runtime, signal), issuer)
    except Unattributable as exc:
        log.info("CloudTrail event ignored: %s", exc)
        return {"status": "ignored", "reason": str(exc)}
    if not created:
        log.info("CloudTrail event %s already recorded as rule %s", signal.event_id, rule.id)
        return {"status": "duplicate", "rule_id": rule.id}
    log.info("revoked kind=subject rule=%s by %s %s", rule.id, signal.event_name, signal.event_id)
    # The same effects as any new rule; the pass-through knows Cognito made this call itself.
    runtime.revoker.operations.rule_created(rule, RuleEvent("cloudtrail"))
    return {"status": "revoked", "rule_id": rule.id}


def _subject(runtime: Runtime, signal: SignOutEvent) -> str:
    if signal.sub is not None:
        return signal.sub
    username = signal.username
    assert username is not None  # noqa: S101 - read_sign_out_event guarantees one of the two
    if not runtime.settings.resolve_usernames:
        raise Unattributable(
            f"{signal.event_name} names a username only and REVOKER_RESOLVE_USERNAMES is off"
        )
    pool = signal.user_pool_id or runtime.settings.cognito_user_pool_id
    if pool is None:
        raise Unattributable(f"{signal.event_name} names no user pool to resolve the username in")
    sub = CognitoUsers(runtime.clients).sub_of(pool, username)
    if sub is None:
        raise Unattributable(
            f"{signal.event_name}: the user no longer exists, so its sub is unknown "
            "(revoke the subject before deleting a user)"
        )
    return sub


def _ensure_rule(
    runtime: Runtime, signal: SignOutEvent, sub: str, issuer: str | None
) -> tuple[Rule, bool]:
    registry = runtime.registry
    now = registry.clock()
    limits = registry.limits
    if signal.cutoff + limits.max_token_lifetime_seconds + limits.prune_margin_seconds <= now:
        raise Unattributable(f"{signal.event_name} is older than any token still alive")
    # One event, one rule id: a redelivery finds its rule instead of adding a twin.
    digest = hashlib.sha256(signal.event_id.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        return registry.ensure(
            RuleKind.SUBJECT,
            sub,
            rule_id="ct" + digest[:32],
            issuer=issuer,
            cutoff=min(signal.cutoff, now),
            reason=f"cognito {signal.event_name}",
            actor="cloudtrail",
        )
    except InvalidRule as exc:
        raise Unattributable(f"{signal.event_name}: {exc}") from None


def _issuer(runtime: Runtime, signal: SignOutEvent) -> str | None:
    configured = runtime.settings.cognito_user_pool_id
    pool = signal.user_pool_id
    if configured is not None and pool is not None and pool != configured:
        raise Unattributable(f"{signal.event_name} is for another user pool")
    pool = pool or configured
    if pool is None:
        return None  # no pool known: the rule matches the sub under any trusted issuer
    try:
        return cognito_issuer(pool.partition("_")[0], pool)
    except ConfigurationError:
        raise Unattributable(f"{signal.event_name} names a malformed user pool id") from None
