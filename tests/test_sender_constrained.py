"""Sender-constrained tokens through Authorizer.check: a DPoP- or certificate-bound token is
refused as a plain Bearer (RFC 9449 §7.2, RFC 8705 §3), accepted with its proof, and the
proof is checked on every request, the verified-token cache notwithstanding."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from revoker.core.authorizer import Authorizer
from revoker.core.binding import ProofContext, certificate_thumbprint, parse_confirmation
from revoker.core.dpop import DpopVerifier
from revoker.core.errors import MalformedToken
from revoker.core.registry import Registry, RuleKind, open_store
from revoker.core.tokens import b64url_encode, parse_unverified
from revoker.testing import DpopKey, TokenFactory
from verify_support import NOW, verifier_for

URI = "https://api.example.com/orders"


@pytest.fixture
def dpop_key(factory: TokenFactory) -> DpopKey:
    return DpopKey("ES256", clock=factory.clock)


def authorizer(factory: TokenFactory, *, dpop: bool = True, registry: bool = False) -> Authorizer:
    store = Registry(open_store("memory://"), clock=factory.clock) if registry else None
    if store is not None:
        store.sync()
    verifier = DpopVerifier(clock=factory.clock) if dpop else None
    return Authorizer(verifier_for(factory), store, dpop=verifier)


def dpop_request(key: DpopKey, token: str, **claims: object) -> ProofContext:
    proof = key.proof("GET", URI, access_token=token, **claims)
    return ProofContext(dpop=proof, method="GET", uri=URI)


def client_certificate() -> bytes:
    """A self-signed client certificate, DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    start = dt.datetime.fromtimestamp(NOW, tz=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


# --- DPoP-bound ------------------------------------------------------------------------


def test_a_dpop_bound_token_presented_as_bearer_is_refused(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """cnf.jkt and no proof: sender_constrained, whatever else is right about the token."""
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    decision = authorizer(factory).check(token)
    assert (decision.allowed, decision.reason) == (False, "sender_constrained")
    assert "DPoP-bound" in decision.detail
    assert "RFC 9449" in decision.detail
    assert decision.claims is None


def test_a_dpop_bound_token_with_its_proof_is_allowed(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """The same token with a proof by the bound key for this request: allowed."""
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    decision = authorizer(factory).check(token, proof=dpop_request(dpop_key, token))
    assert (decision.allowed, decision.reason) == (True, "allowed")
    assert decision.token is not None
    assert decision.token.binding is not None
    assert decision.token.binding.jkt == dpop_key.jkt


def test_the_proof_is_checked_on_every_request_even_when_the_token_is_cached(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """A cache hit does not skip the binding: no proof, or a replayed one, is refused."""
    auth = authorizer(factory)
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    request = dpop_request(dpop_key, token)
    assert auth.check(token, proof=request).allowed
    assert token in auth._cache  # the verified token is cached ...
    assert auth.check(token).reason == "sender_constrained"  # ... and still needs a proof
    assert auth.check(token, proof=request).reason == "invalid_dpop_proof"  # a replay
    assert auth.check(token, proof=dpop_request(dpop_key, token)).allowed  # a fresh proof


def test_a_proof_by_another_key_is_refused(factory: TokenFactory, dpop_key: DpopKey) -> None:
    """A thief with the token and a key of their own cannot make the proof."""
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    thief = DpopKey("ES256", clock=factory.clock)
    decision = authorizer(factory).check(token, proof=dpop_request(thief, token))
    assert decision.reason == "invalid_dpop_proof"
    assert "cnf.jkt" in decision.detail


def test_without_a_dpop_verifier_a_bound_token_is_refused(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """An authorizer not set up for DPoP refuses DPoP-bound tokens, and says what to configure."""
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    decision = authorizer(factory, dpop=False).check(token, proof=dpop_request(dpop_key, token))
    assert decision.reason == "sender_constrained"
    assert "configure a DPoP verifier" in decision.detail


def test_a_dpop_proof_with_an_unbound_token_is_refused(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """The DPoP scheme with a Bearer token: the proof binds nothing, so it is refused."""
    token = factory.access_token()
    decision = authorizer(factory).check(token, proof=dpop_request(dpop_key, token))
    assert decision.reason == "invalid_dpop_proof"
    assert "not DPoP-bound" in decision.detail
    assert authorizer(factory).check(token).allowed  # the control: as a Bearer, it passes


def test_a_bound_token_that_is_revoked_is_still_revoked(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """The binding passes, then the registry match runs as for any token."""
    auth = authorizer(factory, registry=True)
    token = factory.access_token(cnf={"jkt": dpop_key.jkt})
    assert auth.registry is not None
    auth.registry.revoke(RuleKind.SUBJECT, "user-1", cutoff=NOW)
    decision = auth.check(token, proof=dpop_request(dpop_key, token))
    assert decision.reason == "revoked_subject"


def test_an_empty_proof_context_is_a_bearer_request(factory: TokenFactory) -> None:
    """ProofContext() with nothing in it proves nothing: a bound token is refused, others pass."""
    auth = authorizer(factory)
    assert auth.check(factory.access_token(), proof=ProofContext()).allowed
    bound = factory.access_token(cnf={"jkt": "x"})
    assert auth.check(bound, proof=ProofContext()).reason == "sender_constrained"


# --- certificate-bound --------------------------------------------------------------------


def test_a_certificate_bound_token_needs_its_certificate(factory: TokenFactory) -> None:
    """cnf.x5t#S256: the client certificate's thumbprint must match; none or another is refused."""
    der = client_certificate()
    token = factory.access_token(cnf={"x5t#S256": certificate_thumbprint(der)})
    auth = authorizer(factory)
    decision = auth.check(token)
    assert decision.reason == "sender_constrained"
    assert "mutual TLS" in decision.detail
    other = ProofContext(cert_thumbprint=certificate_thumbprint(client_certificate()))
    decision = auth.check(token, proof=other)
    assert decision.reason == "sender_constrained"
    assert "thumbprint" in decision.detail
    assert auth.check(token, proof=ProofContext(cert_thumbprint=certificate_thumbprint(der)))


def test_certificate_thumbprint_is_base64url_sha256_of_der() -> None:
    """RFC 8705 §3.1: x5t#S256 is the unpadded base64url SHA-256 of the DER certificate."""
    import hashlib  # noqa: PLC0415 - the oracle, beside its one use

    der = client_certificate()
    assert certificate_thumbprint(der) == b64url_encode(hashlib.sha256(der).digest())
    assert "=" not in certificate_thumbprint(der)


def test_a_token_bound_both_ways_needs_both_proofs(
    factory: TokenFactory, dpop_key: DpopKey
) -> None:
    """cnf with jkt and x5t#S256: the DPoP proof alone, or the certificate alone, is not enough."""
    der = client_certificate()
    cnf = {"jkt": dpop_key.jkt, "x5t#S256": certificate_thumbprint(der)}
    token = factory.access_token(cnf=cnf)
    auth = authorizer(factory)
    assert auth.check(token, proof=dpop_request(dpop_key, token)).reason == "sender_constrained"
    request = dpop_request(dpop_key, token)
    both = ProofContext(
        dpop=request.dpop, method="GET", uri=URI, cert_thumbprint=certificate_thumbprint(der)
    )
    assert auth.check(token, proof=both).allowed


def test_a_confirmation_method_revoker_cannot_check_is_refused(factory: TokenFactory) -> None:
    """cnf naming only jwk or kid (RFC 7800) proves nothing revoker can see: refused."""
    token = factory.access_token(cnf={"kid": "k1"})
    decision = authorizer(factory).check(token)
    assert decision.reason == "sender_constrained"
    assert "['kid']" in decision.detail


@pytest.mark.parametrize(
    "cnf",
    [None, "jkt", [], {}, {"jkt": 1}, {"jkt": ""}, {"x5t#S256": ["a"]}],
    ids=repr,
)
def test_a_cnf_of_the_wrong_shape_is_malformed(cnf: object) -> None:
    """cnf must be a non-empty object whose jkt and x5t#S256 are non-empty strings."""
    with pytest.raises(MalformedToken):
        parse_confirmation({"cnf": cnf})


def test_an_unbound_token_has_no_binding(factory: TokenFactory) -> None:
    """No cnf: a Bearer token, with nothing more to prove."""
    assert parse_confirmation(parse_unverified(factory.access_token()).claims) is None
