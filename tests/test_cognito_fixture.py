"""Genuine Cognito tokens (an AWS sample, MIT-0) verified by revoker.

The pool us-east-1_iWcTPhZBA signed an access token and an ID token that both
expired at 1617955748, so every check runs on a clock pinned before that. The
ID token carries an e-mail address from public test data: no test prints,
compares or snapshots the claim sets whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    BadSignature,
    TokenExpired,
    WrongAudience,
    WrongIssuer,
    WrongTokenUse,
)
from revoker.core.jwks import JwksCache, JwksSource, cognito_issuer
from revoker.core.tokens import b64url_decode, b64url_encode, parse_unverified
from revoker.core.verify import VerificationPolicy, Verifier
from revoker.testing import StaticJwksFetcher
from shared_fixtures import need_fixtures

FIXTURE = Path("cognito-tokens") / "aws_sample_mit0.json"
REGION = "us-east-1"
POOL_ID = "us-east-1_iWcTPhZBA"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_iWcTPhZBA"
EXPIRES_AT = 1617955748
# After both iats (1617954848 and 1617954851), well before exp.
BEFORE_EXPIRY = 1617955000


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((need_fixtures() / FIXTURE).read_text())
    return document


def client_id_of(sample: dict[str, Any]) -> str:
    """The app client, as the tokens themselves name it (client_id and aud)."""
    client_id = parse_unverified(sample["access_token"]).claims["client_id"]
    assert parse_unverified(sample["id_token"]).claims["aud"] == client_id
    return str(client_id)


def verifier(
    sample: dict[str, Any],
    *,
    now: float = BEFORE_EXPIRY,
    audience: tuple[str, ...] | None = None,
    token_use: frozenset[str] = frozenset({"id", "access"}),
    issuer: str = ISSUER,
    fetcher: StaticJwksFetcher | None = None,
    leeway_seconds: float = 5,
) -> Verifier:
    clock = FrozenClock(now)
    policy = VerificationPolicy(
        issuers=(issuer,),
        audience=audience or (client_id_of(sample),),
        token_use=token_use,
        leeway_seconds=leeway_seconds,
    )
    cache = JwksCache(
        JwksSource.from_cognito(REGION, POOL_ID),
        fetcher=fetcher or StaticJwksFetcher(sample["jwks"]),
        clock=clock,
    )
    return Verifier(policy, {issuer: cache}, clock=clock)


@pytest.mark.parametrize("name", ["access_token", "id_token"])
def test_genuine_tokens_verify(sample: dict[str, Any], name: str) -> None:
    """Both tokens verify with the pool's JWKS, its issuer and the app client as audience."""
    verified = verifier(sample).verify(sample[name])
    assert verified.issuer == ISSUER
    assert verified.token_use == {"access_token": "access", "id_token": "id"}[name]
    assert verified.expires_at == EXPIRES_AT
    assert verified.subject == "1bc2a8fb-fc0a-440f-93ae-576e0879d180"
    assert verified.kid in {key["kid"] for key in sample["jwks"]["keys"]}


def test_each_token_uses_its_own_key_of_the_two(sample: dict[str, Any]) -> None:
    """The pool publishes two keys; the access and ID tokens were signed by different ones."""
    access_kid = parse_unverified(sample["access_token"]).header["kid"]
    id_kid = parse_unverified(sample["id_token"]).header["kid"]
    assert access_kid != id_kid
    assert {access_kid, id_kid} == {key["kid"] for key in sample["jwks"]["keys"]}


def test_jwks_url_follows_the_cognito_convention(sample: dict[str, Any]) -> None:
    """The keys are looked up at {issuer}/.well-known/jwks.json, nowhere else."""
    fetcher = StaticJwksFetcher(sample["jwks"])
    check = verifier(sample, fetcher=fetcher)
    check.verify(sample["access_token"])
    check.verify(sample["id_token"])
    assert set(fetcher.calls) == {ISSUER + "/.well-known/jwks.json"}
    assert cognito_issuer(REGION, POOL_ID) == ISSUER


@pytest.mark.parametrize("name", ["access_token", "id_token"])
def test_escaped_slashes_decode_to_the_issuer(sample: dict[str, Any], name: str) -> None:
    """Cognito writes https:\\/\\/…; the decoded iss is the plain issuer URL."""
    raw_payload = b64url_decode(sample[name].split(".")[1])
    escaped = ISSUER.replace("/", "\\/").encode()
    assert b'"iss":"' + escaped + b'"' in raw_payload
    assert ISSUER.encode() not in raw_payload
    assert parse_unverified(sample[name]).claims["iss"] == ISSUER


