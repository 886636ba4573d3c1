"""Settings: one frozen dataclass, read from keywords, the environment or the CLI.

No I/O at import and none in the constructors: building an ``Authorizer``
from settings (``build_verifier``) creates key caches but fetches nothing
until the first check or ``warm()``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from revoker.core.authorizer import DEFAULT_CACHE_SIZE
from revoker.core.clock import Clock
from revoker.core.errors import ConfigurationError
from revoker.core.jwks import HttpJwksFetcher, JwksCache, JwksFetcher, JwksSource, cognito_issuer
from revoker.core.verify import (
    COGNITO_MAX_LIFETIME_SECONDS,
    DEFAULT_LEEWAY_SECONDS,
    VerificationPolicy,
    Verifier,
)

__all__ = [
    "DEFAULT_STORE_URL",
    "Settings",
    "build_verifier",
    "parse_token_use",
]

DEFAULT_STORE_URL = "sqlite:///revoker.db"
TOKEN_USE_CHOICES = ("id", "access", "any")


def parse_token_use(value: str) -> frozenset[str]:
    """``id``, ``access`` or ``any`` (both, as API Gateway's Cognito authorizer accepts)."""
    value = value.strip().lower()
    if value not in TOKEN_USE_CHOICES:
        raise ConfigurationError(f"token use must be one of {', '.join(TOKEN_USE_CHOICES)}")
    return frozenset({"id", "access"}) if value == "any" else frozenset({value})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything an authorizer needs. ``audience`` has no default on purpose."""

    issuers: tuple[str, ...] = ()
    jwks_url: str | None = None
    cognito_user_pool_id: str | None = None
    region: str | None = None
    audience: tuple[str, ...] | None
    token_use: str = "any"
    algorithms: tuple[str, ...] = ("RS256",)
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    max_token_lifetime_seconds: float = COGNITO_MAX_LIFETIME_SECONDS
    store_url: str = DEFAULT_STORE_URL
    max_staleness_seconds: float = 30.0
    fail_open: bool = False
    poll_interval_seconds: float = 0.5
    cache_size: int = DEFAULT_CACHE_SIZE
    jwks_cooldown_seconds: float = 10.0
    jwks_timeout_seconds: float = 3.0

    def trusted_issuers(self) -> tuple[str, ...]:
        """Configured issuers, plus the one a Cognito pool id implies."""
        issuers = list(self.issuers)
        if self.cognito_user_pool_id:
            if not self.region:
                raise ConfigurationError("a Cognito user pool id needs a region (AWS_REGION)")
            implied = cognito_issuer(self.region, self.cognito_user_pool_id)
            if implied not in issuers:
                issuers.append(implied)
        if not issuers:
            raise ConfigurationError(
                "no trusted issuer: set --issuer/REVOKER_ISSUER or a Cognito user pool id"
            )
        return tuple(issuers)

    def policy(self) -> VerificationPolicy:
        for name in ("leeway_seconds", "max_staleness_seconds", "max_token_lifetime_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative number")
        return VerificationPolicy(
            issuers=self.trusted_issuers(),
            audience=self.audience,
            token_use=parse_token_use(self.token_use),
            algorithms=frozenset(self.algorithms),
            leeway_seconds=self.leeway_seconds,
            max_lifetime_seconds=self.max_token_lifetime_seconds,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``REVOKER_*`` (and ``AWS_REGION``); ``REVOKER_AUDIENCE=*`` turns the check off."""
        env = os.environ if environ is None else environ

        def split(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None

        audience_values = split("REVOKER_AUDIENCE")
        if not audience_values:
            raise ConfigurationError(
                "REVOKER_AUDIENCE is required (the app client ids); '*' turns the check off"
            )
        audience = None if audience_values == ("*",) else audience_values
        return cls(
            issuers=split("REVOKER_ISSUER"),
            jwks_url=env.get("REVOKER_JWKS_URL") or None,
            cognito_user_pool_id=env.get("REVOKER_COGNITO_USER_POOL_ID") or None,
            region=env.get("REVOKER_REGION") or env.get("AWS_REGION") or None,
            audience=audience,
            token_use=env.get("REVOKER_TOKEN_USE", "any"),
            algorithms=split("REVOKER_ALGORITHMS") or ("RS256",),
            leeway_seconds=number("REVOKER_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS),
            max_token_lifetime_seconds=number(
                "REVOKER_MAX_TOKEN_LIFETIME_SECONDS", COGNITO_MAX_LIFETIME_SECONDS
            ),
            store_url=env.get("REVOKER_STORE", DEFAULT_STORE_URL),
            max_staleness_seconds=number("REVOKER_MAX_STALENESS", 30.0),
            fail_open=env.get("REVOKER_FAIL_OPEN", "").lower() in ("1", "true", "yes"),
            poll_interval_seconds=number("REVOKER_POLL_INTERVAL", 0.5),
        )


def build_verifier(
    settings: Settings, *, fetcher: JwksFetcher | None = None, clock: Clock | None = None
) -> Verifier:
    """A ``Verifier`` with one key cache per issuer (or one shared, for a single JWKS URL)."""
    policy = settings.policy()
    if fetcher is None:
        fetcher = HttpJwksFetcher(timeout_seconds=settings.jwks_timeout_seconds)
    shared: JwksCache | None = None
    if settings.jwks_url:
        shared = JwksCache(
            JwksSource.from_url(settings.jwks_url),
            fetcher=fetcher,
            cooldown_seconds=settings.jwks_cooldown_seconds,
            clock=clock,
        )
    caches: dict[str, JwksCache] = {}
    for issuer in policy.issuers:
        if shared is not None:
            caches[issuer] = shared
            continue
        if issuer.startswith("https://cognito-idp.") and ".amazonaws.com/" in issuer:
            source = JwksSource.from_url(issuer + "/.well-known/jwks.json")
        else:
            source = JwksSource.from_discovery(issuer)
        caches[issuer] = JwksCache(
            source, fetcher=fetcher, cooldown_seconds=settings.jwks_cooldown_seconds, clock=clock
        )
    return Verifier(policy, caches, clock=clock)
