"""The step every validation profile shares: a compact JWS signed by a trusted issuer's key.

``verify_signed`` parses, refuses ``crit``, checks the algorithm against the
allow-list, checks the issuer *before* any key is looked up (so keys are only
ever fetched for a trusted issuer), finds the key by ``kid`` and checks the
signature. The claims are left to the profile: access and ID tokens
(``verify``), logout tokens (``logout_token``), security events
(``security_event``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revoker.core.claims import VerificationPolicy
from revoker.core.detail import shown, shown_list
from revoker.core.errors import MalformedToken, UnknownKid, UnsupportedAlgorithm, WrongIssuer
from revoker.core.jwks import JwksCache
from revoker.core.signature import verify_signature
from revoker.core.tokens import UnverifiedToken, parse_unverified

__all__ = ["check_crit", "verify_signed"]


def check_crit(header: Mapping[str, Any]) -> None:
    """Refuse any ``crit`` header: revoker understands no JWS extension."""
    if "crit" not in header:
        return
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise MalformedToken("'crit' must be a non-empty list of names")
    raise MalformedToken(f"unsupported critical header extension {shown(crit[0])}")


def verify_signed(
    token: str, policy: VerificationPolicy, keys: Mapping[str, JwksCache]
) -> UnverifiedToken:
    """The parsed token once its issuer is trusted and its signature holds; claims unchecked.

    Raises ``TokenRejected`` (malformed, too large, alg, issuer, kid, signature) or
    ``JwksUnavailable``.
    """
    parsed = parse_unverified(token, max_bytes=policy.max_token_bytes)
    header = parsed.header
    check_crit(header)
    alg = header["alg"]
    if alg not in policy.algorithms:
        raise UnsupportedAlgorithm(
            f"alg {shown(alg)} is not allowed; allowed: {sorted(policy.algorithms)}"
        )
    issuer = parsed.claims.get("iss")
    cache = keys.get(issuer) if isinstance(issuer, str) else None
    if cache is None:
        received = "absent" if issuer is None else shown(issuer)
        raise WrongIssuer(
            f"iss {received} is not a trusted issuer; trusted: {shown_list(policy.issuers)}"
        )
    kid = header.get("kid")
    if kid is None:
        raise UnknownKid("the token header has no 'kid', so no key of the issuer can be chosen")
    if not isinstance(kid, str):
        raise MalformedToken(f"'kid' must be a string, not {shown(kid)}")
    verify_signature(parsed, cache.get(kid))
    return parsed
