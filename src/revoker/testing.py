"""Fakes for tests, ours and our users': a token factory, a static JWKS, a frozen clock.

Nothing here touches the network. A ``TokenFactory`` mints Cognito-shaped
tokens (and back-channel logout tokens) with its own key, in any supported
algorithm (``EdDSA`` and ``Ed25519`` both sign with an Ed25519 key);
``StaticJwksFetcher`` hands its JWKS to a ``JwksCache`` and counts the fetches;
``DpopKey`` is a client's DPoP key that signs proofs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from revoker.core.clock import FrozenClock
from revoker.core.dpop import jwk_thumbprint
from revoker.core.errors import JwksUnavailable
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.signing import PrivateKey, generate_key, public_jwk, sign_compact
from revoker.core.tokens import b64url_encode
from revoker.core.verify import VerificationPolicy, Verifier

__all__ = [
    "TEST_AUDIENCE",
    "TEST_ISSUER",
    "DpopKey",
    "FrozenClock",
    "StaticJwksFetcher",
    "TokenFactory",
    "serve_json",
]

TEST_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"
TEST_AUDIENCE = "testclient0123456789abcdef"
TEST_JWKS_URL = TEST_ISSUER + "/.well-known/jwks.json"


class StaticJwksFetcher:
    """A ``JwksFetcher`` that serves a fixed document (or fails) and counts calls."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document
        self.calls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        if self.document is None:
            raise JwksUnavailable("the static fetcher was told to fail")
        return copy.deepcopy(self.document)


def serve_json(document: dict[str, Any]) -> ThreadingHTTPServer:
    """Serve ``document`` to every GET on 127.0.0.1 (an ephemeral port) from a daemon
    thread: a real JWKS endpoint for tests and benchmarks. Call ``shutdown()`` to stop."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet: tests read their own output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class TokenFactory:
    """Mints Cognito-shaped access and ID tokens signed by its own key."""

    def __init__(
        self,
        *,
        issuer: str = TEST_ISSUER,
        client_id: str = TEST_AUDIENCE,
        alg: str = "RS256",
        kid: str = "test-key-1",
        clock: FrozenClock | None = None,
        lifetime_seconds: int = 3600,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.alg = alg
        self.kid = kid
        self.clock = clock or FrozenClock(1_700_000_000)
        self.lifetime_seconds = lifetime_seconds
        self.key: PrivateKey = generate_key(alg)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key, kid=self.kid, alg=self.alg)]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        header: dict[str, Any] | None = None,
        key: PrivateKey | None = None,
    ) -> str:
        """Sign arbitrary claims; ``header`` replaces the default ``{kid, alg}``."""
        return sign_compact(
            header if header is not None else {"kid": self.kid, "alg": self.alg},
            claims,
            key or self.key,
        )

    def base_claims(self, token_use: str, /, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": overrides.pop("sub", "user-1"),
            "iss": self.issuer,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": token_use,
            "auth_time": now,
            "iat": now,
            "exp": now + self.lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }
        if token_use == "access":
            claims.update(
                client_id=self.client_id,
                scope="aws.cognito.signin.user.admin",
                username="alice",
            )
        else:
            claims.update(
                aud=self.client_id,
                email="alice@example.com",
                email_verified=True,
            )
            claims["cognito:username"] = "alice"
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def logout_token(self, *, typ: str | None = "logout+jwt", **overrides: Any) -> str:
        """An OIDC back-channel logout token (§2.4) for this client; ``claim=None`` drops one."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
            "sub": "user-1",
            "sid": "session-1",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        claims.update(overrides)
        header: dict[str, Any] = {"kid": self.kid, "alg": self.alg}
        if typ is not None:
            header["typ"] = typ
        return self.sign({k: v for k, v in claims.items() if v is not None}, header=header)

    def access_token(self, **overrides: Any) -> str:
        """An access token; pass ``claim=None`` to drop a claim."""
        return self.sign(self.base_claims("access", **overrides))

    def id_token(self, **overrides: Any) -> str:
        """An ID token; pass ``claim=None`` to drop a claim."""
        return self.sign(self.base_claims("id", **overrides))

    def verifier(
        self,
        *,
        audience: tuple[str, ...] | None = None,
        token_use: frozenset[str] | None = frozenset({"id", "access"}),
        **policy: Any,
    ) -> Verifier:
        """A verifier that trusts this factory's issuer and key, on its clock."""
        policy.setdefault("algorithms", frozenset({self.alg}))
        verification = VerificationPolicy(
            issuers=(self.issuer,),
            audience=audience if audience is not None else (self.client_id,),
            token_use=token_use,
            **policy,
        )
        cache = JwksCache(
            JwksSource.from_url(self.issuer + "/.well-known/jwks.json"),
            fetcher=StaticJwksFetcher(self.jwks()),
            clock=self.clock,
        )
        return Verifier(verification, {self.issuer: cache}, clock=self.clock)


class DpopKey:
    """A client's DPoP key (RFC 9449): its public JWK, its thumbprint, and proofs it signs."""

    def __init__(self, alg: str = "ES256", *, clock: FrozenClock | None = None) -> None:
        self.alg = alg
        self.clock = clock or FrozenClock(1_700_000_000)
        self.key: PrivateKey = generate_key(alg)
        jwk = public_jwk(self.key, kid="dpop", alg=alg)
        self.jwk = {k: v for k, v in jwk.items() if k not in ("kid", "alg", "use")}

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint an access token bound to this key carries as ``cnf.jkt``."""
        return jwk_thumbprint(self.jwk)

    def proof(
        self,
        method: str,
        uri: str,
        *,
        access_token: str | None,
        header: dict[str, Any] | None = None,
        key: PrivateKey | None = None,
        **overrides: Any,
    ) -> str:
        """A proof for one request; ``claim=None`` drops a claim, ``header`` replaces the
        default ``{typ: dpop+jwt, alg, jwk}``."""
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": uri,
            "iat": int(self.clock()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = b64url_encode(digest)
        claims.update(overrides)
        default = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        return sign_compact(
            header if header is not None else default,
            {k: v for k, v in claims.items() if v is not None},
            key or self.key,
        )
