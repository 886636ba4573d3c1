"""What every in-app integration shares, framework aside: one process's revoker, the
decision for a request's bearer token, and the RFC 6750 answers for a refusal.

``Guard(settings)`` builds its ``Revoker`` with ``Revoker.from_settings`` (the one
composition root) on first use in each process, starts it once (the replica
syncs and follows the store, the keys are warmed) and closes it at exit. A
pid change means the process was forked since (gunicorn's pre-fork workers,
``multiprocessing``): the child builds and starts its own, and leaves the
parent's alone, never closing connections that belong to another process.

The pid change is seen at once: a fork hook (``os.register_at_fork``) sends the
child's next check to ``start``, so the warm path itself never asks for the pid.

Every check runs the registry match, so a token revoked mid-session is denied
on its next request; an allowed token's ``Principal`` is built once and reused
(it depends on the claims alone).

The answers (``Refusal``), the same for every framework:

- no bearer token: 401, ``WWW-Authenticate: Bearer realm="…"`` (no error, RFC 6750 §3.1);
- a bad, expired or revoked one: 401, ``Bearer error="invalid_token",
  error_description="<reason>"``;
- a scope missing: 403, ``Bearer error="insufficient_scope", scope="<required>"``;
- a group missing: 403 ``forbidden`` (groups are the app's rule, not an OAuth scope);
- cannot decide (``registry_stale``, ``jwks_unavailable``): 503 with ``Retry-After``,
  as the service answers: an outage never looks like a bad token.

Bodies are ``{"error": code, "error_description": text}``; every answer is ``no-store``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from revoker.app.answers import Answer, answer_for, error_answer
from revoker.app.logfields import fields
from revoker.app.settings import Settings, redacted_url
from revoker.core.errors import JwksUnavailable, RegistryStale
from revoker.core.tokens import token_fingerprint
from revoker.integrations.principal import Principal

if TYPE_CHECKING:
    from revoker.app.compose import Revoker
    from revoker.app.operations import RevokeOutcome
    from revoker.core.authorizer import Decision

__all__ = [
    "MISSING_TOKEN",
    "Guard",
    "Refusal",
    "bearer_from_headers",
    "bearer_token",
]

log = logging.getLogger("revoker.integrations")

#: The reason of a request that carries no bearer token (as ``/auth``'s metrics name it).
MISSING_TOKEN = "missing_token"
_CACHE_SIZE = 10_000
_OUTAGES = {RegistryStale.reason: RegistryStale, JwksUnavailable.reason: JwksUnavailable}

P = TypeVar("P", bound=Principal)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without one (another scheme
    counts as none). ``Bearer`` with nothing after it gives ``""``, which is malformed."""
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


