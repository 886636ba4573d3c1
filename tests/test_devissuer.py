"""The dev issuer: Cognito's token shapes and API, and the revocation gap it reproduces."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devissuer_support import (
    ACCESS_CLAIMS,
    ALICE,
    BOB,
    COGNITO_KID,
    ID_CLAIMS,
    ISSUER,
    NOW,
    claims_of,
    login,
    refresh,
    verifier_for,
)
from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError
from revoker.core.jwks import parse_jwks
from revoker.core.signing import generate_key, sign_compact
from revoker.core.tokens import b64url_decode, parse_unverified
from revoker.core.verify import VerifiedToken
from revoker.devissuer import (
    CognitoError,
    DevIssuer,
    DevUser,
    cognito_kid,
    load_users,
    parse_user_flag,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def issuer(clock: FrozenClock) -> DevIssuer:
    return DevIssuer(issuer=ISSUER, users=[ALICE, BOB], clock=clock)


# --- sign-in and token shapes --------------------------------------------------


def test_password_sign_in_returns_cognitos_authentication_result(issuer: DevIssuer) -> None:
    """USER_PASSWORD_AUTH answers with Cognito's shape: three tokens, ExpiresIn, Bearer."""
    params = {"USERNAME": "alice", "PASSWORD": "alice-password"}
    response = issuer.initiate_auth(
        {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": issuer.client_id, "AuthParameters": params}
    )
    assert response["ChallengeParameters"] == {}
    result = response["AuthenticationResult"]
    assert set(result) == {"AccessToken", "IdToken", "RefreshToken", "ExpiresIn", "TokenType"}
    assert result["ExpiresIn"] == 3600
    assert result["TokenType"] == "Bearer"
    assert result["RefreshToken"].count(".") == 0  # opaque, not a JWT


@pytest.mark.parametrize(
    ("user", "groups"), [(ALICE, ["admin", "staff"]), (BOB, None)], ids=["groups", "no-groups"]
)
def test_access_token_has_exactly_cognitos_claims(
    issuer: DevIssuer, user: DevUser, groups: list[str] | None
) -> None:
    """Access-token claims are Cognito's list; cognito:groups only when the user has groups."""
    claims = claims_of(login(issuer, user)["AccessToken"])
    expected = ACCESS_CLAIMS | ({"cognito:groups"} if groups else set())
    assert set(claims) == expected
    assert claims.get("cognito:groups") == groups
    assert claims["sub"] == user.sub
    assert claims["iss"] == ISSUER
    assert claims["client_id"] == issuer.client_id
    assert claims["token_use"] == "access"
    assert claims["scope"] == "aws.cognito.signin.user.admin"
    assert claims["username"] == user.username
    assert claims["auth_time"] == claims["iat"] == NOW
    assert claims["exp"] == NOW + 3600


@pytest.mark.parametrize(
    ("user", "groups"), [(ALICE, ["admin", "staff"]), (BOB, None)], ids=["groups", "no-groups"]
)
def test_id_token_has_exactly_cognitos_claims(
    issuer: DevIssuer, user: DevUser, groups: list[str] | None
) -> None:
    """ID-token claims are Cognito's list, with aud = client id and the user's e-mail."""
    claims = claims_of(login(issuer, user)["IdToken"])
    assert set(claims) == ID_CLAIMS | ({"cognito:groups"} if groups else set())
    assert claims.get("cognito:groups") == groups
    assert claims["aud"] == issuer.client_id
    assert claims["cognito:username"] == user.username
    assert claims["email"] == user.email
    assert claims["email_verified"] is True
    assert claims["token_use"] == "id"


def test_access_and_id_tokens_of_one_sign_in_share_origin_jti_and_event_id(
    issuer: DevIssuer,
) -> None:
    """Both tokens of a sign-in carry its origin_jti and event_id, and distinct jtis."""
    result = login(issuer)
    access, id_token = claims_of(result["AccessToken"]), claims_of(result["IdToken"])
    assert access["origin_jti"] == id_token["origin_jti"]
    assert access["event_id"] == id_token["event_id"]
    assert access["jti"] != id_token["jti"]
    assert claims_of(login(issuer)["AccessToken"])["origin_jti"] != access["origin_jti"]


def test_header_is_kid_and_alg_only_with_a_cognito_shaped_kid(issuer: DevIssuer) -> None:
    """The header is {kid, alg: RS256} with no typ, and kid is base64(sha256(public DER))."""
    header = parse_unverified(login(issuer)["AccessToken"]).header
    assert set(header) == {"kid", "alg"}
    assert header["alg"] == "RS256"
    assert COGNITO_KID.fullmatch(header["kid"])
    assert len(base64.b64decode(header["kid"])) == 32
    published = parse_jwks(issuer.jwks())[header["kid"]].key
    assert isinstance(published, rsa.RSAPublicKey)
    assert cognito_kid(published) == header["kid"]


def test_jwks_entries_look_like_cognitos(issuer: DevIssuer) -> None:
    """Each JWKS entry has exactly alg, e, kid, kty, n, use, in that order, and no private part."""
    (entry,) = issuer.jwks()["keys"]
    assert list(entry) == ["alg", "e", "kid", "kty", "n", "use"]
    assert (entry["alg"], entry["kty"], entry["use"], entry["e"]) == ("RS256", "RSA", "sig", "AQAB")
    assert len(b64url_decode(entry["n"])) == 256


@pytest.mark.parametrize(
    ("access", "id_lifetime"), [(300, 600), (86_400, 3600)], ids=["short", "one-day"]
)
def test_lifetimes_are_configurable(clock: FrozenClock, access: int, id_lifetime: int) -> None:
    """exp - iat follows the configured access and ID token lifetimes; ExpiresIn the access one."""
    issuer = DevIssuer(
        issuer=ISSUER,
        users=[ALICE],
        access_lifetime_seconds=access,
        id_lifetime_seconds=id_lifetime,
        clock=clock,
    )
    result = login(issuer)
    access_claims, id_claims = claims_of(result["AccessToken"]), claims_of(result["IdToken"])
    assert access_claims["exp"] - access_claims["iat"] == access
    assert id_claims["exp"] - id_claims["iat"] == id_lifetime
    assert result["ExpiresIn"] == access


def test_discovery_names_the_issuer_and_its_jwks(issuer: DevIssuer) -> None:
    """The OpenID configuration names this issuer and its JWKS URL, and RS256."""
    document = issuer.discovery()
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


# --- refresh, errors ----------------------------------------------------------------


@pytest.mark.parametrize("flow", ["REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"], ids=["auth", "short"])
def test_refresh_keeps_the_sign_in_and_renews_the_token(
    issuer: DevIssuer, clock: FrozenClock, flow: str
) -> None:
    """A refresh keeps origin_jti, event_id, auth_time; gives a new jti and iat; no new refresh."""
    first = login(issuer)
    clock.advance(600)
    response = issuer.initiate_auth(
        {
            "AuthFlow": flow,
            "ClientId": issuer.client_id,
            "AuthParameters": {"REFRESH_TOKEN": first["RefreshToken"]},
        }
    )
    renewed = response["AuthenticationResult"]
    assert "RefreshToken" not in renewed
    for kind in ("AccessToken", "IdToken"):
        old, new = claims_of(first[kind]), claims_of(renewed[kind])
        assert new["origin_jti"] == old["origin_jti"]
        assert new["event_id"] == old["event_id"]
        assert new["auth_time"] == old["auth_time"] == NOW
        assert new["jti"] != old["jti"]
        assert new["iat"] == NOW + 600


def test_refresh_token_expires_after_its_lifetime(clock: FrozenClock) -> None:
    """A refresh token past refresh_lifetime_seconds is refused as expired."""
    issuer = DevIssuer(issuer=ISSUER, users=[ALICE], refresh_lifetime_seconds=3600, clock=clock)
    token = login(issuer)["RefreshToken"]
    clock.advance(3599)
    refresh(issuer, token)
    clock.advance(1)
    with pytest.raises(CognitoError, match="expired") as caught:
        refresh(issuer, token)
    assert caught.value.code == "NotAuthorizedException"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": "alice", "PASSWORD": "x"}},  # noqa: E501
            "NotAuthorizedException",
        ),
        (
            {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": "eve", "PASSWORD": "x"}},  # noqa: E501
            "UserNotFoundException",
        ),
        ({"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": "alice"}}, "InvalidParameterException"),  # noqa: E501
        ({"AuthFlow": "USER_SRP_AUTH", "AuthParameters": {"USERNAME": "alice"}}, "InvalidParameterException"),  # noqa: E501
        ({"AuthParameters": {"USERNAME": "alice"}}, "InvalidParameterException"),
        ({"AuthFlow": "REFRESH_TOKEN_AUTH", "AuthParameters": {"REFRESH_TOKEN": "nope"}}, "NotAuthorizedException"),  # noqa: E501
        ({"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": ["USERNAME"]}, "InvalidParameterException"),  # noqa: E501
    ],
    ids=[
        "wrong-password", "unknown-user", "missing-password", "unsupported-flow",
        "missing-flow", "unknown-refresh-token", "parameters-not-a-map",
    ],
)  # fmt: skip
def test_initiate_auth_errors_use_cognitos_codes(
    issuer: DevIssuer, params: dict[str, Any], code: str
) -> None:
    """Each bad sign-in fails with the exception type Cognito would name."""
    with pytest.raises(CognitoError) as caught:
        issuer.initiate_auth({"ClientId": issuer.client_id, **params})
    assert caught.value.code == code
    assert caught.value.to_json() == {"__type": code, "message": caught.value.message}


