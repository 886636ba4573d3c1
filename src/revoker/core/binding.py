"""Sender-constrained tokens: a token bound to a key or a certificate needs its proof.

An access token may name, in its ``cnf`` claim (RFC 7800), what its presenter must
prove to hold: ``jkt``, the thumbprint of a DPoP key (RFC 9449), or ``x5t#S256``,
the thumbprint of a TLS client certificate (RFC 8705). Presented as a plain Bearer
such a token is refused (``sender_constrained``, RFC 9449 §7.2): that is what makes
a stolen one useless. ``check_binding`` runs on every check, cached token or not,
because the proof belongs to the request, not to the token.

``ProofContext`` is what a transport knows about the request: the DPoP header (only
when the ``Authorization`` scheme was ``DPoP``), the method and URI the client
called, and the SHA-256 thumbprint of the client certificate its TLS terminator saw.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revoker.core.detail import shown, shown_list
from revoker.core.errors import InvalidDpopProof, MalformedToken, SenderConstrained
from revoker.core.tokens import b64url_encode

if TYPE_CHECKING:
    from revoker.core.dpop import DpopVerifier
    from revoker.core.verify import VerifiedToken

__all__ = [
    "Confirmation",
    "ProofContext",
    "certificate_thumbprint",
    "check_binding",
    "parse_confirmation",
]

_KNOWN_METHODS = ("jkt", "x5t#S256")


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A token's ``cnf`` claim: what its presenter must prove to hold."""

    jkt: str | None
    x5t_s256: str | None
    #: Confirmation methods revoker cannot check (``jwk``, ``kid``, ``jku`` …).
    others: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProofContext:
    """What the request proves besides the token. Every field is optional.

    ``dpop``: the ``DPoP`` header's value, given only when the request used the
    ``DPoP`` authorization scheme (a transport refuses a request with more than one
    ``DPoP`` header). ``method`` and ``uri``: the client's original request (not the
    forward-auth subrequest), for the proof's ``htm`` and ``htu``. ``cert_thumbprint``:
    base64url SHA-256 of the DER client certificate (``certificate_thumbprint``).
    """

    dpop: str | None = None
    method: str | None = None
    uri: str | None = None
    cert_thumbprint: str | None = None


def certificate_thumbprint(der: bytes) -> str:
    """The ``x5t#S256`` of a DER-encoded certificate: base64url SHA-256 (RFC 8705 §3.1)."""
    return b64url_encode(hashlib.sha256(der).digest())


def parse_confirmation(claims: Mapping[str, Any]) -> Confirmation | None:
    """The token's ``cnf``, or None when it is not sender-constrained."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or not cnf:
        raise MalformedToken(f"claim 'cnf' must be a non-empty object, not {shown(cnf)}")
    values: dict[str, str | None] = {}
    for name in _KNOWN_METHODS:
        value = cnf.get(name)
        if value is not None and not (isinstance(value, str) and value):
            raise MalformedToken(f"claim 'cnf.{name}' must be a non-empty string")
        values[name] = value
    others = tuple(sorted(name for name in cnf if name not in _KNOWN_METHODS))
    return Confirmation(jkt=values["jkt"], x5t_s256=values["x5t#S256"], others=others)


def check_binding(
    verified: VerifiedToken, proof: ProofContext | None, dpop: DpopVerifier | None
) -> None:
    """Raise unless the request proves what the token's ``cnf`` asks (or the token has none)."""
    binding = verified.binding
    proof_jwt = proof.dpop if proof is not None else None
    if proof_jwt is not None and (binding is None or binding.jkt is None):
        raise InvalidDpopProof(
            "a DPoP proof came with a token that is not DPoP-bound (no cnf.jkt);"
            " such a token is presented as a Bearer token"
        )
    if binding is None:
        return
    if binding.jkt is None and binding.x5t_s256 is None:
        raise SenderConstrained(
            f"the token is bound by cnf {shown_list(binding.others)}, a confirmation method"
            " revoker cannot check, so it is refused"
        )
    if binding.jkt is not None:
        if proof_jwt is None:
            raise SenderConstrained(
                "the token is DPoP-bound (cnf.jkt): it must come with a DPoP proof under the"
                " DPoP scheme, never as a Bearer token (RFC 9449 §7.2)"
            )
        if dpop is None:
            raise SenderConstrained(
                "the token is DPoP-bound (cnf.jkt) and this authorizer verifies no DPoP"
                " proofs: configure a DPoP verifier to accept it"
            )
        assert proof is not None  # noqa: S101 - proof_jwt came from it
        dpop.verify(
            proof_jwt,
            access_token=verified.raw,
            method=proof.method,
            uri=proof.uri,
            jkt=binding.jkt,
        )
    if binding.x5t_s256 is not None:
        presented = proof.cert_thumbprint if proof is not None else None
        if presented is None:
            raise SenderConstrained(
                "the token is certificate-bound (cnf.x5t#S256): it must come over mutual TLS"
                " with that client certificate (RFC 8705 §3)"
            )
        if not hmac.compare_digest(presented.encode(), binding.x5t_s256.encode()):
            raise SenderConstrained(
                "the client certificate's SHA-256 thumbprint is not the token's cnf.x5t#S256"
            )
