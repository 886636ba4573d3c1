"""The streams revoker has with transmitters, kept in a local JSON file (``--ssf-streams``).

``revoker ssf register`` writes a stream here once the transmitter created it;
``revoker serve`` reads it at start to know which streams to poll (RFC 8936 needs the
transmitter's ``endpoint_url``); ``revoker ssf verify`` records the ``state`` it
asked the transmitter to echo, and the process that receives the verification event
(by push or by poll) records that it came back. A stream is configuration, like
``revoker.toml``: written rarely, by an operator's command, read at start. A file
keeps it next to that configuration, readable without the store (and without
widening the store protocol every backend implements). What it holds is no secret
(no token: the push and transmitter tokens stay settings), but it decides what is
polled, so it is written with mode 0600 and refused when others may write it.

Writes are atomic (a temporary file renamed over the old one) under an exclusive
``flock`` on a lock file beside it, so the CLI and a service on one host never lose
each other's changes. Instances on several hosts each read their own copy: run
``revoker ssf verify`` where the receiving instance reads the file (a shared
volume), or expect ``invalid_state`` to be unverifiable elsewhere (see the receiver).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from revoker.core.errors import ConfigurationError

__all__ = ["POLL", "PUSH", "StreamBook", "StreamRecord", "Verification"]

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Verification:
    """The last verification asked for: its ``state``, when asked, and when it came back."""

    state: str
    requested_at: float
    verified_at: float | None = None


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One stream, as the transmitter created it."""

    transmitter: str
    stream_id: str
    method: Literal["push", "poll"]
    endpoint_url: str  # push: ours (where the transmitter posts); poll: the transmitter's
    created_at: float
    events_delivered: tuple[str, ...] = ()
    events_requested: tuple[str, ...] = ()
    aud: tuple[str, ...] = ()
    description: str = ""
    status: str = "enabled"
    verification: Verification | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # endpoints from the configuration

    @property
    def key(self) -> tuple[str, str]:
        return self.transmitter, self.stream_id

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamRecord:
        try:
            check = data.get("verification")
            verification = Verification(**check) if isinstance(check, dict) else None
            method = data["method"]
            return cls(
                transmitter=str(data["transmitter"]),
                stream_id=str(data["stream_id"]),
                method=_method(method),
                endpoint_url=str(data["endpoint_url"]),
                created_at=float(data["created_at"]),
                events_delivered=tuple(map(str, data.get("events_delivered", ()))),
                events_requested=tuple(map(str, data.get("events_requested", ()))),
                aud=tuple(map(str, data.get("aud", ()))),
                description=str(data.get("description", "")),
                status=str(data.get("status", "enabled")),
                verification=verification,
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"a stream record is malformed: {exc}") from None


def _method(method: object) -> Literal["push", "poll"]:
    if method == "push":
        return "push"
    if method == "poll":
        return "poll"
    raise ValueError(f"unknown delivery method {method!r}")


class StreamBook:
    """The stream file at ``path``; every read is fresh, every write atomic and locked."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- reading ------------------------------------------------------------------

    def streams(self) -> list[StreamRecord]:
        """Every stream recorded (none when the file does not exist)."""
        return list(self._read().values())

    def get(self, transmitter: str, stream_id: str) -> StreamRecord | None:
        return self._read().get((transmitter, stream_id))

    def of(self, transmitter: str | None = None) -> list[StreamRecord]:
        return [s for s in self.streams() if transmitter in (None, s.transmitter)]

    # -- writing ------------------------------------------------------------------

    def put(self, record: StreamRecord) -> None:
        with self._locked() as streams:
            streams[record.key] = record

    def remove(self, transmitter: str, stream_id: str) -> bool:
        with self._locked() as streams:
            return streams.pop((transmitter, stream_id), None) is not None

    def ask_verification(self, transmitter: str, stream_id: str, state: str, now: float) -> None:
        """Record that a verification with ``state`` was asked for."""
        with self._locked() as streams:
            record = streams.get((transmitter, stream_id))
            if record is None:
                raise ConfigurationError(f"no stream {stream_id!r} of {transmitter} is recorded")
            streams[record.key] = replace(record, verification=Verification(state, now))

    def verified(self, transmitter: str, stream_id: str, state: str | None, now: float) -> str:
        """A verification event came back: ``"verified"`` (the state asked for),
        ``"mismatch"`` (a known stream, another state or none asked for), or ``"unknown"``
        (no such stream here: nothing to compare with)."""
        if not self.path.exists():
            return "unknown"
        with self._locked() as streams:
            record = streams.get((transmitter, stream_id))
            if record is None:
                return "unknown"
            asked = record.verification
            if asked is not None and state == asked.state:
                if asked.verified_at is None:  # a redelivery finds it recorded already
                    verification = replace(asked, verified_at=now)
                    streams[record.key] = replace(record, verification=verification)
                return "verified"
            # No state: a verification the transmitter sent of its own accord (SSF §8.1.4).
            return "verified" if state is None else "mismatch"

    def set_status(self, transmitter: str, stream_id: str, status: str) -> None:
        """A stream-updated event: the transmitter's status for a recorded stream."""
        if not self.path.exists():
            return
        with self._locked() as streams:
            record = streams.get((transmitter, stream_id))
            if record is not None:
                streams[record.key] = replace(record, status=status)

    # -- the file -----------------------------------------------------------------

    def _read(self) -> dict[tuple[str, str], StreamRecord]:
        try:
            info = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigurationError(f"cannot read the stream file {self.path}: {exc}") from None
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigurationError(
                f"{self.path} is writable by others: it decides which streams are polled "
                f"(chmod go-w {self.path})"
            )
        try:
            data = json.loads(text) if text.strip() else {"streams": []}
        except ValueError:
            raise ConfigurationError(f"the stream file {self.path} is not JSON") from None
        entries = data.get("streams") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ConfigurationError(f"the stream file {self.path} has no 'streams' list")
        records = (StreamRecord.from_json(entry) for entry in entries if isinstance(entry, dict))
        return {record.key: record for record in records}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[tuple[str, str], StreamRecord]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            streams = self._read()
            before = dict(streams)
            yield streams
            if streams != before:
                self._write(streams)
        finally:
            os.close(descriptor)  # closing releases the lock

    def _write(self, streams: Mapping[tuple[str, str], StreamRecord]) -> None:
        document = {"version": _VERSION, "streams": [s.to_json() for s in streams.values()]}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
