"""Who is calling: the admin bearer token, introspection clients (HTTP Basic), and a limit on
failed attempts per client address and credential kind. Used by every transport.

Secrets are compared with ``hmac.compare_digest`` on bytes, and an unknown client
id is compared against a dummy secret, so the time taken does not tell a guesser
how close they came. A caller that presents a credential from an address over
its budget for that kind of credential gets 429 before the credential is even
looked at, so a correct guess cannot be told from a wrong one while the limit
holds; each kind (``admin`` bearer guesses, ``client`` Basic secrets, and later
push tokens) has its own budget, so guessing at one cannot lock out another.
Callers that present nothing are never counted: there is nothing to guess.

The budget is kept per process: with ``--workers N`` an address gets up to N
times the limit (each worker counts its own), and a Lambda container counts
its own invocations. Put a rate limit at the gateway for more.

Nothing here logs a presented credential.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote_plus

from revoker.app.logfields import fields
from revoker.core.clock import Clock
from revoker.core.errors import Forbidden, Throttled, Unauthenticated

__all__ = [
    "Access",
    "Caller",
    "CallerKind",
    "Credentials",
    "FailureLimiter",
    "parse_authorization",
]

log = logging.getLogger("revoker.access")

_DUMMY_SECRET = b"revoker-no-such-client-secret-000"
#: Authorization schemes a log line may name; anything else is logged as "other", since a
#: header sent without a scheme is the credential itself.
_KNOWN_SCHEMES = frozenset({"bearer", "basic", "dpop", "digest", "negotiate", "ntlm", "token"})


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
    scheme: str = ""  # "bearer", "basic", "other" or "empty" (safe to log)
    client_id: str | None = None
    bearer: str | None = None  # the presented bearer when it is not the admin token

    @property
    def presented_credentials(self) -> bool:
        return self.kind is not CallerKind.NONE

    @property
    def budget(self) -> str:
        """Which failure budget a wrong credential of this shape spends."""
        return "client" if self.scheme == "basic" else "admin"


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
        shown = "empty" if not scheme else scheme if scheme in _KNOWN_SCHEMES else "other"
        return _Parsed(shown)
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
    """At most ``max_failures`` failed credential checks per key per window.

    A key is a client address and a credential kind. Memory is bounded: at most
    ``max_clients`` keys are tracked (the least recently failing is forgotten
    first), each with at most ``max_failures`` times. A success does not reset the
    count: one valid credential must not buy unlimited guesses at another.
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
        # Requests are answered on a thread pool: reads and writes of the table are atomic.
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None if it may try now."""
        with self._lock:
            return self._retry_after(client)

    def _retry_after(self, client: str) -> int | None:
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
        with self._lock:
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


class Access:
    """The gates in front of /introspect, /revoke and /admin, for any transport.

    Each gate takes the ``Authorization`` header and the client address and returns
    the ``Caller``, or raises ``Unauthenticated`` (401 with its challenge),
    ``Forbidden`` (403) or ``Throttled`` (429 with ``Retry-After``).
    """

    def __init__(
        self,
        credentials: Credentials,
        limiter: FailureLimiter,
        *,
        realm: str = "revoker",
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.limiter = limiter
        self.realm = realm
        self._on_failure = on_failure

    def identify(self, header: str | None, client: str, endpoint: str) -> Caller:
        """The caller; ``Throttled`` when it presents a credential over its budget."""
        caller = self.credentials.identify(header)
        if caller.presented_credentials:
            wait = self.limiter.retry_after(_budget_key(caller.budget, client))
            if wait is not None:
                # A flood of these is what the limit is for: not one warning each.
                log.debug(
                    "credential attempts throttled", extra=fields(endpoint=endpoint, client=client)
                )
                raise Throttled(f"too many failed credentials; retry in {wait}s", retry_after=wait)
        return caller

    def fail(self, caller: Caller, client: str, endpoint: str, *, basic: bool) -> Unauthenticated:
        """Count a wrong credential against its budget; the 401 to raise."""
        self.limiter.record_failure(_budget_key(caller.budget, client))
        if self._on_failure is not None:
            self._on_failure(endpoint)
        log.warning(
            "wrong credentials",
            extra=fields(endpoint=endpoint, client=client, scheme=caller.scheme or "none"),
        )
        if caller.scheme == "bearer":
            return Unauthenticated(
                "the bearer token is not accepted here",
                error="invalid_token",
                challenge=self.challenge(basic=basic, error="invalid_token"),
            )
        return Unauthenticated(
            "client authentication failed",
            error="invalid_client",
            challenge=self.challenge(basic=basic),
        )

    def challenge(self, *, basic: bool, error: str | None = None) -> str:
        bearer = f'Bearer realm="{self.realm}"' + (f', error="{error}"' if error else "")
        # Starlette joins repeated names poorly; one header may list both (RFC 9110).
        return f'Basic realm="{self.realm}", {bearer}' if basic else bearer

    def introspect_gate(self, header: str | None, client: str) -> Caller:
        """/introspect: the admin bearer or a configured client (Basic)."""
        caller = self.identify(header, client, "introspect")
        if caller.kind in (CallerKind.ADMIN, CallerKind.CLIENT):
            return caller
        if caller.kind is CallerKind.NONE:
            raise Unauthenticated(
                "authenticate with the admin bearer token or client credentials (HTTP Basic)",
                error="invalid_client",
                challenge=self.challenge(basic=True),
            )
        raise self.fail(caller, client, "introspect", basic=True)

    def admin_gate(self, header: str | None, client: str) -> Caller:
        """/admin: the admin bearer only; without a configured admin token, never open."""
        if not self.credentials.admin_enabled:
            raise Forbidden(
                "the admin API is off: no admin token is configured", error="admin_disabled"
            )
        caller = self.identify(header, client, "admin")
        if caller.kind is CallerKind.ADMIN:
            return caller
        if caller.kind is CallerKind.NONE:
            raise Unauthenticated(
                "send Authorization: Bearer <admin token>",
                error="unauthorized",
                challenge=self.challenge(basic=False),
            )
        if caller.kind is CallerKind.CLIENT:  # a genuine client, just not an admin
            raise Forbidden("client credentials cannot use /admin", error="insufficient_scope")
        raise self.fail(caller, client, "admin", basic=False)

    def secret_gate(
        self, header: str | None, client: str, endpoint: str, *, secret: str, budget: str
    ) -> None:
        """A route of its own secret (an SSF push token, a revocation caller's token):
        ``Authorization: Bearer <secret>``, compared in constant time. A missing or wrong
        one raises ``Unauthenticated`` and spends ``budget``, a failure budget of its own;
        an address over that budget gets ``Throttled`` before the header is looked at."""
        key = _budget_key(budget, client)
        wait = self.limiter.retry_after(key)
        if wait is not None:
            log.debug(
                "credential attempts throttled", extra=fields(endpoint=endpoint, client=client)
            )
            raise Throttled(f"too many failed credentials; retry in {wait}s", retry_after=wait)
        parsed = parse_authorization(header)
        if (
            parsed is not None
            and parsed.scheme == "bearer"
            and parsed.bearer is not None
            and _same(parsed.bearer, secret.encode("utf-8"))
        ):
            return
        self.limiter.record_failure(key)
        if self._on_failure is not None:
            self._on_failure(endpoint)
        scheme = "none" if parsed is None else parsed.scheme
        log.warning("wrong credentials", extra=fields(endpoint=endpoint, client=client,
                                                      scheme=scheme))  # fmt: skip
        raise Unauthenticated(
            "send Authorization: Bearer <the token configured for this endpoint>",
            error="invalid_token" if scheme == "bearer" else "unauthorized",
            challenge=self.challenge(
                basic=False, error="invalid_token" if scheme == "bearer" else None
            ),
        )

    def record_failure(self, client: str, endpoint: str, *, budget: str) -> None:
        """Spend ``budget`` for a credential refused by a check of the caller's own (a bad
        signed JWT): the same limit as ``secret_gate``'s."""
        self.limiter.record_failure(_budget_key(budget, client))
        if self._on_failure is not None:
            self._on_failure(endpoint)

    def throttled(self, client: str, *, budget: str) -> None:
        """``Throttled`` when ``client`` is over ``budget``."""
        wait = self.limiter.retry_after(_budget_key(budget, client))
        if wait is not None:
            raise Throttled(f"too many failed credentials; retry in {wait}s", retry_after=wait)


def _budget_key(budget: str, client: str) -> str:
    return f"{budget}\0{client}"