@pytest.mark.parametrize(
    "action", ["initiate_auth", "revoke_token"], ids=["initiate-auth", "revoke-token"]
)
def test_an_unknown_client_is_resource_not_found(issuer: DevIssuer, action: str) -> None:
    """A ClientId other than the pool's app client is ResourceNotFoundException."""
    params = {
        "ClientId": "someoneelse",
        "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "alice", "PASSWORD": "alice-password"},
        "Token": "opaque",
    }
    with pytest.raises(CognitoError) as caught:
        getattr(issuer, action)(params)
    assert caught.value.code == "ResourceNotFoundException"


# --- revocation: the seed's gap ---------------------------------------------------


def test_revoke_token_stops_refresh_but_issued_jwts_still_verify(
    issuer: DevIssuer, clock: FrozenClock
) -> None:
    """After RevokeToken the refresh fails, yet the access and ID tokens still verify (the bug)."""
    result = login(issuer)
    assert (
        issuer.revoke_token({"Token": result["RefreshToken"], "ClientId": issuer.client_id}) == {}
    )
    with pytest.raises(CognitoError, match="revoked") as caught:
        refresh(issuer, result["RefreshToken"])
    assert caught.value.code == "NotAuthorizedException"
    clock.advance(60)
    verifier = verifier_for(issuer, clock)
    for kind in ("AccessToken", "IdToken"):
        assert isinstance(verifier.verify(result[kind]), VerifiedToken)


