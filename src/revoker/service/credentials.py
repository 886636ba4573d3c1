"""Who is calling: the admin bearer token, introspection clients (HTTP Basic), and a limit on
failed attempts per client address.

Secrets are compared with ``hmac.compare_digest`` on bytes, and an unknown client
id is compared against a dummy secret, so the time taken does not tell a guesser
how close they came. Nothing here logs a presented credential.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote_plus

from revoker.core.clock import Clock

__all__ = ["Caller", "CallerKind", "Credentials", "FailureLimiter", "parse_authorization"]

_DUMMY_SECRET = b"revoker-no-such-client-secret-000"


class CallerKind(Enum):
    """What an ``Authorization`` header turned out to carry."""

    NONE = "none"  # no Authorization header at all
    ADMIN = "admin"  # Bearer <the admin token>
    CLIENT = "client"  # Basic with a configured introspection client
    BEARER = "bearer"  # Bearer <something that is not the admin token>
    INVALID = "invalid"  # a wrong Basic secret, a malformed header, another scheme


@dataclass(frozen=True, slots=True)
class Caller:
    """The outcome of checking one ``Authorization`` header."""

    kind: CallerKind
    scheme: str = ""  # "bearer", "basic" or whatever else was sent (lower case)
    client_id: str | None = None
    bearer: str | None = None  # the presented bearer when it is not the admin token

    @property
    def presented_credentials(self) -> bool:
        return self.kind is not CallerKind.NONE


@dataclass(frozen=True, slots=True)
class _Parsed:
    scheme: str
    bearer: str | None = None
    client_id: str | None = None
    secret: str | None = None


def parse_authorization(header: str | None) -> _Parsed | None:
    """Split ``Authorization``; None when absent. Basic follows RFC 6749 §2.3.1 (form-encoded)."""
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme == "bearer":
        return _Parsed("bearer", bearer=rest or None)
    if scheme != "basic":
        return _Parsed(scheme or "empty")
    try:
        decoded = base64.b64decode(rest, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return _Parsed("basic")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return _Parsed("basic")
    return _Parsed("basic", client_id=unquote_plus(client_id), secret=unquote_plus(secret))


def _same(presented: str, expected: bytes) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected)


class Credentials:
    """The admin token (None: the admin API is disabled) and the introspection clients."""

    def __init__(self, admin_token: str | None, clients: Iterable[tuple[str, str]] = ()) -> None:
        self._admin = admin_token.encode("utf-8") if admin_token is not None else None
        self._clients = {client_id: secret.encode("utf-8") for client_id, secret in clients}

    @property
    def admin_enabled(self) -> bool:
        return self._admin is not None

    def is_admin_token(self, presented: str) -> bool:
        return self._admin is not None and _same(presented, self._admin)

    def identify(self, header: str | None) -> Caller:
        """Check an ``Authorization`` header against the admin token and the clients."""
        parsed = parse_authorization(header)
        if parsed is None:
            return Caller(CallerKind.NONE)
        if parsed.scheme == "bearer":
            if parsed.bearer is None:
                return Caller(CallerKind.INVALID, "bearer")
            if self.is_admin_token(parsed.bearer):
                return Caller(CallerKind.ADMIN, "bearer")
            return Caller(CallerKind.BEARER, "bearer", bearer=parsed.bearer)
        if parsed.scheme == "basic" and parsed.client_id is not None:
            expected = self._clients.get(parsed.client_id)
            secret = parsed.secret or ""
            # Compare even for an unknown id, so both paths take the same time.
            matches = _same(secret, expected if expected is not None else _DUMMY_SECRET)
            if expected is not None and matches:
                return Caller(CallerKind.CLIENT, "basic", client_id=parsed.client_id)
        return Caller(CallerKind.INVALID, parsed.scheme)


class FailureLimiter:
    """At most ``max_failures`` failed credential checks per client address per window.

    Memory is bounded: at most ``max_clients`` addresses are tracked (the least
    recently failing is forgotten first), each with at most ``max_failures`` times.
    A success does not reset the count: one valid credential (an introspection
    client's) must not buy unlimited guesses at another (the admin token).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        max_clients: int = 10_000,
    ) -> None:
        self._clock = clock
        self._max_failures = max_failures
        self._window = window_seconds
        self._max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None if it may try now."""
        times = self._failures.get(client)
        if times is None:
            return None
        now = self._clock()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        if len(times) < self._max_failures:
            return None
        return max(1, math.ceil(times[0] + self._window - now))

    def record_failure(self, client: str) -> None:
        times = self._failures.get(client)
        if times is None:
            if len(self._failures) >= self._max_clients:
                self._failures.popitem(last=False)
            times = self._failures[client] = deque(maxlen=self._max_failures)
        else:
            self._failures.move_to_end(client)
        times.append(self._clock())

    def __len__(self) -> int:
        return len(self._failures)