def bearer_from_headers(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """``bearer_token`` of an ASGI scope's raw header list."""
    for name, value in headers:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


def _quoted(text: str) -> str:
    # An auth-param's quoted-string (RFC 9110 §5.6.4): escape what would end it.
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _challenge(error: str, **params: str) -> dict[str, str]:
    """``WWW-Authenticate: Bearer error="…", name="value"…`` (RFC 6750 §3)."""
    values = "".join(f', {name}="{_quoted(value)}"' for name, value in params.items())
    return {"WWW-Authenticate": f'Bearer error="{error}"{values}'}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused: the reason code and the answer (status, JSON body, headers)."""

    reason: str
    answer: Answer

    @property
    def status(self) -> int:
        return self.answer.status

    @property
    def body(self) -> dict[str, Any]:
        return dict(self.answer.body or {})

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.answer.headers)


class Guard(Generic[P]):
    """One app's revoker in this process, and its decisions as principals or refusals."""

    def __init__(
        self,
        settings: Settings,
        *,
        build: Callable[[Settings], Revoker] | None = None,
        principal_type: type[P] = Principal,  # type: ignore[assignment]
    ) -> None:
        """``build`` makes the ``Revoker`` (default ``Revoker.from_settings``; tests pass
        one with a fake key source, a frozen clock or a memory store)."""
        self.settings = settings
        self.realm = settings.realm
        self._build = build
        self._principal_type = principal_type
        self._lock = threading.Lock()
        self._revoker: Revoker | None = None
        self._pid: int | None = None  # the process the revoker belongs to
        self._check: Callable[[str], Decision] = self._unstarted_check
        self._may_block: Callable[[str], bool] = self._unstarted_may_block
        # Revokers inherited from a parent process: kept so their connections are never
        # closed (nor garbage-collected) here, where they belong to the parent.
        self._inherited: list[Revoker] = []
        self._principals: dict[str, P] = {}
        self._missing = Refusal(
            MISSING_TOKEN,
            error_answer(
                401,
                MISSING_TOKEN,
                "send Authorization: Bearer <token>",
                {"WWW-Authenticate": f'Bearer realm="{_quoted(self.realm)}"'},
            ),
        )
        self._refusals: dict[str, Refusal] = {}
        self._scope_refusals: dict[tuple[str, ...], Refusal] = {}
        _LIVE.add(self)

    # -- life cycle ------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether this process's revoker is built and started."""
        return self._pid == os.getpid()

    def start(self) -> Revoker:
        """This process's revoker, built and started on first call (thread-safe)."""
        with self._lock:
            pid = os.getpid()
            revoker = self._revoker
            if revoker is not None and self._pid == pid:
                return revoker
            if revoker is not None:
                self._inherited.append(revoker)  # forked: the parent's, not ours to close
                log.info("forked: starting this process's own revoker", extra=fields(pid=pid))
            if self._build is not None:
                revoker = self._build(self.settings)
            else:
                from revoker.app.compose import Revoker  # noqa: PLC0415 - cryptography late

                revoker = Revoker.from_settings(self.settings)
            try:
                revoker.start()
                authorizer = revoker.require_authorizer()
            except BaseException:
                revoker.close()
                raise
            self._revoker = revoker
            self._check = authorizer.check
            self._may_block = authorizer.may_block
            self._pid = pid  # last: ``started`` is true once everything above is in place
            log.info(
                "revoker started",
                extra=fields(pid=pid, store=redacted_url(self.settings.store_url)),
            )
            return revoker

    @property
    def revoker(self) -> Revoker:
        """This process's revoker (started now if it is not yet)."""
        revoker = self._revoker
        if revoker is not None and self._pid == os.getpid():
            return revoker
        return self.start()

    def close(self) -> None:
        """Stop this process's replica and close its store; a later check starts it again."""
        with self._lock:
            revoker = self._revoker
            if revoker is None or self._pid != os.getpid():
                return  # nothing started here (a parent's revoker is the parent's to close)
            self._revoker = None
            self._pid = None
            self._check = self._unstarted_check
            self._may_block = self._unstarted_may_block
        revoker.close()
        log.info("revoker stopped", extra=fields(pid=os.getpid()))

    def _unstarted_check(self, token: str) -> Decision:
        self.start()
        return self._check(token)

    def _forked(self) -> None:
        # In a forked child: whatever was started belongs to the parent. The next check
        # starts this process's own (``start`` sees the pid change and keeps the parent's
        # revoker aside, unclosed); a lock held by another thread at the fork is replaced.
        self._lock = threading.Lock()
        self._check = self._unstarted_check
        self._may_block = self._unstarted_may_block

    def _unstarted_may_block(self, token: str) -> bool:
        return True  # starting syncs the replica and fetches keys

    # -- decisions ---------------------------------------------------------------------

    def check(self, token: str) -> Decision:
        """The decision on ``token``: verification (cached) and the rules, every time."""
        return self._check(token)  # the authorizer's, or the start of this process's first

    def may_block(self, token: str) -> bool:
        """Whether ``check(token)`` could wait on the network: a JWKS fetch, or the start."""
        return self._may_block(token)

    def check_now(self, token: str) -> Decision | None:
        """The decision when it needs no network (a cached token, a loaded key), else None:
        what an event loop may run in-line; the rest belongs in a worker thread."""
        if self._may_block(token):
            return None
        return self._check(token)

    def decide(self, token: str | None) -> P | Refusal:
        """The principal of a request carrying ``token`` (None: no bearer), or the refusal."""
        if token is None:
            return self._missing
        return self.outcome(token, self.check(token))

    def outcome(self, token: str, decision: Decision) -> P | Refusal:
        """The principal of an allowed decision (built once per token), or the refusal."""
        if decision.allowed:
            principal = self._principals.get(token)
            if principal is None:
                principal = self._principal(token, decision)
            return principal
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "token refused",
                extra=fields(reason=decision.reason, token=token_fingerprint(token)),
            )
        return self.refusal(decision.reason)

    def _principal(self, token: str, decision: Decision) -> P:
        principal = self._principal_type.from_decision(decision, token)
        cache = self._principals
        if len(cache) >= _CACHE_SIZE:
            cache.clear()  # tokens expire; a clean slate now and then bounds the memory simply
        cache[token] = principal
        return principal

    @property
    def missing(self) -> Refusal:
        """The refusal of a request without a bearer token, where one is required."""
        return self._missing

    def refusal(self, reason: str) -> Refusal:
        """The refusal for a denied decision's reason code."""
        refusal = self._refusals.get(reason)
        if refusal is None:
            outage = _OUTAGES.get(reason)
            if outage is not None:
                answer = answer_for(outage("cannot decide now"))
            else:
                challenge = _challenge("invalid_token", error_description=reason)
                answer = error_answer(401, "invalid_token", reason, challenge)
            refusal = self._refusals[reason] = Refusal(reason, answer)
        return refusal

    def authorize(
        self,
        principal: Principal | None,
        scopes: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Refusal | None:
        """None when ``principal`` has every scope and group, else the refusal (a missing
        principal is the 401 of a request without a token)."""
        if principal is None:
            return self._missing
        if scopes and principal.missing_scopes(tuple(scopes)):
            return self._insufficient_scope(tuple(scopes))
        if groups:
            missing = principal.missing_groups(tuple(groups))
            if missing:
                return Refusal(
                    "forbidden",
                    error_answer(
                        403, "forbidden", f"requires membership of the group {missing[0]!r}"
                    ),
                )
        return None

    def _insufficient_scope(self, scopes: tuple[str, ...]) -> Refusal:
        refusal = self._scope_refusals.get(scopes)
        if refusal is None:
            wanted = " ".join(scopes)
            challenge = _challenge("insufficient_scope", scope=wanted)
            answer = error_answer(
                403, "insufficient_scope", f"requires the scopes: {wanted}", challenge
            )
            refusal = Refusal("insufficient_scope", answer)
            if len(self._scope_refusals) < 1000:  # one per route's scope list, in practice
                self._scope_refusals[scopes] = refusal
        return refusal

    # -- logout ------------------------------------------------------------------------

    def revoke(
        self, token: str, *, reason: str = "logout", actor: str | None = None
    ) -> RevokeOutcome:
        """Revoke ``token`` as its holder (its family when it has ``origin_jti``, else itself)
        with ``Operations.revoke_by_possession``; blocking (the store write is durable)."""
        operations = self.revoker.operations
        return operations.revoke_by_possession(
            token,
            actor=actor if actor is not None else _self_actor,
            reason=reason,
        )


def _self_actor(verified: Any) -> str:
    return f"self:{verified.subject or 'unknown'}"


# Every guard alive, closed at interpreter exit (each closes only what its own process started).
_LIVE: weakref.WeakSet[Guard[Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for guard in list(_LIVE):
        guard._forked()


if hasattr(os, "register_at_fork"):  # POSIX: gunicorn's workers, multiprocessing, uWSGI
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_all() -> None:
    for guard in list(_LIVE):
        try:
            guard.close()
        except Exception:  # exiting: one failure must not keep the rest open
            log.warning("closing the revoker at exit failed", exc_info=True)
