"""A built compact index saved whole, so the next replica loads it instead of building it.

Building the compact index costs about 2 µs a rule (hashing, encoding and sorting
ten million strings: a minute at 10M); loading the arrays it built costs what
moving their bytes costs. So a replica that holds a compact index saves it to its
store now and then (``Replica(index_snapshot_seconds=…)``), and a replica that
starts loads the newest saved index, then follows the change log from the seq it
was saved at, exactly as after any other snapshot. A saved index the log no longer
reaches back to (older than the change retention), one of another format, or one
that does not read back whole, is ignored: the replica builds from the rules.

The bytes are an uncompressed ``.npz`` (numpy's own container: a zip file, whose
CRC-32 per member ``np.load`` checks, read with ``allow_pickle=False``): per kind
the segment's arrays, its filter and its dead bits, and a JSON header with the
format, the key function, the seq, the scopes and the delta's entries. Keys are
``compact.stable_key``, the same in every process, which is what makes a saved
index valid in another one.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np

from revoker.core.registry.columns import ORDER
from revoker.core.registry.compact import CompactIndex, Frozen, Segment, SegmentRows
from revoker.core.registry.index import Entry
from revoker.core.registry.rules import CUTOFF_KINDS

__all__ = ["FORMAT", "dump_index", "index_tip", "load_index"]

#: Bumped whenever the layout or the key function changes: an older saved index is ignored.
FORMAT = "revoker-compact-index/1 crc32-utf8"
_ARRAYS = ("keys", "ids", "values", "created", "expires", "cutoff", "meta", "bits", "dead")


def dump_index(frozen: Frozen, *, seq: int, tip: tuple[str, str] | None = None) -> bytes:
    """The bytes of an index ``CompactIndex.freeze`` took at ``seq``; ``tip`` is the change
    at ``seq`` as (op, rule id), which a loader compares with the store's log."""
    arrays: dict[str, Any] = {}
    segments: list[dict[str, Any] | None] = []
    for code, part in enumerate(frozen.segments):
        if part is None:
            segments.append(None)
            continue
        segment, bits, dead = part
        segments.append({
            "n": segment.n,
            "width": segment.width,
            "metas": segment.metas,
            "esc_ids": segment.esc_ids,
            "esc_values": segment.esc_values,
        })  # fmt: skip
        cutoff = segment.cutoff if segment.cutoff is not None else np.zeros(0, np.float64)
        for name, array in zip(_ARRAYS, (segment.keys, segment.ids, segment.values,
                                         segment.created, segment.expires, cutoff, segment.meta,
                                         np.frombuffer(bits, np.uint8),
                                         np.frombuffer(dead, np.uint8)), strict=True):  # fmt: skip
            arrays[f"{code}.{name}"] = array
    header = {
        "format": FORMAT,
        "kinds": [kind.value for kind in ORDER],
        "seq": seq,
        "tip": None if tip is None else list(tip),
        "saved_at": time.time(),
        "segments": segments,
        "delta": frozen.delta,
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, **arrays)
    return out.getvalue()


def load_index(data: bytes, now: float) -> tuple[int, CompactIndex]:
    """The seq and the index saved in ``data`` (rules expired at ``now`` swept);
    ``ValueError`` for bytes of another format or that do not read back whole."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            header = _header(saved)
            segments = [
                None if meta is None else _segment(code, meta, saved)
                for code, meta in enumerate(header["segments"])
            ]
            delta: list[Entry] = [tuple(entry) for entry in header["delta"]]
            seq = int(header["seq"])
        return seq, CompactIndex.restore(segments, delta, now)
    except ValueError:
        raise
    except Exception as exc:
        # Bytes from outside: zipfile and numpy raise many kinds of error on a damaged
        # directory or array header (which no CRC covers), as does a malformed entry.
        raise ValueError(f"a saved index that does not read back: {exc!r}") from exc


def index_tip(data: bytes) -> tuple[str, str] | None:
    """The (op, rule id) of the change a saved index was taken at, if it was recorded.

    A loader compares it with the store's change at that seq: after a failover that
    lost the newest changes (Redis), the seq may now name another change, and the
    saved index would then hold a rule the store lost and miss the one it kept."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            tip = _header(saved).get("tip")
    except ValueError:
        raise
    except Exception as exc:  # as in load_index
        raise ValueError(f"a saved index that does not read back: {exc!r}") from exc
    if tip is None:
        return None
    if not (isinstance(tip, list) and len(tip) == 2 and all(isinstance(t, str) for t in tip)):
        raise ValueError("a saved index's tip is not (op, rule id)")
    return tip[0], tip[1]


def _header(saved: Any) -> dict[str, Any]:
    header = json.loads(saved["header"].tobytes())
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("a saved index of another format")
    if header.get("kinds") != [kind.value for kind in ORDER]:
        raise ValueError("a saved index with other kinds")
    return header


def _segment(code: int, meta: dict[str, Any], saved: Any) -> Segment:
    got = {name: saved[f"{code}.{name}"] for name in _ARRAYS}
    ids, values = got["ids"], got["values"]
    if ids.dtype != np.uint8 or values.dtype != np.uint8 or ids.ndim != 2 or values.ndim != 2:
        raise ValueError("a saved segment's texts are not byte matrices")
    cutoff = got["cutoff"] if ORDER[code] in CUTOFF_KINDS else None
    rows = SegmentRows(
        keys=got["keys"].astype(np.uint32, copy=False),
        ids=ids,
        values=values,
        created=got["created"].astype(np.float64, copy=False),
        expires=got["expires"].astype(np.float64, copy=False),
        cutoff=None if cutoff is None else cutoff.astype(np.float64, copy=False),
        meta=got["meta"].astype(np.int64),
        metas=[(m[0], m[1], m[2], int(m[3]), int(m[4])) for m in meta["metas"]],
        esc_ids={int(row): str(text) for row, text in meta["esc_ids"].items()},
        esc_values={int(row): str(text) for row, text in meta["esc_values"].items()},
    )
    return Segment.restore(code, rows, width=int(meta["width"]), bits=got["bits"].tobytes(),
                           dead=got["dead"].tobytes())  # fmt: skip