def test_revoke_token_touches_only_its_own_sign_in(issuer: DevIssuer) -> None:
    """Revoking one refresh token leaves the user's other sign-ins working."""
    first, second = login(issuer), login(issuer)
    issuer.revoke_token({"Token": first["RefreshToken"], "ClientId": issuer.client_id})
    assert "AccessToken" in refresh(issuer, second["RefreshToken"])


@pytest.mark.parametrize(
    ("token", "outcome"),
    [("an-unknown-opaque-token", None), ("a.jwt.token", "UnsupportedTokenTypeException")],
    ids=["unknown-refresh-token", "jwt"],
)
def test_revoke_token_of_an_unknown_or_jwt_token(
    issuer: DevIssuer, token: str, outcome: str | None
) -> None:
    """An unknown refresh token revokes nothing and succeeds (RFC 7009); a JWT is refused."""
    params = {"Token": token, "ClientId": issuer.client_id}
    if outcome is None:
        assert issuer.revoke_token(params) == {}
        return
    with pytest.raises(CognitoError) as caught:
        issuer.revoke_token(params)
    assert caught.value.code == outcome


def test_global_sign_out_revokes_every_refresh_token_of_the_user_only(
    issuer: DevIssuer, clock: FrozenClock
) -> None:
    """GlobalSignOut kills all of the user's refresh tokens, not bob's; issued JWTs still verify."""
    first, second, bobs = login(issuer), login(issuer), login(issuer, BOB)
    assert issuer.global_sign_out({"AccessToken": first["AccessToken"]}) == {}
    for result in (first, second):
        with pytest.raises(CognitoError, match="revoked"):
            refresh(issuer, result["RefreshToken"])
    assert "AccessToken" in refresh(issuer, bobs["RefreshToken"])
    clock.advance(60)
    verifier = verifier_for(issuer, clock)
    for result in (first, second):
        assert verifier.verify(result["AccessToken"]).claims["username"] == "alice"
        assert verifier.verify(result["IdToken"]).claims["cognito:username"] == "alice"


