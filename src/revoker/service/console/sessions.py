"""Console sessions: kept on the server, so signing out (or a restart) ends them for good.

A sign-in gets a fresh random session id (256 bits) for its cookie; the store keeps
only the id's SHA-256, with the role, the CSRF token of that session and the moment
it expires. A cookie is worth nothing once its session has ended: ``end`` forgets
it, expiry forgets it, and so does a restart. Sign-ins never reuse an id, so a
cookie planted before a sign-in (session fixation) is not what the user ends up with.

The store is bounded (``max_sessions``; the oldest session goes first) and lives in
the worker's memory: a console served by several worker processes would see a
session in one worker only, so the console refuses to run with ``--workers`` > 1.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

from revoker.core.clock import Clock

__all__ = ["Role", "Session", "SessionStore", "same_secret"]


class Role(StrEnum):
    """What a signed-in person may do: an admin changes rules, a viewer only looks."""

    ADMIN = "admin"
    VIEWER = "viewer"

    @property
    def actor(self) -> str:
        """The actor the audit records for this role's changes."""
        return f"console:{self.value}"


@dataclass(slots=True)
class Session:
    """One signed-in browser."""

    role: Role
    created_at: float
    expires_at: float
    #: Sent back in every form of this session, and compared with what a POST carries.
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: One message for the next page (after a change, the page it redirects to says so).
    flash: str | None = None

    @property
    def can_change(self) -> bool:
        return self.role is Role.ADMIN

    def csrf_matches(self, presented: str | None) -> bool:
        """Whether a form carried this session's CSRF token (compared in constant time)."""
        return same_secret(presented, self.csrf_token)

    def take_flash(self) -> str | None:
        message, self.flash = self.flash, None
        return message


def same_secret(presented: str | None, expected: str | None) -> bool:
    """Two secrets compared in constant time; a missing or empty one never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """The sessions of one worker; thread-safe (handlers run on the loop and in threads)."""

    def __init__(self, *, clock: Clock, lifetime_seconds: float, max_sessions: int = 1000) -> None:
        self._clock = clock
        self.lifetime_seconds = lifetime_seconds
        self._max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, role: Role) -> tuple[str, Session]:
        """A new session: the id for the cookie (never stored) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(role=role, created_at=now, expires_at=now + self.lifetime_seconds)
        with self._lock:
            self._drop_expired(now)
            while len(self._sessions) >= self._max_sessions:
                self._sessions.popitem(last=False)
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session this cookie names, or None (unknown, ended or expired)."""
        if not session_id:
            return None
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if self._clock() >= session.expires_at:
                del self._sessions[key]
                return None
            return session

    def end(self, session_id: str | None) -> bool:
        """Forget a session (sign-out); whether there was one."""
        if not session_id:
            return False
        with self._lock:
            return self._sessions.pop(_key(session_id), None) is not None

    def _drop_expired(self, now: float) -> None:
        # Sessions are kept in creation order and share one lifetime: expired ones lead.
        while self._sessions:
            key, oldest = next(iter(self._sessions.items()))
            if now < oldest.expires_at:
                break
            del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)
