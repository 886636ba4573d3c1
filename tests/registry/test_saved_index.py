"""A compact index saved whole (``index_snapshot.dump_index``) loads back as the same index.

The property: rules from a snapshot, then adds, lifts, sweeps and merges, then saved
and loaded (at the same time or later): the loaded index answers every token as the
one saved and as the dictionary index (the reference) do, holds the same rules and
counts, and keeps doing so under the same further operations. Bytes that are not a
saved index of this format, or that do not read back whole, raise ``ValueError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from index_strategies import T0, IndexModel, operations, rows, tokens

from revoker.core.registry.compact import CompactIndex, stable_key
from revoker.core.registry.index import RuleIndex, entry_of, row_of
from revoker.core.registry.index_snapshot import FORMAT, dump_index, index_tip, load_index
from revoker.core.registry.rules import RuleKind, StoredRow

LATER = st.sampled_from([0.0, 10.0, 20.0, 20.5, 30.0])  # seconds from saving to loading


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snapshot=st.lists(rows(), max_size=25, unique_by=lambda row: row[0]),
    before=st.lists(operations, max_size=10),
    saved_at=st.tuples(st.integers(min_value=0, max_value=2**53), LATER),  # (seq, load later)
    after=st.lists(operations, max_size=10),
    queries=st.lists(tokens(), min_size=5, max_size=20),
)
def test_a_saved_index_loads_back_answering_as_the_one_saved(
    snapshot: list[StoredRow],
    before: list[Any],
    saved_at: tuple[int, float],
    after: list[Any],
    queries: list[Any],
) -> None:
    """Saved and loaded, the index matches, lists and counts as the original and the
    reference; the same adds, lifts, sweeps and merges keep them in agreement."""
    now = T0
    original = CompactIndex.from_rows(snapshot, now)
    reference = RuleIndex()
    reference.load(snapshot, now)
    model = IndexModel([original], reference, [row[0] for row in snapshot])
    for step in before:
        now = model.step(step, now)

    seq, later = saved_at
    data = dump_index(original.freeze(), seq=seq)
    now += later
    loaded_seq, loaded = load_index(data, now)
    model.sweep(now)

    assert loaded_seq == seq
    model.compacts.append(loaded)
    model.agree(queries)
    for step in after:
        now = model.step(step, now)
        model.agree(queries)


def test_saving_leaves_the_index_as_it_was() -> None:
    """freeze and dump_index only read: the saved index answers on as before."""
    rows_ = [
        (f"id-{n}", "subject", f"user-{n}", None, T0 - 10, None, "", "a", T0) for n in range(5)
    ]
    index = CompactIndex.from_rows(rows_, T0)
    index.insert(entry_of(("id-s", "session", "s-1", None, None, None, "", "a", T0)), T0)
    before = ({row_of(rule) for rule in index.rules()}, index.counts())
    dump_index(index.freeze(), seq=3)
    assert ({row_of(rule) for rule in index.rules()}, index.counts()) == before
    assert index.match({"sid": "s-1"}, {}, "h.p.s") is not None


def test_rules_expired_between_saving_and_loading_are_gone() -> None:
    """Loaded at a later time, the rules expired by then (bulk and recent ones) are not there."""
    now = T0
    bulk = [
        ("b-soon", "subject", "user-soon", None, T0 - 10, T0 + 10, "", "a", T0 - 1),
        ("b-late", "subject", "user-late", None, T0 - 10, T0 + 100, "", "a", T0 - 1),
        ("b-never", "token", "jti-never", None, None, None, "", "a", T0 - 1),
    ]
    index = CompactIndex.from_rows(bulk, now)
    index.insert(entry_of(("d-soon", "session", "sid-soon", None, None, T0 + 10, "", "a", T0)), now)
    index.insert(
        entry_of(("d-late", "session", "sid-late", None, None, T0 + 100, "", "a", T0)), now
    )
    data = dump_index(index.freeze(), seq=7)

    _, same_time = load_index(data, now)
    everything = {"b-soon", "b-late", "b-never", "d-soon", "d-late"}
    assert {rule.id for rule in same_time.rules()} == everything

    _, loaded = load_index(data, T0 + 10)  # expires_at is the first moment a rule is gone
    assert {rule.id for rule in loaded.rules()} == {"b-late", "b-never", "d-late"}
    assert loaded.rule_count == 3
    assert loaded.counts_by_kind()[RuleKind.SUBJECT] == 1
    assert loaded.counts_by_kind()[RuleKind.SESSION] == 1
    old_iat = {"iat": T0 - 20}
    assert loaded.match({**old_iat, "sub": "user-soon"}, {}, "h.p.s") is None
    assert loaded.match({"sid": "sid-soon"}, {}, "h.p.s") is None
    late = loaded.match({**old_iat, "sub": "user-late"}, {}, "h.p.s")
    assert late is not None
    assert late.id == "b-late"
    recent = loaded.match({"sid": "sid-late"}, {}, "h.p.s")
    assert recent is not None
    assert recent.id == "d-late"

    _, much_later = load_index(data, T0 + 100)
    assert {rule.id for rule in much_later.rules()} == {"b-never"}


def test_a_saved_index_is_valid_in_another_process() -> None:
    """Keys are CRC-32 of the value, not ``hash``: a process with another hash seed loads
    the bytes and finds the same rules."""
    rows_ = [
        (f"id-{n}", "subject", f"user-{n}", None, T0 - 10, None, "", "a", T0) for n in range(50)
    ]
    index = CompactIndex.from_rows(rows_, T0)
    index.insert(entry_of(("id-t", "token", "jti-1", None, None, None, "", "a", T0)), T0)
    script = (
        "import sys\n"
        "from revoker.core.registry.index_snapshot import load_index\n"
        "seq, index = load_index(sys.stdin.buffer.read(), 1_700_000_000.0)\n"
        "hits = [index.match({'sub': f'user-{n}', 'iat': 0.0}, {}, 'h.p.s') for n in range(50)]\n"
        "miss = index.match({'sub': 'user-50', 'iat': 0.0}, {}, 'h.p.s')\n"
        "token = index.match({'jti': 'jti-1'}, {}, 'h.p.s')\n"
        "print(seq, sum(hit is not None for hit in hits), miss, token.id)\n"
    )
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=dump_index(index.freeze(), seq=11),
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            timeout=60,
            check=True,
        )
        assert done.stdout.decode().split() == ["11", "50", "None", "id-t"]


def test_stable_key_is_crc32_of_utf8() -> None:
    """The key function the format names: CRC-32 of the UTF-8 (surrogates passed through)."""
    assert stable_key("user-1") == _crc("user-1")
    assert stable_key("naïve") == _crc("naïve")
    assert stable_key("\udc80") == _crc("\udc80")
    assert stable_key(1) == stable_key(None) == stable_key(["a"])  # no rule holds a non-string


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


# -- bytes that are not a saved index ---------------------------------------------------


def small_dump(seq: int = 5) -> bytes:
    rows_ = [
        (f"id-{n}", "subject", f"user-{n}", None, T0 - 10, None, "", "a", T0) for n in range(3)
    ]
    index = CompactIndex.from_rows(rows_, T0)
    index.insert(entry_of(("id-s", "session", "s-1", None, None, None, "", "a", T0)), T0)
    return dump_index(index.freeze(), seq=seq)


def members(data: bytes) -> dict[str, Any]:
    with np.load(io.BytesIO(data), allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}


def npz(arrays: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, **arrays)
    return out.getvalue()


def with_header(data: bytes, **changes: Any) -> bytes:
    """``data`` with its JSON header's fields replaced (a valid npz, every CRC right)."""
    arrays = members(data)
    header = json.loads(arrays["header"].tobytes())
    header.update(changes)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    return npz(arrays)


