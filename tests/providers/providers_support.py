"""What the provider suites share: an issuer with a real key, found through OIDC discovery
(or the Cognito convention) as its users would configure it, and a probe of which
revocation rule kinds can reach a token.

Each ``test_provider_*.py`` mints tokens with the headers and claims its provider
documents (cited in the module docstring) and checks what docs/providers.md says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from revoker.core.authorizer import Authorizer
from revoker.core.clock import FrozenClock
from revoker.core.errors import JwksUnavailable
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.logout_token import LogoutTokenVerifier
from revoker.core.registry import Registry, RuleKind, open_store
from revoker.core.registry.rules import token_rule_value
from revoker.core.signing import PrivateKey, generate_key, public_jwk, sign_compact
from revoker.core.tokens import parse_unverified
from revoker.core.verify import VerificationPolicy, Verifier

NOW = 1_700_000_000
#: The algorithms the suites sign with, each from a real key.
ALGORITHMS = ("RS256", "PS256", "ES256", "Ed25519")

_KEYS: dict[str, PrivateKey] = {}


def key_for(alg: str) -> PrivateKey:
    """One real key per algorithm for the whole session (RSA generation is slow)."""
    if alg not in _KEYS:
        _KEYS[alg] = generate_key(alg)
    return _KEYS[alg]


class RoutedFetcher:
    """A ``JwksFetcher`` serving documents by URL (discovery, then the JWKS), counting calls."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents
        self.calls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        if url not in self.documents:
            raise JwksUnavailable(f"nothing is served at {url}")
        return self.documents[url]


@dataclass
class Provider:
    """An issuer as its documentation describes it: issuer, JWKS URL, algorithm, key."""

    issuer: str
    jwks_uri: str
    alg: str = "RS256"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(NOW))
    cognito: tuple[str, str] | None = None  # (region, user pool id): no discovery

    @property
    def key(self) -> PrivateKey:
        return key_for(self.alg)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key, kid=self.kid, alg=self.alg)]}

    def sign(self, claims: dict[str, Any], *, typ: str | None = None, **header: Any) -> str:
        """Sign ``claims`` under a header of ``kid``, ``alg``, ``typ`` (when given) and more."""
        full: dict[str, Any] = {"kid": self.kid, "alg": self.alg, **header}
        if typ is not None:
            full["typ"] = typ
        return sign_compact(full, {k: v for k, v in claims.items() if v is not None}, self.key)

    def fetcher(self) -> RoutedFetcher:
        discovery = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        return RoutedFetcher(
            {
                discovery: {"issuer": self.issuer, "jwks_uri": self.jwks_uri},
                self.jwks_uri: self.jwks(),
            }
        )

    def verifier(
        self,
        *,
        audience: tuple[str, ...] | None,
        token_use: frozenset[str] | None = None,
        fetcher: RoutedFetcher | None = None,
        **policy: Any,
    ) -> Verifier:
        """A verifier configured as a user of this provider would: its issuer, the audience,
        its algorithm, keys by discovery (or the Cognito convention)."""
        if self.cognito is not None:
            source = JwksSource.from_cognito(*self.cognito)
        else:
            source = JwksSource.from_discovery(self.issuer)
        cache = JwksCache(source, fetcher=fetcher or self.fetcher(), clock=self.clock)
        verification = VerificationPolicy(
            issuers=(self.issuer,),
            audience=audience,
            token_use=token_use,
            algorithms=frozenset({self.alg}),
            **policy,
        )
        return Verifier(verification, {self.issuer: cache}, clock=self.clock)

    def logout_verifier(self, *, audience: tuple[str, ...]) -> LogoutTokenVerifier:
        return LogoutTokenVerifier(self.verifier(audience=audience))


def reachable_kinds(verifier: Verifier, token: str, *, client: str | None) -> set[str]:
    """The rule kinds that revoke ``token`` when given the value its claims offer for them:
    ``jti`` (or the token's hash), ``origin_jti``, ``sid``, ``sub`` (cut-off at ``iat``), and
    ``client``, the app's client id wherever the provider writes it."""
    claims = parse_unverified(token).claims
    values: dict[RuleKind, str | None] = {
        RuleKind.TOKEN: token_rule_value(claims, token),
        RuleKind.FAMILY: claims.get("origin_jti"),
        RuleKind.SESSION: claims.get("sid"),
        RuleKind.SUBJECT: claims.get("sub"),
        RuleKind.CLIENT: client,
    }
    reached = set()
    for kind, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        registry = Registry(open_store("memory://"), clock=verifier.clock)
        registry.sync()
        cutoff = float(claims["iat"]) if kind in (RuleKind.SUBJECT, RuleKind.CLIENT) else None
        registry.revoke(kind, value, cutoff=cutoff, actor="test")
        decision = Authorizer(verifier, registry).check(token)
        if decision.reason == f"revoked_{kind.value}":
            reached.add(kind.value)
    return reached