@pytest.mark.parametrize("name", ["access_token", "id_token"])
def test_real_cognito_headers_have_no_typ(sample: dict[str, Any], name: str) -> None:
    """Real Cognito headers carry kid and alg only: revoker must not require typ."""
    assert set(parse_unverified(sample[name]).header) == {"kid", "alg"}


@pytest.mark.parametrize("name", ["access_token", "id_token"])
@pytest.mark.parametrize(
    ("leeway", "now"),
    [(5, EXPIRES_AT + 5), (5, EXPIRES_AT + 86_400 * 365), (0, EXPIRES_AT)],
    ids=["at-exp-plus-leeway", "a-year-later", "at-exp-no-leeway"],
)
def test_after_exp_they_are_expired(
    sample: dict[str, Any], name: str, leeway: float, now: float
) -> None:
    """Past exp (plus leeway) the genuine tokens fail with expired, not bad_signature."""
    with pytest.raises(TokenExpired) as info:
        verifier(sample, now=now, leeway_seconds=leeway).verify(sample[name])
    assert info.value.reason == "expired"


@pytest.mark.parametrize("name", ["access_token", "id_token"])
def test_just_before_exp_plus_leeway_they_still_verify(sample: dict[str, Any], name: str) -> None:
    """The control for the expiry cases: one second earlier, the same clock setup passes."""
    assert verifier(sample, now=EXPIRES_AT + 4, leeway_seconds=5).verify(sample[name])


def _tamper_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims.update(changes)
    return f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("name", ["access_token", "id_token"])
@pytest.mark.parametrize(
    "changes",
    [{"sub": "someone-else"}, {"exp": EXPIRES_AT + 86_000}, {"cognito:groups": ["admins"]}],
    ids=["sub", "exp", "groups"],
)
def test_tampered_payload_is_a_bad_signature(
    sample: dict[str, Any], name: str, changes: dict[str, Any]
) -> None:
    """Changing any claim breaks the genuine signature."""
    with pytest.raises(BadSignature) as info:
        verifier(sample).verify(_tamper_payload(sample[name], **changes))
    assert info.value.reason == "bad_signature"


def test_same_claims_reencoded_are_a_bad_signature(sample: dict[str, Any]) -> None:
    """Re-serialising identical claims (unescaped slashes) changes the signed bytes."""
    tampered = _tamper_payload(sample["access_token"])
    assert tampered != sample["access_token"]
    with pytest.raises(BadSignature):
        verifier(sample).verify(tampered)


def test_swapped_kid_is_a_bad_signature(sample: dict[str, Any]) -> None:
    """Pointing the access token at the pool's other key fails the signature check."""
    _, payload, signature = sample["access_token"].split(".")
    id_kid = parse_unverified(sample["id_token"]).header["kid"]
    new_header = b64url_encode(json.dumps({"kid": id_kid, "alg": "RS256"}).encode())
    with pytest.raises(BadSignature):
        verifier(sample).verify(f"{new_header}.{payload}.{signature}")


@pytest.mark.parametrize("name", ["access_token", "id_token"])
def test_another_app_client_is_the_wrong_audience(sample: dict[str, Any], name: str) -> None:
    """A verifier for another app client refuses both tokens (client_id and aud alike)."""
    with pytest.raises(WrongAudience):
        verifier(sample, audience=("another-app-client",)).verify(sample[name])


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("access_token", frozenset({"id"})), ("id_token", frozenset({"access"}))],
    ids=["access-where-id-expected", "id-where-access-expected"],
)
def test_token_use_tells_them_apart(
    sample: dict[str, Any], name: str, accepted: frozenset[str]
) -> None:
    """An API that takes access tokens refuses the ID token, and the other way round."""
    with pytest.raises(WrongTokenUse):
        verifier(sample, token_use=accepted).verify(sample[name])


def test_another_pool_is_the_wrong_issuer(sample: dict[str, Any]) -> None:
    """A verifier trusting another pool refuses them before fetching any key."""
    fetcher = StaticJwksFetcher(sample["jwks"])
    other = cognito_issuer(REGION, "us-east-1_SomeOther1")
    with pytest.raises(WrongIssuer):
        verifier(sample, issuer=other, fetcher=fetcher).verify(sample["access_token"])
    assert fetcher.calls == []