def noise_bytes(seed: int, size: int) -> bytes:
    """``size`` bytes that look random, the same for the same seed."""
    return hashlib.shake_256(seed.to_bytes(8, "big")).digest(size)


def assert_refused(data: bytes) -> None:
    """``load_index`` raises ValueError for ``data`` (any other error fails the test)."""
    with pytest.raises(ValueError):  # noqa: PT011 -- numpy's, zipfile's and json's words vary
        load_index(data, T0)


def flipped(data: bytes, at: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[at] ^= mask
    return bytes(changed)


def test_a_valid_dump_reads_back() -> None:
    """The control for the cases below: the unchanged bytes load, with their seq."""
    seq, index = load_index(small_dump(seq=5), T0)
    assert seq == 5
    assert index.rule_count == 4


def test_empty_bytes_raise_value_error() -> None:
    """No bytes are no saved index."""
    with pytest.raises(ValueError, match="does not read back"):
        load_index(b"", T0)


@pytest.mark.parametrize("keep", [1, 4, 22, 100, 0.5, -22, -1])
def test_truncated_bytes_raise_value_error(keep: float) -> None:
    """A saved index cut short anywhere (a part missing) does not load."""
    data = small_dump()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    assert_refused(data[:cut])


def test_every_truncation_raises_value_error() -> None:
    """Cut at any byte, a saved index raises ValueError, never another error."""
    data = small_dump()
    for cut in range(0, len(data), 7):
        assert_refused(data[:cut])


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_raise_value_error(seed: int) -> None:
    """Random bytes, with or without a zip file's signature in front, do not load."""
    noise = noise_bytes(seed, 1 + seed * 997)
    for data in (noise, b"PK\x03\x04" + noise, b"PK\x05\x06" + noise[:18]):
        assert_refused(data)


@pytest.mark.parametrize(
    "header_format",
    [
        "revoker-compact-index/0 crc32-utf8",  # an older layout
        "revoker-compact-index/1 python-hash",  # another key function
        FORMAT.upper(),
        "",
        None,
    ],
)
def test_a_valid_npz_of_another_format_raises_value_error(header_format: str | None) -> None:
    """A saved index whose header names another format (or none) is not loaded."""
    data = with_header(small_dump(), format=header_format)
    with pytest.raises(ValueError, match="another format"):
        load_index(data, T0)


def test_a_valid_npz_with_other_kinds_raises_value_error() -> None:
    """A saved index written for another list of rule kinds is not loaded."""
    data = with_header(small_dump(), kinds=["key", "token"])
    with pytest.raises(ValueError, match="other kinds"):
        load_index(data, T0)


def test_an_npz_without_a_header_or_with_a_missing_array_raises_value_error() -> None:
    """Any other npz (numpy's own, one without a member the header needs) is not loaded."""
    arrays = members(small_dump())
    without_header = {name: array for name, array in arrays.items() if name != "header"}
    without_keys = {name: array for name, array in arrays.items() if name != "4.keys"}
    for data in (npz(without_header), npz(without_keys), npz({"x": np.arange(3)})):
        assert_refused(data)


def test_an_npz_whose_header_is_not_json_raises_value_error() -> None:
    """A header member that is not JSON (or not an object) is not loaded."""
    arrays = members(small_dump())
    for header in (b"\xff\xfe not json", b"[1, 2]", b"null"):
        arrays["header"] = np.frombuffer(header, np.uint8)
        assert_refused(npz(arrays))


def test_flipped_bytes_in_any_member_raise_value_error() -> None:
    """A byte changed inside a member's data (the header's JSON, an array's values, the
    filter, the dead bits) fails the member's CRC-32: the index does not load."""
    data = small_dump()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    assert infos  # the saved index is a zip file of members
    checked = 0
    for info in infos:
        # The member's data starts after its local header (30 bytes, its name, its extra).
        at = info.header_offset
        start = at + 30 + _u16(data, at + 26) + _u16(data, at + 28)
        npy_header = 128  # numpy's .npy header, padded to 64 bytes; the values follow it
        for at in {start + npy_header, start + info.file_size - 1}:
            if start + npy_header <= at < start + info.file_size:
                assert_refused(flipped(data, at))
                checked += 1
    assert checked > 10


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _central_entry(data: bytes) -> int:
    """Where the first entry of the zip file's central directory starts."""
    at = data.find(b"PK\x01\x02")
    assert at > 0
    return at


def test_a_flipped_bit_in_the_central_directory_raises_value_error() -> None:
    """Bit flips the CRCs do not cover (the central directory's flags and compression
    method) still leave bytes that do not read back: ValueError, as for any other damage,
    so a replica ignores them and loads the rules."""
    data = small_dump()
    entry = _central_entry(data)
    damaged = {
        "encrypted flag": flipped(data, entry + 8, 0x01),  # zipfile: RuntimeError
        "patched-data flag": flipped(data, entry + 8, 0x20),  # NotImplementedError
        "compression method": flipped(data, entry + 10, 0x01),  # NotImplementedError
    }
    raised = {}
    for what, bytes_ in damaged.items():
        try:
            load_index(bytes_, T0)
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 -- the point: which error escapes
            raised[what] = type(exc).__name__
        else:
            raised[what] = "loaded"
    assert raised == {}


def test_a_flipped_byte_in_a_large_arrays_npy_header_raises_value_error() -> None:
    """numpy parses a member's .npy header before zipfile has read the member to its end
    and checked its CRC (a member larger than zipfile's 4 KB read): a damaged header is
    still bytes that do not read back, ValueError."""
    data = small_dump()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        largest = max(archive.infolist(), key=lambda info: info.file_size)
    assert largest.file_size > 8192  # a segment's filter: at least 4 KB
    shape = data.find(b"'shape': (", largest.header_offset)
    close = data.find(b")", shape)
    assert largest.header_offset < shape < close < largest.header_offset + 30 + 128 + 64
    assert_refused(flipped(data, close, 0x01))  # ")" -> "(": the tuple never closes


@pytest.mark.parametrize(
    "delta",
    [
        pytest.param([["id-x", "token"]], id="an entry too short"),
        pytest.param(
            [["id-x", "token", "v", None, None, "soon", "", "a", T0]],
            id="an expiry that is not a number",
        ),
        pytest.param([["id-x", "nope", "v", None, None, None, "", "a", T0]], id="an unknown kind"),
    ],
)
def test_a_header_with_malformed_recent_rules_raises_value_error(delta: list[list[Any]]) -> None:
    """The header's recent rules (the delta) are part of what must read back."""
    data = with_header(small_dump(), delta=delta)
    assert_refused(data)


@pytest.mark.parametrize(
    ("member", "change"),
    [
        ("4.keys", lambda a: a[::-1].copy()),  # not sorted
        ("4.keys", lambda a: a[:1].copy()),  # fewer keys than rows
        ("4.ids", lambda a: a.ravel().copy()),  # not a byte matrix
        ("4.meta", lambda a: a + 7),  # a scope the segment does not hold
        ("4.bits", lambda a: a[:-1].copy()),  # a filter of the wrong size
        ("4.dead", lambda a: np.concatenate([a, a])),  # dead bits of the wrong size
        ("4.created", lambda a: a.astype(object)),  # an object array: refused unpickled
    ],
)
def test_a_segment_whose_arrays_do_not_fit_raises_value_error(member: str, change: Any) -> None:
    """A saved segment whose arrays disagree (lengths, order, sizes, scopes) is refused."""
    arrays = members(small_dump())
    arrays[member] = change(arrays[member])
    assert_refused(npz(arrays) if member != "4.created" else _pickled(arrays))


def _pickled(arrays: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)  # an object array needs pickling: what load_index refuses
    return out.getvalue()


# -- the change a saved index was taken at -----------------------------------------------


def test_the_change_a_saved_index_was_taken_at_reads_back() -> None:
    """index_tip gives the (op, rule id) dump_index was told, None when it was not told;
    the index itself loads the same either way."""
    index = CompactIndex.from_rows([("id-1", "token", "j-1", None, None, None, "", "a", T0)], T0)
    with_tip = dump_index(index.freeze(), seq=9, tip=("lift", "id-0"))
    without = dump_index(index.freeze(), seq=9)
    assert index_tip(with_tip) == ("lift", "id-0")
    assert index_tip(without) is None
    for data in (with_tip, without):
        seq, loaded = load_index(data, T0)
        assert (seq, loaded.rule_count) == (9, 1)


def _header_member_entry(data: bytes) -> int:
    """Where the central directory entry of the header member starts."""
    at = _central_entry(data)
    while data[at + 46 : at + 46 + len(b"header.npy")] != b"header.npy":
        at += 46 + _u16(data, at + 28) + _u16(data, at + 30) + _u16(data, at + 32)
        assert data[at : at + 4] == b"PK\x01\x02"
    return at


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: noise_bytes(3, len(data)), id="random bytes"),
        pytest.param(lambda data: with_header(data, tip=["add"]), id="a tip of one field"),
        pytest.param(lambda data: with_header(data, tip=5), id="a tip that is a number"),
        pytest.param(
            lambda data: _with_raw_header(data, b"[1, 2]"), id="a header that is a JSON list"
        ),
        pytest.param(
            lambda data: flipped(data, _header_member_entry(data) + 8, 0x01),
            id="the header's central directory entry flipped",
        ),
    ],
)
def test_index_tip_raises_value_error_for_bytes_that_do_not_read_back(damage: Any) -> None:
    """Whatever the damage, index_tip raises ValueError, as load_index does: a replica
    reads it first, and ignores a saved index only on ValueError."""
    index = CompactIndex.from_rows([("id-1", "token", "j-1", None, None, None, "", "a", T0)], T0)
    data = dump_index(index.freeze(), seq=9, tip=("add", "id-1"))
    with pytest.raises(ValueError):  # noqa: PT011 -- numpy's, zipfile's and json's words vary
        index_tip(damage(data))


def _with_raw_header(data: bytes, header: bytes) -> bytes:
    arrays = members(data)
    arrays["header"] = np.frombuffer(header, np.uint8)
    return npz(arrays)


def test_value_bytes_narrower_than_their_format_raise_value_error() -> None:
    """A writer's bug, not damage (every CRC is right): UUID values kept in a matrix too
    narrow for 16 bytes would decode as other values and silently stop matching."""
    rows_ = [
        (f"{n:032x}", "token", f"{n:08x}-0000-4000-8000-000000000000", None, None, None, "",
         "a", T0)
        for n in range(3)
    ]  # fmt: skip
    arrays = members(dump_index(CompactIndex.from_rows(rows_, T0).freeze(), seq=3))
    token_code = next(k for k in arrays if k.endswith(".values")).split(".")[0]
    arrays[f"{token_code}.values"] = np.ascontiguousarray(arrays[f"{token_code}.values"][:, :4])
    assert_refused(npz(arrays))
