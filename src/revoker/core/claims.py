"""Claims: what a token must satisfy after its signature, one small check each.

``VerificationPolicy`` holds the choices (issuers, audience, token use, times);
``check_claims`` runs the access/ID-token checks in a fixed order and returns the
token's *kind*. The primitives (``number_claim``, ``check_times``,
``check_audience``) are shared with the other validation profiles (logout tokens,
security events). No I/O, and ``now`` is passed in, so every time edge is
testable without sleeping.

A token's kind is ``"id"``, ``"access"`` or ``None`` (cannot be told), read from
what the issuers write:

- ``token_use`` (Cognito): ``"id"`` or ``"access"``;
- the header ``typ`` ``at+jwt`` (RFC 9068 §2.1, any case, ``application/`` optional): access;
- Keycloak's ``typ`` claim: ``"Bearer"`` is access, ``"ID"`` is an ID token, and its
  refresh and logout tokens (``"Refresh"``, ``"Offline"``, ``"Logout"``) are refused.

Tokens of another validation profile are never access or ID tokens: a header ``typ``
of any other ``…+jwt`` type (``logout+jwt``, ``secevent+jwt``, ``dpop+jwt`` …) or an
``events`` claim (RFC 8417) is refused with ``wrong_token_use``: the token is genuine
and well formed, it is just of another use than the one accepted here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from revoker.core.detail import iso_time, shown, shown_list
from revoker.core.errors import (
    ConfigurationError,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    WrongAudience,
    WrongTokenUse,
)
from revoker.core.signature import SUPPORTED_ALGORITHMS
from revoker.core.tokens import DEFAULT_MAX_TOKEN_BYTES, header_type

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "COGNITO_MAX_LIFETIME_SECONDS",
    "DEFAULT_LEEWAY_SECONDS",
    "TOKEN_USES",
    "VerificationPolicy",
    "check_audience",
    "check_claims",
    "check_times",
    "cognito_issuers",
    "number_claim",
    "token_kind",
]

TOKEN_USES = frozenset({"id", "access"})
DEFAULT_LEEWAY_SECONDS = 5.0
COGNITO_MAX_LIFETIME_SECONDS = 86_400.0
#: RFC 9068's header ``typ``, as ``header_type`` gives it.
ACCESS_TOKEN_TYPE = "at+jwt"

# https://cognito-idp.{region}.amazonaws.com/{region}_{id}: the issuers whose tokens
# follow the Cognito convention, token_use included.
_COGNITO_ISSUER = re.compile(
    r"https://cognito-idp\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com/\1_[0-9A-Za-z]+"
)
# Keycloak's own "typ" claim.
_KEYCLOAK_KINDS = {"Bearer": "access", "ID": "id"}
_KEYCLOAK_NOT_ACCESS_OR_ID = frozenset({"Refresh", "Offline", "Logout"})
# Claims the registry matches on: a list there could dodge a rule.
_STRING_CLAIMS = ("sub", "jti", "origin_jti", "sid", "client_id", "token_use")


def cognito_issuers(issuers: Iterable[str]) -> frozenset[str]:
    """The Cognito user-pool issuers among ``issuers`` (``https://cognito-idp.…/{pool id}``)."""
    return frozenset(issuer for issuer in issuers if _COGNITO_ISSUER.fullmatch(issuer))


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationPolicy:
    """What a token must satisfy. The risky choices have no default.

    ``audience``: accepted ``aud`` (ID tokens, RFC 9068 and other access tokens) or
    ``client_id`` (Cognito access tokens) values; ``None`` switches the check off,
    explicitly.
    ``token_use``: the kinds of token accepted, ``{"id"}``, ``{"access"}`` or both; a
    set refuses a token whose kind cannot be told. ``None`` (the default) accepts any
    kind, unknown included.
    ``token_use_required_issuers``: issuers whose tokens must carry ``token_use`` (the
    Cognito convention). ``None`` (the default) means the Cognito user-pool issuers
    among ``issuers``; ``frozenset()`` requires it of none.
    """

    issuers: tuple[str, ...]
    audience: tuple[str, ...] | None
    token_use: frozenset[str] | None = None
    token_use_required_issuers: frozenset[str] | None = None
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    max_lifetime_seconds: float = COGNITO_MAX_LIFETIME_SECONDS
    required_claims: tuple[str, ...] = ("sub",)
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES

    def __post_init__(self) -> None:
        # One accepted shape per option: a bare string would turn `in` into a
        # substring test (audience "abc" accepting "b"), so it is refused here.
        if not _strings(self.issuers, tuple):
            raise ConfigurationError("issuers must be a non-empty tuple of strings")
        if self.audience is not None and not _strings(self.audience, tuple):
            raise ConfigurationError("audience must be a non-empty tuple of strings, or None")
        if not _strings(self.algorithms, frozenset) or self.algorithms - SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if self.token_use is not None and (
            not _strings(self.token_use, frozenset) or self.token_use - TOKEN_USES
        ):
            raise ConfigurationError(
                "token_use must be a non-empty subset of {'id', 'access'}, or None for any kind"
            )
        required = self.token_use_required_issuers
        if required is None:
            object.__setattr__(self, "token_use_required_issuers", cognito_issuers(self.issuers))
        elif not _strings(required, frozenset, allow_empty=True) or required - set(self.issuers):
            raise ConfigurationError(
                "token_use_required_issuers must be a frozenset of trusted issuers"
            )
        if not _strings(self.required_claims, tuple, allow_empty=True):
            raise ConfigurationError("required_claims must be a tuple of claim names")
        if not 0 <= self.leeway_seconds <= 300:
            raise ConfigurationError("leeway_seconds must lie between 0 and 300")
        if not 0 < self.max_lifetime_seconds < math.inf:
            raise ConfigurationError("max_lifetime_seconds must be positive and finite")
        if isinstance(self.max_token_bytes, bool) or not (
            isinstance(self.max_token_bytes, int) and self.max_token_bytes > 0
        ):
            raise ConfigurationError("max_token_bytes must be a positive integer")


def _strings(value: object, kind: type[Collection[Any]], *, allow_empty: bool = False) -> bool:
    """``value`` is a ``kind`` of strings, and not empty unless allowed."""
    if not isinstance(value, kind):
        return False
    return (allow_empty or len(value) > 0) and all(isinstance(item, str) for item in value)


# --- primitives shared by every profile ---------------------------------------------------


def number_claim(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    """A finite numeric claim; ``MissingClaim`` if required (or null), ``MalformedToken`` if odd."""
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise MissingClaim(f"the token's '{name}' claim is null, which is no time")
        if required:
            raise MissingClaim(f"the token has no '{name}' claim, which is required")
        return None
    # bool is an int in Python; a NaN or infinity would make every comparison lie.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"claim '{name}' must be a number, not {shown(value)}")
    try:
        number = float(value)  # a JSON integer of 400 digits overflows here
    except OverflowError:
        raise MalformedToken(f"claim '{name}' must be finite, not {shown(value)}") from None
    if not math.isfinite(number):
        raise MalformedToken(f"claim '{name}' must be finite, not {shown(value)}")
    return number


def _at(now: float, leeway: float) -> str:
    # Only on the way to an error: formatting a time costs more than every check here.
    return f"now {iso_time(now)}, leeway {leeway:g} s"


def check_times(
    claims: Mapping[str, Any],
    policy: VerificationPolicy,
    now: float,
    *,
    exp_required: bool = True,
    early_ok: bool = False,
) -> None:
    """``exp`` (required unless told), ``iat`` (required), ``nbf``, and the lifetime bound.

    ``early_ok``: a token that is not valid *yet* (``nbf``, or ``iat`` ahead of this clock)
    passes; revocation takes it, since it will be valid later.
    """
    leeway = policy.leeway_seconds
    exp = number_claim(claims, "exp", required=exp_required)
    iat = number_claim(claims, "iat", required=True)
    nbf = number_claim(claims, "nbf", required=False)
    assert iat is not None  # noqa: S101 - required=True guarantees it
    if exp is not None and now >= exp + leeway:
        raise TokenExpired(f"the token expired at {iso_time(exp)} ({_at(now, leeway)})")
    if early_ok:
        pass
    elif nbf is not None and now + leeway < nbf:
        raise TokenNotYetValid(
            f"the token is not valid before nbf {iso_time(nbf)} ({_at(now, leeway)})"
        )
    elif iat > now + leeway:
        raise IssuedInFuture(
            f"the token's iat {iso_time(iat)} lies in the future ({_at(now, leeway)})"
        )
    if exp is not None and exp - iat > policy.max_lifetime_seconds:
        raise LifetimeTooLong(
            f"the token lives {exp - iat:.0f} s (iat {iso_time(iat)}, exp {iso_time(exp)}), "
            f"longer than the {policy.max_lifetime_seconds:.0f} s allowed"
        )


def check_audience(claims: Mapping[str, Any], name: str, accepted: tuple[str, ...] | None) -> None:
    """Claim ``name`` (a string, or for ``aud`` a list of them) names an accepted audience."""
    if accepted is None:
        return
    if name not in claims:
        raise MissingClaim(
            f"the token has no '{name}' claim, so it cannot name one of {shown_list(accepted)}"
        )
    value = claims[name]
    values = value if isinstance(value, list) and name == "aud" else [value]
    if any(not isinstance(item, str) for item in values):
        kind = "a string or a list of strings" if name == "aud" else "a string"
        raise MalformedToken(f"claim '{name}' must be {kind}, not {shown(value)}")
    if not any(item in accepted for item in values):
        received = shown_list(values) if isinstance(value, list) else shown(value)
        message = f"{name} must name one of {shown_list(accepted)}, the token's is {received}"
        azp = claims.get("azp")
        if name == "aud" and isinstance(azp, str) and azp in accepted:
            message += (
                f"; its azp {shown(azp)} is accepted, but azp only says who asked for the"
                " token: accept the token's aud, or have the issuer put yours in aud"
            )
        raise WrongAudience(message)


# --- the access/ID-token profile ------------------------------------------------------------


def _check_not_another_profile(header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
    typ = header_type(header)
    if typ is not None and typ.endswith("+jwt") and typ != ACCESS_TOKEN_TYPE:
        raise WrongTokenUse(
            f"header typ {shown(header['typ'])} marks another kind of token (such as a logout"
            " token, a security event or a DPoP proof), never an access or ID token"
        )
    if "events" in claims:
        raise WrongTokenUse(
            "an 'events' claim marks a security event or logout token, never an access or ID token"
        )


def token_kind(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str | None:
    """``"id"``, ``"access"``, or None when the token does not say (see the module doc)."""
    told: dict[str, str] = {}
    token_use = claims.get("token_use")
    if token_use is not None:
        if token_use not in TOKEN_USES:
            raise WrongTokenUse(f"token_use {shown(token_use)} is neither 'id' nor 'access'")
        told["token_use"] = token_use
    if header_type(header) == ACCESS_TOKEN_TYPE:
        told["header typ"] = "access"
    keycloak = claims.get("typ")
    if isinstance(keycloak, str):
        if keycloak in _KEYCLOAK_NOT_ACCESS_OR_ID:
            raise WrongTokenUse(
                f"claim typ {shown(keycloak)} marks a Keycloak refresh or logout token,"
                " never an access or ID token"
            )
        if keycloak in _KEYCLOAK_KINDS:
            told["typ claim"] = _KEYCLOAK_KINDS[keycloak]
    kinds = set(told.values())
    if len(kinds) > 1:
        said = ", ".join(f"{source} says {kind}" for source, kind in told.items())
        raise WrongTokenUse(f"the token contradicts itself: {said}")
    return kinds.pop() if kinds else None


def _check_token_use(
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    policy: VerificationPolicy,
    kind: str | None,
) -> None:
    required = policy.token_use_required_issuers
    if required and "token_use" not in claims and claims.get("iss") in required:
        raise MissingClaim(
            f"the token has no 'token_use' claim, which tokens of issuer {shown(claims['iss'])}"
            " must carry (the Cognito convention)"
        )
    accepted = policy.token_use
    if accepted is None:
        return
    if kind is None:
        typ = header.get("typ")
        raise WrongTokenUse(
            "the token's kind cannot be told: it has no 'token_use' claim and its header typ"
            f" is {shown(typ) if typ is not None else 'absent'}, not 'at+jwt'; only"
            f" {'/'.join(sorted(accepted))} tokens are accepted. Accept tokens of any kind"
            " (token use 'any') for issuers that do not mark them"
        )
    if kind not in accepted:
        raise WrongTokenUse(
            f"the token is an {kind} token; accepted: {'/'.join(sorted(accepted))} tokens only"
        )


def _audience_claim(claims: Mapping[str, Any], kind: str | None) -> str:
    """The claim that names the audience: client_id for Cognito access tokens, else aud."""
    if claims.get("token_use") == "access":
        return "client_id"  # Cognito access tokens carry the app client there, and no aud
    if kind is not None or "aud" in claims or "client_id" not in claims:
        # ID tokens and RFC 9068 access tokens must carry aud (OIDC Core §2, RFC 9068 §2.2).
        return "aud"
    return "client_id"  # an unmarked token with no aud: its client is all there is


def _check_string_claims(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    for name in policy.required_claims:
        if claims.get(name) in (None, ""):
            raise MissingClaim(f"the token has no '{name}' claim, which the policy requires")
    for name in _STRING_CLAIMS:
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedToken(f"claim '{name}' must be a string, not {shown(value)}")


def check_claims(
    claims: Mapping[str, Any],
    policy: VerificationPolicy,
    now: float,
    header: Mapping[str, Any] | None = None,
    *,
    early_ok: bool = False,
) -> str | None:
    """Every access/ID-token claim check after the signature, in a fixed order; the kind."""
    header = header if header is not None else {}
    _check_not_another_profile(header, claims)  # first: such a token is told what it is
    _check_string_claims(claims, policy)
    check_times(claims, policy, now, early_ok=early_ok)
    kind = token_kind(header, claims)
    _check_token_use(header, claims, policy, kind)
    if policy.audience is not None:
        if kind is None and "aud" not in claims and "client_id" not in claims:
            raise MissingClaim(
                "the token has neither 'aud' nor 'client_id', so it cannot name one of"
                f" {shown_list(policy.audience)}"
            )
        check_audience(claims, _audience_claim(claims, kind), policy.audience)
    return kind
