"""A Cognito user pool in miniature: sign-in, refresh, RevokeToken and GlobalSignOut.

It reproduces Cognito's revocation gap on purpose. RevokeToken and
GlobalSignOut stop the refresh token (and the issuer's own API accepting the
access token), but the access and ID tokens already issued are signed JWTs that
any verifier still accepts until they expire. That gap is what revoker closes.

Pure logic, no HTTP (``server.py`` puts it on the wire). Every method takes and
returns Cognito's JSON shapes, and fails with ``CognitoError``, whose ``code``
is Cognito's ``__type``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import ConfigurationError, RevokerError
from revoker.core.tokens import parse_unverified

from .keys import ALGORITHM, KeyRing
from .users import DevUser

__all__ = ["DEFAULT_CLIENT_ID", "CognitoError", "DevIssuer"]

DEFAULT_CLIENT_ID = "revokerdemo0client0id000000"
ACCESS_SCOPE = "aws.cognito.signin.user.admin"
# Bounds the memory of a long-running dev issuer; the oldest sign-ins go first.
MAX_SESSIONS = 100_000

_NOT_AUTHORIZED = "NotAuthorizedException"
_INVALID_PARAMETER = "InvalidParameterException"


class CognitoError(Exception):
    """A Cognito API error: HTTP 400 with ``{"__type": code, "message": message}``."""

    http_status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


@dataclass(slots=True)
class _Session:
    """One sign-in: its refresh token, and what every token refreshed from it shares."""

    username: str
    origin_jti: str
    event_id: str
    auth_time: int
    expires_at: float
    revoked: bool = False


def _refresh_token_id(token: str) -> str:
    # Sessions are looked up by a hash, so the issuer never holds a usable token at rest.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise CognitoError(_INVALID_PARAMETER, f"Missing required parameter {name}")
    return value


def _positive(name: str, value: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive whole number of seconds")
    return value


class DevIssuer:
    """Signs in users and mints Cognito-shaped tokens; thread-safe."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str = DEFAULT_CLIENT_ID,
        users: Iterable[DevUser],
        access_lifetime_seconds: int = 3600,
        id_lifetime_seconds: int = 3600,
        refresh_lifetime_seconds: int = 30 * 86_400,
        clock: Clock | None = None,
    ) -> None:
        if not issuer.startswith(("http://", "https://")):
            raise ConfigurationError(f"the issuer must be an http(s) URL, not {issuer!r}")
        if not client_id:
            raise ConfigurationError("the client id must not be empty")
        self.issuer = issuer
        self.client_id = client_id
        self.access_lifetime_seconds = _positive("access_lifetime_seconds", access_lifetime_seconds)
        self.id_lifetime_seconds = _positive("id_lifetime_seconds", id_lifetime_seconds)
        self.refresh_lifetime_seconds = _positive(
            "refresh_lifetime_seconds", refresh_lifetime_seconds
        )
        self.clock: Clock = clock or SystemClock()
        self.users: dict[str, DevUser] = {}
        for user in users:
            if user.username in self.users:
                raise ConfigurationError(f"user {user.username!r} is listed twice")
            self.users[user.username] = user
        self._keys = KeyRing()
        self._lock = threading.Lock()  # guards the two session maps
        self._sessions: dict[str, _Session] = {}  # by refresh-token hash, oldest first
        self._by_origin: dict[str, _Session] = {}

    # --- keys and discovery -----------------------------------------------------

    @property
    def current_kid(self) -> str:
        return self._keys.current_kid

    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks()

    def rotate_keys(self) -> str:
        """Sign with a new key from now on; the previous one stays published. Returns the kid."""
        return self._keys.rotate()

    def discovery(self) -> dict[str, Any]:
        """The OpenID configuration, limited to what this issuer really serves."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + "/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "email", "profile"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    # --- API actions -------------------------------------------------------------

    def initiate_auth(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``InitiateAuth`` with ``USER_PASSWORD_AUTH`` or ``REFRESH_TOKEN(_AUTH)``."""
        self._check_client(params)
        flow = _required(params, "AuthFlow")
        auth = params.get("AuthParameters") or {}
        if not isinstance(auth, Mapping):
            raise CognitoError(_INVALID_PARAMETER, "AuthParameters must be a map of strings")
        if flow == "USER_PASSWORD_AUTH":
            return self._password_auth(auth)
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return self._refresh_auth(auth)
        raise CognitoError(_INVALID_PARAMETER, f"{flow[:64]} flow not enabled for this client")

    def revoke_token(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``RevokeToken``: the refresh token stops working; tokens already issued do not."""
        token = _required(params, "Token")
        self._check_client(params)
        if token.count(".") == 2:
            raise CognitoError("UnsupportedTokenTypeException", "Only refresh tokens are revoked")
        with self._lock:
            session = self._sessions.get(_refresh_token_id(token))
            if session is not None:
                session.revoked = True
        # An unknown refresh token is not an error, as RFC 7009 has it.
        return {}

    def global_sign_out(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GlobalSignOut``: every refresh token of the access token's user stops working."""
        claims = self._verify_access_token(_required(params, "AccessToken"))
        username = claims["username"]
        with self._lock:
            origin = self._by_origin.get(claims["origin_jti"])
            if origin is not None and origin.revoked:
                raise CognitoError(_NOT_AUTHORIZED, "Access Token has been revoked")
            for session in self._sessions.values():
                if session.username == username:
                    session.revoked = True
        return {}

    # --- flows ---------------------------------------------------------------------

    def _check_client(self, params: Mapping[str, Any]) -> None:
        client_id = _required(params, "ClientId")
        if not hmac.compare_digest(client_id.encode(), self.client_id.encode()):
            raise CognitoError(
                "ResourceNotFoundException", f"User pool client {client_id[:128]} does not exist."
            )

    def _password_auth(self, auth: Mapping[str, Any]) -> dict[str, Any]:
        username = _required(auth, "USERNAME")
        password = _required(auth, "PASSWORD")
        user = self.users.get(username)
        if user is None:
            raise CognitoError("UserNotFoundException", "User does not exist.")
        if not hmac.compare_digest(password.encode(), user.password.encode()):
            raise CognitoError(_NOT_AUTHORIZED, "Incorrect username or password.")
        now = self.clock()
        refresh_token = secrets.token_urlsafe(96)
        session = _Session(
            username=username,
            origin_jti=str(uuid.uuid4()),
            event_id=str(uuid.uuid4()),
            auth_time=int(now),
            expires_at=now + self.refresh_lifetime_seconds,
        )
        with self._lock:
            self._forget_old_sessions(now)
            self._sessions[_refresh_token_id(refresh_token)] = session
            self._by_origin[session.origin_jti] = session
        result = self._authentication_result(user, session, now)
        result["AuthenticationResult"]["RefreshToken"] = refresh_token
        return result

    def _refresh_auth(self, auth: Mapping[str, Any]) -> dict[str, Any]:
        token = _required(auth, "REFRESH_TOKEN")
        now = self.clock()
        with self._lock:
            session = self._sessions.get(_refresh_token_id(token))
        if session is None:
            raise CognitoError(_NOT_AUTHORIZED, "Invalid Refresh Token")
        if session.revoked:
            raise CognitoError(_NOT_AUTHORIZED, "Refresh Token has been revoked")
        if now >= session.expires_at:
            raise CognitoError(_NOT_AUTHORIZED, "Refresh Token has expired")
        # Like Cognito: new jti, iat and exp; the same origin_jti, event_id and auth_time.
        return self._authentication_result(self.users[session.username], session, now)

    def _forget_old_sessions(self, now: float) -> None:
        for key in [key for key, s in self._sessions.items() if s.expires_at <= now]:
            self._forget(key)
        # Dicts keep insertion order, so the first entries are the oldest sign-ins.
        while len(self._sessions) >= MAX_SESSIONS:
            self._forget(next(iter(self._sessions)))

    def _forget(self, key: str) -> None:
        session = self._sessions.pop(key)
        self._by_origin.pop(session.origin_jti, None)

    def _verify_access_token(self, token: str) -> dict[str, Any]:
        invalid = CognitoError(_NOT_AUTHORIZED, "Invalid Access Token")
        try:
            parsed = parse_unverified(token)
        except RevokerError as exc:
            raise invalid from exc
        claims = parsed.claims
        if not self._keys.signed_here(parsed):
            raise invalid
        if (
            claims.get("iss") != self.issuer
            or claims.get("token_use") != "access"
            or claims.get("client_id") != self.client_id
            or claims.get("username") not in self.users
            or not isinstance(claims.get("origin_jti"), str)
            or not isinstance(claims.get("exp"), int)
        ):
            raise invalid
        if self.clock() >= claims["exp"]:
            raise CognitoError(_NOT_AUTHORIZED, "Access Token has expired")
        return claims

    # --- minting -------------------------------------------------------------------

    def _authentication_result(
        self, user: DevUser, session: _Session, now: float
    ) -> dict[str, Any]:
        iat = int(now)
        groups = {"cognito:groups": list(user.groups)} if user.groups else {}
        # Members in the order Cognito writes them.
        access = {
            "sub": user.sub,
            **groups,
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": session.origin_jti,
            "event_id": session.event_id,
            "token_use": "access",
            "scope": ACCESS_SCOPE,
            "auth_time": session.auth_time,
            "exp": iat + self.access_lifetime_seconds,
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "username": user.username,
        }
        id_claims = {
            "sub": user.sub,
            **groups,
            "email_verified": True,
            "iss": self.issuer,
            "cognito:username": user.username,
            "origin_jti": session.origin_jti,
            "aud": self.client_id,
            "event_id": session.event_id,
            "token_use": "id",
            "auth_time": session.auth_time,
            "exp": iat + self.id_lifetime_seconds,
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "email": user.email,
        }
        return {
            "AuthenticationResult": {
                "AccessToken": self._keys.sign(access),
                "ExpiresIn": self.access_lifetime_seconds,
                "IdToken": self._keys.sign(id_claims),
                "TokenType": "Bearer",
            },
            "ChallengeParameters": {},
        }
