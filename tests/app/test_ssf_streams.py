"""The stream file: records round-trip, writes are atomic with mode 0600, a file others can
write is refused, and a verification's state is recorded when it comes back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from revoker.app.signals.streams import StreamBook, StreamRecord
from revoker.core.errors import ConfigurationError

T0 = 1_700_000_000.0


def record(stream_id: str = "s-1", **fields: object) -> StreamRecord:
    values: dict[str, object] = {"transmitter": "https://tr.example", "stream_id": stream_id,
                                 "method": "poll", "endpoint_url": "https://tr.example/poll",
                                 "created_at": T0, **fields}  # fmt: skip
    return StreamRecord(**values)  # type: ignore[arg-type]


def test_a_record_round_trips_and_the_file_is_private(tmp_path: Path) -> None:
    """put, then a fresh book reads it back equal; the file is 0600; remove forgets it."""
    path = tmp_path / "streams.json"
    stream = record(events_delivered=("e1", "e2"), aud=("a",), extra={"status_endpoint": "x"})
    StreamBook(path).put(stream)
    assert StreamBook(path).streams() == [stream]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StreamBook(path).remove("https://tr.example", "s-1")
    assert StreamBook(path).streams() == []
    assert not StreamBook(path).remove("https://tr.example", "s-1")


def test_no_file_is_no_stream(tmp_path: Path) -> None:
    """Before any register, the service polls nothing and checks no verification."""
    book = StreamBook(tmp_path / "absent.json")
    assert book.streams() == []
    assert book.verified("https://tr.example", "s-1", "state", T0) == "unknown"
    assert not (tmp_path / "absent.json").exists()


def test_a_file_others_can_write_is_refused(tmp_path: Path) -> None:
    """It decides what is polled: group- or world-writable is a configuration error."""
    path = tmp_path / "streams.json"
    StreamBook(path).put(record())
    os.chmod(path, 0o620)
    with pytest.raises(ConfigurationError, match="writable by others"):
        StreamBook(path).streams()


@pytest.mark.parametrize("text", ["not json", '{"streams": 3}', '{"streams": [{"x": 1}]}'])
def test_a_malformed_file_is_one_configuration_error(tmp_path: Path, text: str) -> None:
    """Never a traceback: the file is named."""
    path = tmp_path / "streams.json"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError):
        StreamBook(path).streams()


def test_a_verification_comes_back_with_the_state_asked_for(tmp_path: Path) -> None:
    """The asked state verifies (and again, for a redelivery); another state does not; with no
    state asked, a state-less one (the transmitter's own) is fine and a state is a mismatch."""
    book = StreamBook(tmp_path / "streams.json")
    book.put(record())
    assert book.verified("https://tr.example", "s-1", None, T0) == "verified"
    assert book.verified("https://tr.example", "s-1", "forged", T0) == "mismatch"
    book.ask_verification("https://tr.example", "s-1", "state-1", T0)
    assert book.verified("https://tr.example", "s-1", "forged", T0 + 1) == "mismatch"
    assert book.verified("https://tr.example", "s-1", "state-1", T0 + 2) == "verified"
    assert book.verified("https://tr.example", "s-1", "state-1", T0 + 3) == "verified"
    verification = book.get("https://tr.example", "s-1")
    assert verification is not None
    assert verification.verification is not None
    assert verification.verification.verified_at == T0 + 2
    assert book.verified("https://tr.example", "another", "state-1", T0) == "unknown"
