"""What each signal source last did: for ``/readyz``, ``/metrics`` and the console.

A source is a transmitter's push deliveries, one poll stream, or Global Token
Revocation. Each keeps the time of its last event and of its last error (with the
error's one-line reason, never a token or a credential), how many events it took,
and, for a stream, the status the transmitter last reported and the last
verification. ``snapshot`` hands out plain copies, so a reader on another thread
never sees one half-updated. Times come from the receiver's clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

__all__ = ["SourceHealth", "SourceHealthBook"]

_UNSET = None


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One source's state, as last seen."""

    kind: str  # "ssf" or "gtr"
    name: str  # "push from https://tr.example", "poll stream 1f3e… of https://tr.example"
    delivery: str  # "push", "poll", "request"
    transmitter: str = ""
    stream_id: str = ""
    events: int = 0
    last_event_at: float | None = _UNSET
    last_error_at: float | None = _UNSET
    last_error: str = ""
    stream_status: str = ""  # a stream's status, from its stream-updated events
    verified_at: float | None = _UNSET
    last_poll_at: float | None = _UNSET

    @property
    def healthy(self) -> bool:
        """Not paused or disabled, and no error since the last good event or poll."""
        if self.stream_status in ("paused", "disabled"):
            return False
        if self.last_error_at is None:
            return True
        latest_good = max(self.last_event_at or 0.0, self.last_poll_at or 0.0)
        return latest_good > self.last_error_at

    def describe(self, now: float) -> str:
        """One line for a person: the last event and the last error, in seconds ago."""
        parts = []
        if self.last_event_at is not None:
            parts.append(f"last event {_ago(now, self.last_event_at)}, {self.events} in all")
        elif self.last_poll_at is not None:
            parts.append(f"polled {_ago(now, self.last_poll_at)}, no event yet")
        else:
            parts.append("no event yet")
        if self.stream_status and self.stream_status != "enabled":
            parts.append(f"stream {self.stream_status} by the transmitter")
        if self.last_error_at is not None:
            parts.append(f"last error {_ago(now, self.last_error_at)}: {self.last_error}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "delivery": self.delivery,
            "transmitter": self.transmitter or None,
            "stream_id": self.stream_id or None,
            "healthy": self.healthy,
            "events": self.events,
            "last_event_at": self.last_event_at,
            "last_error_at": self.last_error_at,
            "last_error": self.last_error or None,
            "stream_status": self.stream_status or None,
            "verified_at": self.verified_at,
            "last_poll_at": self.last_poll_at,
        }


def _ago(now: float, then: float) -> str:
    seconds = max(0.0, now - then)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


class SourceHealthBook:
    """Every source's health, keyed by (delivery, transmitter, stream id); thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[tuple[str, str, str], SourceHealth] = {}

    def declare(self, health: SourceHealth) -> None:
        """Make a source known before its first event (so it shows as configured)."""
        key = (health.delivery, health.transmitter, health.stream_id)
        with self._lock:
            self._sources.setdefault(key, health)

    def _update(
        self, key: tuple[str, str, str], changes: dict[str, object], *, count: bool = False
    ) -> None:
        with self._lock:
            current = self._sources.get(key)
            if current is None:
                delivery, transmitter, stream_id = key
                current = SourceHealth(
                    kind="gtr" if delivery == "request" else "ssf",
                    name=_name(delivery, transmitter, stream_id),
                    delivery=delivery,
                    transmitter=transmitter,
                    stream_id=stream_id,
                )
            if count:
                changes["events"] = current.events + 1
            self._sources[key] = replace(current, **changes)  # type: ignore[arg-type]

    def event(self, delivery: str, transmitter: str, stream_id: str, at: float) -> None:
        self._update((delivery, transmitter, stream_id), {"last_event_at": at}, count=True)

    def error(self, delivery: str, transmitter: str, stream_id: str, at: float, why: str) -> None:
        changes: dict[str, object] = {"last_error_at": at, "last_error": why[:200]}
        self._update((delivery, transmitter, stream_id), changes)

    def polled(self, transmitter: str, stream_id: str, at: float) -> None:
        self._update(("poll", transmitter, stream_id), {"last_poll_at": at})

    def stream(
        self, transmitter: str, stream_id: str, *, status: str | None = None,
        verified_at: float | None = None,
    ) -> None:  # fmt: skip
        """A stream's status or verification, under whichever delivery it was declared."""
        with self._lock:
            keys = [k for k in self._sources if k[1:] == (transmitter, stream_id)]
        for key in keys or [("push", transmitter, "")]:  # a push stream not recorded here
            changes: dict[str, object] = {}
            if status is not None:
                changes["stream_status"] = status
            if verified_at is not None:
                changes["verified_at"] = verified_at
            self._update(key, changes)

    def snapshot(self) -> list[SourceHealth]:
        with self._lock:
            return sorted(self._sources.values(), key=lambda h: (h.kind, h.name))


def _name(delivery: str, transmitter: str, stream_id: str) -> str:
    if delivery == "request":
        return "Global Token Revocation"
    if delivery == "poll":
        return f"poll stream {stream_id[:12]} of {transmitter}"
    if stream_id:
        return f"push stream {stream_id[:12]} of {transmitter}"
    return f"push from {transmitter}"