def test_a_signed_out_access_token_is_refused_by_the_issuers_own_api(issuer: DevIssuer) -> None:
    """Like Cognito, the issuer itself no longer accepts a signed-out access token."""
    token = login(issuer)["AccessToken"]
    issuer.global_sign_out({"AccessToken": token})
    with pytest.raises(CognitoError, match="Access Token has been revoked"):
        issuer.global_sign_out({"AccessToken": token})


def _forged_access_token(issuer: DevIssuer) -> str:
    genuine = parse_unverified(login(issuer)["AccessToken"])
    return sign_compact(dict(genuine.header), genuine.claims, generate_key("RS256"))


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda issuer: login(issuer)["IdToken"], "Invalid Access Token"),
        (_forged_access_token, "Invalid Access Token"),
        (lambda issuer: "not-a-token", "Invalid Access Token"),
    ],
    ids=["id-token", "forged-signature", "garbage"],
)
def test_global_sign_out_verifies_the_access_token(
    issuer: DevIssuer, make_token: Any, message: str
) -> None:
    """GlobalSignOut checks the access token's signature and claims before signing anyone out."""
    with pytest.raises(CognitoError, match=message) as caught:
        issuer.global_sign_out({"AccessToken": make_token(issuer)})
    assert caught.value.code == "NotAuthorizedException"


def test_global_sign_out_refuses_an_expired_access_token(
    issuer: DevIssuer, clock: FrozenClock
) -> None:
    """An expired access token cannot sign the user out."""
    result = login(issuer)
    clock.advance(3600)
    with pytest.raises(CognitoError, match="expired"):
        issuer.global_sign_out({"AccessToken": result["AccessToken"]})
    assert "AccessToken" in refresh(issuer, result["RefreshToken"])


# --- key rotation ---------------------------------------------------------------------


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(
    issuer: DevIssuer,
) -> None:
    """After a rotation new tokens carry the new kid; the JWKS holds the new and previous keys."""
    first_kid = parse_unverified(login(issuer)["AccessToken"]).header["kid"]
    second_kid = issuer.rotate_keys()
    assert second_kid != first_kid
    assert COGNITO_KID.fullmatch(second_kid)
    assert parse_unverified(login(issuer)["IdToken"]).header["kid"] == second_kid
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [second_kid, first_kid]
    third_kid = issuer.rotate_keys()
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [third_kid, second_kid]


