"""Pass-through: after a rule is created, tell Cognito and flush API Gateway's authorizer cache.

A ``RuleHook`` of the operations (``install`` adds it when the settings ask for it),
so it runs for a rule made by any path: the revoke function, the EventBridge
function, ``revoker serve`` or ``revoker revoke --store dynamodb://…``. Every
call is best effort: the rule is already durable when these run, so a failure
is logged, never raised.

- a family rule this request creates, with the caller's refresh token supplied →
  Cognito ``RevokeToken`` (the refresh token stops minting tokens; Cognito alone
  would still leave the ID token accepted by API Gateway, which the family rule
  covers). ``install`` makes this call *before* the rule is written
  (``Operations.set_issuer_revoker``): once Cognito has revoked the refresh token,
  the family mints no new token, so its rule lives one maximum token lifetime
  instead of the family lifetime (``short_rules_when_issuer_revoked``).
- a subject rule an admin created (the admin API or the CLI) →
  ``AdminUserGlobalSignOut`` (the username is looked up by sub). Never for a
  self-revocation: a token proves only its own family or itself, and a stolen,
  already-revoked token must not sign its victim out again and again.
- any created rule → ``FlushStageAuthorizersCache`` (REST) /
  ``ResetAuthorizersCache`` (HTTP API) for the configured stages, so a cached
  allow cannot outlive the revocation for the cache's TTL. A rule that existed
  already (a repeated revocation) triggers nothing.

The flush waits until every authorizer replica must have seen the rule
(``REVOKER_SYNC_MAX_AGE`` after it was stored): flushed sooner, a replica that
synced just before the revoke could allow the token once more and the gateway
would cache that allow again. It is debounced per stage: a stage already
flushed after this revoke settled is not flushed again, so a burst of revokes
in one container costs one flush per stage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from revoker.aws.clients import AwsClients, aws_error_code, aws_errors
from revoker.aws.cognito_users import CognitoUsers
from revoker.core.clock import Clock
from revoker.core.errors import IssuerUnavailable
from revoker.core.registry.rules import Rule, RuleKind
from revoker.core.tokens import token_fingerprint

if TYPE_CHECKING:
    from revoker.app.compose import Revoker
    from revoker.app.operations import RuleEvent
    from revoker.app.settings import Settings

__all__ = ["PassThrough", "install"]

Stage = tuple[str, str]  # (api id, stage name)
#: Who may sign a whole user out of Cognito: an operator, never a token's holder.
_ADMIN_SOURCES = frozenset({"admin", "cli"})

log = logging.getLogger("revoker.aws")


class PassThrough:
    """The Cognito and API Gateway calls a revoke triggers, as configured."""

    def __init__(
        self,
        settings: Settings,
        *,
        clients: AwsClients,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = settings
        self._user_pool_id = settings.cognito_user_pool_id
        self._clients = clients
        self._users = CognitoUsers(clients)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # (kind, api id, stage) -> when this container last flushed it
        self._flushed_at: dict[tuple[str, str, str], float] = {}

    def __call__(self, rule: Rule, event: RuleEvent) -> list[str]:
        """The calls ``rule`` calls for, as a ``RuleHook``; the actions that succeeded."""
        done: list[str] = []
        if self._config.passthrough_cognito and event.source != "cloudtrail":
            # A CloudTrail event is Cognito's own call: there is nothing to tell it.
            refresh, client = event.refresh_token, event.client_id
            if rule.kind is RuleKind.FAMILY and refresh and client:
                if self.revoke_refresh_token(refresh, client):
                    done.append("cognito:RevokeToken")
            elif (
                rule.kind is RuleKind.SUBJECT
                and event.source in _ADMIN_SOURCES
                and self.sign_out_subject(rule.value)
            ):
                done.append("cognito:AdminUserGlobalSignOut")
        done.extend(self.flush_caches(rule.created_at))
        return done

    def revoke_refresh_token(
        self, refresh_token: str, client_id: str, *, retryable_raises: bool = False
    ) -> bool:
        """Cognito ``RevokeToken`` (with the client secret when one is configured).

        False when Cognito refused or failed (logged). With ``retryable_raises``, a failure
        worth retrying (throttling, Cognito's own error, no connection) raises
        ``IssuerUnavailable`` instead, so a refresh token revoked only at Cognito is
        never answered 200 while it still works.
        """
        request = {"Token": refresh_token, "ClientId": client_id}
        if self._config.cognito_client_secret:
            request["ClientSecret"] = self._config.cognito_client_secret
        try:
            self._clients.get("cognito-idp").revoke_token(**request)
        except aws_errors() as exc:
            code = aws_error_code(exc)
            log.warning(
                "cognito RevokeToken failed for refresh token %s: %s",
                token_fingerprint(refresh_token),
                code,
            )
            if retryable_raises and _retryable(exc, code):
                raise IssuerUnavailable(f"Cognito RevokeToken failed: {code}") from None
            return False
        return True

    def sign_out_subject(self, sub: str) -> bool:
        """``AdminUserGlobalSignOut`` for the user whose ``sub`` this is."""
        pool = self._user_pool_id
        if pool is None:
            log.warning("AdminUserGlobalSignOut skipped: no user pool id is configured")
            return False
        try:
            username = self._users.username_of(pool, sub)
            if username is None:
                log.warning("AdminUserGlobalSignOut skipped: no user in %s has that sub", pool)
                return False
            self._clients.get("cognito-idp").admin_user_global_sign_out(
                UserPoolId=pool, Username=username
            )
        except aws_errors() as exc:
            log.warning("cognito AdminUserGlobalSignOut failed: %s", aws_error_code(exc))
            return False
        return True

    def flush_caches(self, revoked_at: float) -> list[str]:
        """Flush every configured stage not flushed since ``revoked_at`` settled."""
        config = self._config
        if not (config.flush_rest_stages or config.flush_http_stages):
            return []
        settled_at = revoked_at + config.sync_max_age_seconds
        with self._lock:  # one flush round at a time; the second finds the stages fresh
            wait = settled_at - self._clock()
            if wait > 0:
                self._sleep(min(wait, config.sync_max_age_seconds))
            done: list[str] = []
            rounds = (("rest", config.flush_rest_stages), ("http", config.flush_http_stages))
            for kind, stages in rounds:
                for api_id, stage in stages:
                    key = (kind, api_id, stage)
                    if self._flushed_at.get(key, -1.0) >= settled_at:
                        continue  # flushed after this revoke was visible everywhere
                    flushed_at = self._clock()
                    if self._flush(kind, api_id, stage):
                        self._flushed_at[key] = flushed_at
                        done.append(f"{kind}:{api_id}/{stage}")
            return done

    def _flush(self, kind: str, api_id: str, stage: str) -> bool:
        try:
            if kind == "rest":
                self._clients.get("apigateway").flush_stage_authorizers_cache(
                    restApiId=api_id, stageName=stage
                )
            else:
                self._clients.get("apigatewayv2").reset_authorizers_cache(
                    ApiId=api_id, StageName=stage
                )
        except aws_errors() as exc:
            # The cached allow now lives until the authorizer cache TTL: say so loudly.
            log.error(  # noqa: TRY400 - the AWS error code says it all; no traceback wanted
                "flushing the authorizer cache of %s/%s failed: %s; cached allows live "
                "until the cache TTL",
                api_id,
                stage,
                aws_error_code(exc),
            )
            return False
        return True


def wanted(settings: Settings) -> bool:
    """Whether these settings ask for any pass-through call."""
    return bool(
        settings.passthrough_cognito or settings.flush_rest_stages or settings.flush_http_stages
    )


def install(revoker: Revoker, *, clients: AwsClients | None = None) -> PassThrough:
    """Run the pass-through calls after every rule ``revoker``'s operations create."""
    settings = revoker.settings
    passthrough = PassThrough(
        settings, clients=clients or AwsClients(region=settings.region), clock=revoker.clock
    )
    revoker.operations.add_rule_hook(passthrough)
    if settings.passthrough_cognito:
        # Before the family rule is written, so that a rule whose refresh token Cognito
        # revoked lives one token lifetime, not the family lifetime.
        revoker.operations.set_issuer_revoker(passthrough.revoke_refresh_token)
    return passthrough


_RETRYABLE_CODES = frozenset(
    {"TooManyRequestsException", "InternalErrorException", "ThrottlingException",
     "ServiceUnavailable", "RequestTimeout"}
)  # fmt: skip


def _retryable(exc: BaseException, code: str) -> bool:
    """A failure that may pass on a retry: the client side (no connection, a timeout),
    throttling, or the service's own error (a 5xx)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return True  # botocore's client-side errors carry no response
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _RETRYABLE_CODES or (isinstance(status, int) and status >= 500)
