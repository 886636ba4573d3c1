"""The AWS-specific settings, read from the environment beside ``Settings.from_env``.

=================================  ==========================================================
``REVOKER_SIMPLE_RESPONSES``       ``true``: HTTP API 2.0 gets ``{"isAuthorized": …}``
``REVOKER_AUTH_HEADER``            header holding the token in REQUEST events (Authorization)
``REVOKER_POLICY_RESOURCE``        ``method`` (the methodArn) or ``api-wildcard``
                                   (``…/apiId/stage/*``, so a cached policy fits every route)
``REVOKER_SYNC_MAX_AGE``           seconds a Lambda replica may age before it syncs (1)
``REVOKER_ADMIN_TOKEN``            the admin credential of the revoke function
``REVOKER_ADMIN_TOKEN_SECRET_ARN`` or a Secrets Manager secret holding it
``REVOKER_PASSTHROUGH_COGNITO``    ``true``: RevokeToken / AdminUserGlobalSignOut on revokes
``REVOKER_COGNITO_CLIENT_SECRET``  the app client's secret, if it has one (RevokeToken)
``REVOKER_FLUSH_REST_STAGES``      ``apiId/stage,…``: FlushStageAuthorizersCache on revokes
``REVOKER_FLUSH_HTTP_STAGES``      ``apiId/stage,…``: ResetAuthorizersCache on revokes
``REVOKER_RESOLVE_USERNAMES``      ``true`` (default): CloudTrail usernames → sub (AdminGetUser)
=================================  ==========================================================
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from revoker.core.errors import ConfigurationError

__all__ = ["AwsConfig", "PolicyResource", "StageRef"]

PolicyResource = Literal["method", "api-wildcard"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
_STAGE = re.compile(r"(?P<api>[A-Za-z0-9]{1,64})/(?P<stage>[A-Za-z0-9_$-]{1,128})")
# Long enough for any sane sync bound, short enough to keep a revoke call snappy.
_MAX_SYNC_AGE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class StageRef:
    """One API Gateway stage whose authorizer cache a revoke flushes."""

    api_id: str
    stage: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsConfig:
    """How the Lambda handlers read events, answer, and call AWS on a revoke."""

    simple_responses: bool = False
    auth_header: str = "authorization"
    policy_resource: PolicyResource = "method"
    sync_max_age_seconds: float = 1.0
    admin_token: str | None = None
    admin_token_secret_arn: str | None = None
    passthrough_cognito: bool = False
    cognito_client_secret: str | None = None
    flush_rest_stages: tuple[StageRef, ...] = ()
    flush_http_stages: tuple[StageRef, ...] = ()
    resolve_usernames: bool = True

    def __post_init__(self) -> None:
        if not _HEADER_NAME.fullmatch(self.auth_header):
            raise ConfigurationError("REVOKER_AUTH_HEADER must be an HTTP header name")
        object.__setattr__(self, "auth_header", self.auth_header.lower())
        if self.policy_resource not in ("method", "api-wildcard"):
            raise ConfigurationError("REVOKER_POLICY_RESOURCE must be 'method' or 'api-wildcard'")
        age = self.sync_max_age_seconds
        if not (math.isfinite(age) and 0 <= age <= _MAX_SYNC_AGE_SECONDS):
            raise ConfigurationError(
                f"REVOKER_SYNC_MAX_AGE must lie between 0 and {_MAX_SYNC_AGE_SECONDS:g} seconds"
            )

    @property
    def flushes(self) -> bool:
        """Whether any stage's authorizer cache is flushed on a revoke."""
        return bool(self.flush_rest_stages or self.flush_http_stages)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsConfig:
        env = os.environ if environ is None else environ
        return cls(
            simple_responses=_flag(env, "REVOKER_SIMPLE_RESPONSES", default=False),
            auth_header=env.get("REVOKER_AUTH_HEADER") or "authorization",
            policy_resource=_policy_resource(env.get("REVOKER_POLICY_RESOURCE") or "method"),
            sync_max_age_seconds=_seconds(env, "REVOKER_SYNC_MAX_AGE", default=1.0),
            admin_token=env.get("REVOKER_ADMIN_TOKEN") or None,
            admin_token_secret_arn=env.get("REVOKER_ADMIN_TOKEN_SECRET_ARN") or None,
            passthrough_cognito=_flag(env, "REVOKER_PASSTHROUGH_COGNITO", default=False),
            cognito_client_secret=env.get("REVOKER_COGNITO_CLIENT_SECRET") or None,
            flush_rest_stages=_stages(env, "REVOKER_FLUSH_REST_STAGES"),
            flush_http_stages=_stages(env, "REVOKER_FLUSH_HTTP_STAGES"),
            resolve_usernames=_flag(env, "REVOKER_RESOLVE_USERNAMES", default=True),
        )


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False if value else default
    raise ConfigurationError(f"{name} must be true or false, not {raw[:32]!r}")


def _seconds(env: Mapping[str, str], name: str, *, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw[:32]!r}") from None


def _policy_resource(value: str) -> PolicyResource:
    value = value.strip().lower()
    if value == "method":
        return "method"
    if value == "api-wildcard":
        return "api-wildcard"
    raise ConfigurationError("REVOKER_POLICY_RESOURCE must be 'method' or 'api-wildcard'")


def _stages(env: Mapping[str, str], name: str) -> tuple[StageRef, ...]:
    stages: list[StageRef] = []
    for raw in env.get(name, "").split(","):
        part = raw.strip()
        if not part:
            continue
        match = _STAGE.fullmatch(part)
        if match is None:
            raise ConfigurationError(f"{name} takes apiId/stage entries, not {part[:64]!r}")
        stages.append(StageRef(api_id=match["api"], stage=match["stage"]))
    return tuple(stages)