# --- configuration and users -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"users": [ALICE, ALICE]},
        {"users": [ALICE], "access_lifetime_seconds": 0},
        {"users": [ALICE], "refresh_lifetime_seconds": -1},
        {"users": [ALICE], "issuer": "ftp://example.test/pool"},
        {"users": [ALICE], "client_id": ""},
    ],
    ids=["duplicate-user", "zero-lifetime", "negative-lifetime", "not-http", "empty-client"],
)
def test_a_misconfigured_issuer_is_a_configuration_error(kwargs: dict[str, Any]) -> None:
    """Bad issuer settings raise ConfigurationError with a message, not a traceback later."""
    with pytest.raises(ConfigurationError):
        DevIssuer(**{"issuer": ISSUER, **kwargs})


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("carol:pw", ("carol", "pw", "carol@example.com", ())),
        ("carol:pw:c@example.org", ("carol", "pw", "c@example.org", ())),
        ("carol:pw:c@example.org:admin,ops", ("carol", "pw", "c@example.org", ("admin", "ops"))),
        ("carol:pw::admin", ("carol", "pw", "carol@example.com", ("admin",))),
    ],
    ids=["name-password", "email", "groups", "groups-default-email"],
)
def test_parse_user_flag(flag: str, expected: tuple[Any, ...]) -> None:
    """NAME:PASSWORD[:EMAIL[:GROUPS]] becomes a DevUser with a fresh uuid sub."""
    user = parse_user_flag(flag)
    assert (user.username, user.password, user.email, user.groups) == expected
    assert re.fullmatch(r"[0-9a-f-]{36}", user.sub)


@pytest.mark.parametrize(
    "flag",
    ["carol", "carol:", ":pw", "carol:pw:not-an-email", "a:b:c@d:e:f", "ca rol:pw"],
    ids=["no-password", "empty-password", "no-name", "bad-email", "too-many-parts", "space"],
)
def test_parse_user_flag_rejects_bad_input(flag: str) -> None:
    """A malformed --user value is a ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError):
        parse_user_flag(flag)


def test_a_users_password_is_not_in_its_repr() -> None:
    """repr(DevUser) leaves the password out, so it never lands in a log."""
    assert "alice-password" not in repr(ALICE)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "users.json",
            '[{"username": "carol", "password": "pw", "email": "c@example.org",'
            ' "groups": ["ops"]}, {"username": "dave", "password": "pw2"}]',
        ),
        (
            "users.toml",
            '[[users]]\nusername = "carol"\npassword = "pw"\nemail = "c@example.org"\n'
            'groups = ["ops"]\n\n[[users]]\nusername = "dave"\npassword = "pw2"\n',
        ),
    ],
    ids=["json", "toml"],
)
def test_load_users_reads_json_and_toml(tmp_path: Path, name: str, text: str) -> None:
    """A users file in JSON or TOML gives the listed users, with defaults filled in."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    carol, dave = load_users(path)
    assert (carol.username, carol.email, carol.groups) == ("carol", "c@example.org", ("ops",))
    assert (dave.username, dave.password, dave.email) == ("dave", "pw2", "dave@example.com")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("users.json", "{not json"),
        ("users.json", "[]"),
        ("users.json", '[{"username": "carol"}]'),
        ("users.json", '[{"username": "carol", "password": "pw", "role": "x"}]'),
        ("users.json", '[{"username": "c", "password": "p"}, {"username": "c", "password": "q"}]'),
        ("users.json", '[{"username": "carol", "password": "pw", "groups": "ops"}]'),
        ("users.toml", "users = 3"),
        ("missing.json", None),
    ],
    ids=[
        "not-json", "empty", "no-password", "unknown-field", "duplicate",
        "groups-not-a-list", "toml-not-a-list", "missing-file",
    ],
)  # fmt: skip
def test_load_users_rejects_bad_files(tmp_path: Path, name: str, text: str | None) -> None:
    """A bad users file is a ConfigurationError naming the file."""
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=name):
        load_users(path)
