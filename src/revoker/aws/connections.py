"""WebSocket connection records: who each open connection speaks for, so a rule can close it.

API Gateway runs a WebSocket API's authorizer once, on ``$connect``; the connection
then lives up to two hours whatever happens to its token. So the ``$connect``
authorizer records each connection it allows (``Connection``: the token's issuer,
``sub``, ``sid``, ``origin_jti``, the value a token rule would name, ``iat``,
``exp``, client, ``email`` and ``kid``), the ``$disconnect`` route removes it, and every new
rule closes the recorded connections it matches (``revoker.aws.closer``).

A record keeps exactly what the replica's matching reads from a token
(``Connection.claims`` and ``Connection.header``), so a connection is matched
by a rule exactly as its token would be: same issuer scope, same inclusive
cut-offs on ``iat``. It expires ``websocket_max_connection_seconds`` (2 h, API
Gateway's longest connection) after it was made, not at the token's ``exp``: the
connection outlives its token, and a rule must still close it.

Stores (``open_connection_store``): ``memory://`` for tests and one process, and
``dynamodb://TABLE?region=…`` (``revoker.aws.connections_dynamodb``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from revoker.core.errors import ConfigurationError
from revoker.core.registry.rules import RuleKind, token_rule_value

if TYPE_CHECKING:
    from revoker.aws.authorizer_event import WebSocketConnect
    from revoker.core.registry.rules import Rule
    from revoker.core.verify import VerifiedToken

__all__ = [
    "LOOKUP_KINDS",
    "Connection",
    "ConnectionStore",
    "MemoryConnectionStore",
    "open_connection_store",
]

#: The rule kinds a store finds connections for by value; the others (email, client, key,
#: issuer: rare, or emergency revocations that match many connections anyway) read every
#: record.
LOOKUP_KINDS = (RuleKind.TOKEN, RuleKind.FAMILY, RuleKind.SESSION, RuleKind.SUBJECT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """One open WebSocket connection and the token it was opened with (never the token)."""

    connection_id: str
    endpoint: str  # the Management API of its stage: https://{api}.execute-api.{region}…/{stage}
    issuer: str
    sub: str | None
    iat: float
    exp: float
    jti: str  # what a token rule names for this token: its jti, or its signed part's SHA-256
    origin_jti: str | None = None
    sid: str | None = None
    client_id: str | None = None
    aud: tuple[str, ...] = ()
    kid: str | None = None
    email: str | None = None
    connected_at: float
    expires_at: float  # connected_at + the longest connection: the record's TTL

    @classmethod
    def opened(
        cls,
        token: VerifiedToken,
        connect: WebSocketConnect,
        *,
        now: float,
        max_connection_seconds: float,
    ) -> Connection:
        """The record of ``connect``, opened with the verified ``token`` at ``now``."""
        claims = token.claims
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else aud if isinstance(aud, list) else ()
        kid = token.header.get("kid")
        return cls(
            connection_id=connect.connection_id,
            endpoint=connect.endpoint,
            issuer=token.issuer,
            sub=_text(claims.get("sub")),
            iat=float(claims["iat"]),
            exp=float(claims["exp"]),
            jti=token_rule_value(claims, token.raw),
            origin_jti=_text(claims.get("origin_jti")),
            sid=_text(claims.get("sid")),
            client_id=_text(claims.get("client_id")),
            aud=tuple(item for item in audiences if isinstance(item, str) and item),
            kid=kid if isinstance(kid, str) else None,
            email=_text(claims.get("email")),
            connected_at=now,
            expires_at=now + max_connection_seconds,
        )

    @property
    def ttl(self) -> int:
        """The DynamoDB TTL attribute: whole seconds, rounded up."""
        return math.ceil(self.expires_at)

    def claims(self) -> dict[str, Any]:
        """The claims the replica's matching reads, as the token carried them."""
        claims: dict[str, Any] = {"iss": self.issuer, "iat": self.iat, "jti": self.jti}
        for name in ("sub", "origin_jti", "sid", "client_id", "email"):
            value = getattr(self, name)
            if value is not None:
                claims[name] = value
        if self.aud:
            claims["aud"] = list(self.aud)
        return claims

    def header(self) -> dict[str, Any]:
        return {} if self.kid is None else {"kid": self.kid}

    def lookups(self) -> dict[RuleKind, str]:
        """The values a store indexes this record by: one per kind in ``LOOKUP_KINDS``."""
        values = {
            RuleKind.TOKEN: self.jti,
            RuleKind.FAMILY: self.origin_jti,
            RuleKind.SESSION: self.sid,
            RuleKind.SUBJECT: self.sub,
        }
        return {kind: value for kind, value in values.items() if value}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class ConnectionStore(Protocol):
    """Where connection records live; every method may raise ``StoreError``."""

    def put(self, connection: Connection) -> None:
        """Record ``connection``, durably, findable by every one of its lookups."""

    def get(self, connection_id: str) -> Connection | None: ...

    def remove(self, connection_id: str) -> Connection | None:
        """Forget a connection (idempotent); the record it had, if any."""

    def candidates(self, rule: Rule) -> Iterator[Connection]:
        """Every record ``rule`` might match (a superset: the closer matches each one)."""

    def close(self) -> None: ...


class MemoryConnectionStore:
    """Connection records in a dictionary: for tests and a single process."""

    def __init__(self) -> None:
        self._records: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def put(self, connection: Connection) -> None:
        with self._lock:
            self._records[connection.connection_id] = connection

    def get(self, connection_id: str) -> Connection | None:
        return self._records.get(connection_id)

    def remove(self, connection_id: str) -> Connection | None:
        with self._lock:
            return self._records.pop(connection_id, None)

    def candidates(self, rule: Rule) -> Iterator[Connection]:
        with self._lock:
            records = list(self._records.values())
        return iter(records)

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        return None


def open_connection_store(url: str) -> ConnectionStore:
    """``memory://`` or ``dynamodb://TABLE?region=REGION&endpoint_url=URL``."""
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower() == "memory":
        return MemoryConnectionStore()
    if sep and scheme.lower() == "dynamodb":
        from revoker.aws.connections_dynamodb import (  # noqa: PLC0415 - boto3 only here
            open_dynamodb_connection_store,
        )

        return open_dynamodb_connection_store(url)
    shown = scheme[:32] if sep else "(none)"
    raise ConfigurationError(
        f"unsupported connections store URL scheme {shown!r}: use dynamodb://TABLE or memory://"
    )
