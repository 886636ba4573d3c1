"""The compact index ``Replica.match`` reads: sorted numpy arrays per kind, about 60 B a rule.

Per rule kind, a ``Segment`` holds the bulk of the rules (a snapshot, and the
recent changes merged in) in parallel arrays sorted by *key*, the CRC-32 of the
value's UTF-8 (``stable_key``): the same in every process, so a built index can
be saved and loaded whole (``index_snapshot.py``). The check reads a claim's key
from ``KEYS``, a bounded dict of the keys of claims seen lately: a hit costs a
dict look-up, what the ``hash`` it replaced cost, and a miss (a new token's
``jti``) a CRC of a few dozen bytes:

    keys     uint32    the key, sorted (ties in add order)
    values   uint8[W]  the value, 16 bytes for a UUID (``columns.encode_texts``)
    ids      uint8[W]  the rule id, 16 bytes for 32 hex digits
    created  float64   created_at
    expires  float64   expires_at (nan: never)
    cutoff   float64   cutoff kinds only
    meta     uint16    (issuer, reason, actor, id and value formats), interned
    dead     1 bit     lifted or expired since the segment was built
    filter   ~32 bits  a Bloom filter (two bits per rule) over the keys

A check probes one bit of the filter per kind that has rules: a shift, a mask
and a byte, about as cheap as the dictionary look-up it replaces. Only when the
bit is set (a denial, or about 3% of misses) does it look further: a second
bit, then ``searchsorted`` on the keys, then the value itself is decoded and
compared, so a hash collision never denies. The ``Rule`` is rebuilt from the
arrays only then.

Rules added since the segment was built go to ``delta``, a small ``RuleIndex``
(the dictionary index, ``index.py``), and set their bits in the same filter;
lifts and expiries of bulk rules set their ``dead`` bit at once. ``merge``
rebuilds the segments with the delta folded in and the dead left out, when the
delta grows past ``MERGE_AT`` or a segment is an eighth dead.

Matching is exactly ``index.match_index`` over a ``RuleIndex`` holding the same
rules (``tests/registry/test_compact_properties.py`` checks it): issuer scope,
inclusive cut-offs with a NaN ``iat`` revoked, clients by ``client_id`` or each
``aud``, tokens by ``jti`` or the signed part's SHA-256, odd-typed claims retried
as plain claims, and the first match in kind order, oldest rule first.

Writers (one at a time, under the replica's lock) only set bits, replace
segments and swap the ``probe`` tuple whole, so a lock-free reader sees the old
or the new state.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np
import numpy.typing as npt

from revoker.core.registry.columns import (
    FMT_ESCAPED,
    FMT_HEX,
    FMT_UUID,
    ORDER,
    Columns,
    decode_text,
    encode_texts,
)
from revoker.core.registry.index import (
    Entry,
    RuleIndex,
    _cut,
    plain_claims,
    plain_header,
    rule_of,
    scoped,
)
from revoker.core.registry.rules import (
    CUTOFF_KINDS,
    LOOKS_LIKE_JWS,
    Rule,
    RuleKind,
    StoredRow,
    stored_rule,
)
from revoker.core.registry.rules import signed_part_sha256 as _sha256

__all__ = ["KEYS", "MERGE_AT", "CompactIndex", "Frozen", "Segment", "SegmentRows", "stable_key"]

MERGE_AT = 65_536  # delta rules that trigger a merge (about 25 MB of dictionaries)
_TEXT_CAP = 64  # bytes of a value or id kept in the arrays; longer ones are kept as str
_BITS = (1, 2, 4, 8, 16, 32, 64, 128)
_GOLDEN = 0x9E3779B1  # the second filter bit: a multiplicative hash of the key
_KEY = 0xFFFFFFFF
_ABSENT_KEPT = 4096  # values per kind remembered as in no rule
_SWEEP_WINDOW = 60.0  # seconds of expiries collected per scan of a segment
_KIND_TEXT = tuple(kind.value for kind in ORDER)
_CUT = tuple(kind in CUTOFF_KINDS for kind in ORDER)
_UTF8 = methodcaller("encode", "utf-8", "surrogatepass")
_KEYS_KEPT = 1 << 17  # claim values whose key is remembered: about 15 MB, 50 MB at most
_KEY_KEPT_CHARS = 256  # longer claim values (rare) have their key computed each time
_NOT_TEXT_KEY = 0x5BD1E995  # the key of a claim that is not a string: no rule holds one

U8 = npt.NDArray[np.uint8]
F8 = npt.NDArray[np.float64]
Meta = tuple[str | None, str, str, int, int]  # issuer, reason, actor, id format, value format


@dataclass(slots=True)
class SegmentRows:
    """One kind's rules as encoded columns, in add order: what a ``Segment`` is built from."""

    keys: npt.NDArray[np.uint32]
    ids: U8
    values: U8
    created: F8
    expires: F8
    cutoff: F8 | None
    meta: npt.NDArray[np.int64]
    metas: list[Meta]
    esc_ids: dict[int, str]
    esc_values: dict[int, str]

    @classmethod
    def encode(
        cls,
        ids: list[str],
        values: list[str],
        *,
        triples: list[tuple[str | None, str, str]],
        scopes: npt.NDArray[np.int64],
        created: F8,
        expires: F8,
        cutoff: F8 | None,
    ) -> SegmentRows:
        n = len(values)
        # stable_key for each, without a Python call per value: stores hand out str only.
        keys = np.fromiter(map(zlib.crc32, map(_UTF8, values)), np.uint32, n)
        id_matrix, id_fmts, esc_ids = encode_texts(ids, _TEXT_CAP)
        value_matrix, value_fmts, esc_values = encode_texts(values, _TEXT_CAP)
        combined = (scopes * 256 + id_fmts) * 256 + value_fmts
        unique, meta = np.unique(combined, return_inverse=True)
        metas: list[Meta] = []
        for code in unique.tolist():
            issuer, reason, actor = triples[code >> 16]
            metas.append((issuer, reason, actor, (code >> 8) & 255, code & 255))
        return cls(keys, id_matrix, value_matrix, created, expires, cutoff,
                   meta.astype(np.int64), metas, esc_ids, esc_values)  # fmt: skip

    @classmethod
    def of_entries(cls, entries: list[Entry], cut: bool) -> SegmentRows:
        triples: dict[tuple[str | None, str, str], int] = {}
        scopes = np.array([triples.setdefault((e[3], e[6], e[7]), len(triples)) for e in entries])
        nan = math.nan
        return cls.encode(
            [e[0] for e in entries],
            [e[2] for e in entries],
            triples=list(triples),
            scopes=scopes.astype(np.int64),
            created=np.array([e[8] for e in entries], np.float64),
            expires=np.array([nan if e[5] is None else e[5] for e in entries], np.float64),
            cutoff=np.array([nan if e[4] is None else e[4] for e in entries], np.float64)
            if cut
            else None,
        )

    def take(self, chosen: npt.NDArray[np.intp]) -> SegmentRows:
        """These rows only, in this order."""
        where = np.full(len(self.keys), -1, np.int64)
        where[chosen] = np.arange(chosen.size)
        return SegmentRows(
            self.keys[chosen], self.ids[chosen], self.values[chosen], self.created[chosen],
            self.expires[chosen], None if self.cutoff is None else self.cutoff[chosen],
            self.meta[chosen], self.metas,
            {int(where[r]): t for r, t in self.esc_ids.items() if where[r] >= 0},
            {int(where[r]): t for r, t in self.esc_values.items() if where[r] >= 0},
        )  # fmt: skip

    @staticmethod
    def concat(first: SegmentRows, second: SegmentRows) -> SegmentRows:
        table: dict[Meta, int] = {}
        remaps = [
            np.array([table.setdefault(m, len(table)) for m in part.metas], np.int64)
            for part in (first, second)
        ]
        shift = len(first.keys)
        return SegmentRows(
            np.concatenate([first.keys, second.keys]),
            _stack(first.ids, second.ids),
            _stack(first.values, second.values),
            np.concatenate([first.created, second.created]),
            np.concatenate([first.expires, second.expires]),
            None
            if first.cutoff is None or second.cutoff is None
            else np.concatenate([first.cutoff, second.cutoff]),
            np.concatenate([remaps[0][first.meta], remaps[1][second.meta]]),
            list(table),
            first.esc_ids | {r + shift: t for r, t in second.esc_ids.items()},
            first.esc_values | {r + shift: t for r, t in second.esc_values.items()},
        )


def _bytes_of(fmt: int) -> int:
    """The matrix width a fixed-size text format needs (UUID: 16 bytes, hex: its bytes)."""
    return 16 if fmt == FMT_UUID else fmt - FMT_HEX if fmt >= FMT_HEX else 0


def stable_key(value: Any) -> int:
    """The key of a rule value or claim: CRC-32 of its UTF-8, in every process the same."""
    if isinstance(value, str):
        return zlib.crc32(value.encode("utf-8", "surrogatepass"))
    return _NOT_TEXT_KEY


class _Keys(dict[Any, int]):
    """Claim value -> ``stable_key``, computed once; cleared whole when it grows too big.

    ``KEYS[v]`` on a hit is one dict look-up (no Python call); an unhashable claim
    raises ``TypeError``, as ``hash`` did, which ``match`` retries as plain claims.
    """

    __slots__ = ()

    def __missing__(self, value: Any) -> int:
        key = stable_key(value)
        if value.__class__ is str and len(value) > _KEY_KEPT_CHARS:
            return key  # not kept: the bound is on bytes, not only on entries
        if len(self) >= _KEYS_KEPT:
            self.clear()
        self[value] = key
        return key


KEYS = _Keys()


def _stack(a: U8, b: U8) -> U8:
    width = max(a.shape[1], b.shape[1])
    out = np.zeros((a.shape[0] + b.shape[0], width), np.uint8)
    out[: a.shape[0], : a.shape[1]] = a
    out[a.shape[0] :, : b.shape[1]] = b
    return out


class Segment:
    """One kind's bulk rules, sorted by key (see the module docstring)."""

    __slots__ = ("_dead_mv", "_horizon", "_keys_mv", "_next_due", "_pending", "bits", "created",
                 "cutoff", "dead", "dead_count", "esc_ids", "esc_values", "expires", "ids",
                 "keys", "kind", "mask", "meta", "metas", "n", "shift", "values")  # fmt: skip

    def __init__(self, kind: int, rows: SegmentRows, *, headroom: int) -> None:
        order = np.argsort((rows.keys.astype(np.uint64) << np.uint64(32))
                           | np.arange(len(rows.keys), dtype=np.uint64))  # fmt: skip
        if not np.array_equal(order, np.arange(order.size)):
            rows = rows.take(order)
        self.kind = kind
        self.n = n = len(rows.keys)
        self.keys = rows.keys
        self._keys_mv = rows.keys.data
        self.ids, self.values = rows.ids, rows.values
        self.created, self.expires, self.cutoff = rows.created, rows.expires, rows.cutoff
        self.meta = rows.meta.astype(np.uint16 if len(rows.metas) <= 65_536 else np.uint32)
        self.metas = rows.metas
        self.esc_ids, self.esc_values = rows.esc_ids, rows.esc_values
        self.dead = bytearray((n + 7) // 8)
        self._dead_mv = self.dead
        self.dead_count = 0
        # About 32 filter bits per rule (a power of two: a mask, not a modulo, on the check).
        width = max(15, round(math.log2(32 * (n + headroom))))
        self.mask, self.shift = (1 << width) - 1, 32 - width
        bits = np.zeros(1 << (width - 3), np.uint8)
        if n:
            keys64 = rows.keys.astype(np.int64)
            for where in (keys64 & self.mask, ((keys64 * _GOLDEN) & _KEY) >> self.shift):
                np.bitwise_or.at(bits, where >> 3, np.left_shift(1, where & 7).astype(np.uint8))
        self.bits = bytearray(bits.tobytes())
        self._pending: list[tuple[float, int]] = []
        self._horizon = -math.inf
        self._next_due = (
            float(np.nanmin(rows.expires)) if n and not np.isnan(rows.expires).all() else math.inf
        )

    @classmethod
    def restore(
        cls, kind: int, rows: SegmentRows, *, width: int, bits: bytes, dead: bytes
    ) -> Segment:
        """A segment as ``frozen`` saved it (``index_snapshot.py``): its rows, already sorted
        by key, its filter and its dead bits; ``ValueError`` when they do not fit together."""
        n = len(rows.keys)
        columns: list[npt.NDArray[Any]] = [rows.ids, rows.values, rows.created, rows.expires,
                                           rows.meta]  # fmt: skip
        if rows.cutoff is not None:
            columns.append(rows.cutoff)
        if any(len(column) != n for column in columns):
            raise ValueError("a saved segment's columns differ in length")
        if not 15 <= width <= 32 or len(bits) != 1 << (width - 3) or len(dead) != (n + 7) // 8:
            raise ValueError("a saved segment's filter or dead bits have the wrong size")
        if n and (int(rows.meta.min()) < 0 or int(rows.meta.max()) >= len(rows.metas)):
            raise ValueError("a saved segment refers to a scope it does not hold")
        if n > 1 and bool((rows.keys[1:] < rows.keys[:-1]).any()):
            raise ValueError("a saved segment's keys are not sorted")
        for _, _, _, id_fmt, value_fmt in rows.metas:
            if _bytes_of(id_fmt) > rows.ids.shape[1] or _bytes_of(value_fmt) > rows.values.shape[1]:
                raise ValueError("a saved segment's texts are narrower than their formats")
        for place, escaped in ((3, rows.esc_ids), (4, rows.esc_values)):
            codes = [code for code, meta in enumerate(rows.metas) if meta[place] == FMT_ESCAPED]
            held = np.flatnonzero(np.isin(rows.meta, codes)) if codes and n else ()
            if set(escaped) != set(map(int, held)):
                raise ValueError("a saved segment's escaped texts do not match its rows")
        segment = cls.__new__(cls)
        segment.kind, segment.n = kind, n
        segment.keys, segment._keys_mv = rows.keys, rows.keys.data
        segment.ids, segment.values = rows.ids, rows.values
        segment.created, segment.expires, segment.cutoff = rows.created, rows.expires, rows.cutoff
        segment.meta = rows.meta.astype(np.uint16 if len(rows.metas) <= 65_536 else np.uint32)
        segment.metas = rows.metas
        segment.esc_ids, segment.esc_values = rows.esc_ids, rows.esc_values
        segment.dead = segment._dead_mv = bytearray(dead)
        segment.dead_count = int.from_bytes(dead, "little").bit_count()
        segment.mask, segment.shift = (1 << width) - 1, 32 - width
        segment.bits = bytearray(bits)
        segment._pending, segment._horizon = [], -math.inf
        live_expiries = rows.expires[~np.isnan(rows.expires)] if n else rows.expires
        segment._next_due = float(live_expiries.min()) if live_expiries.size else math.inf
        return segment

    @property
    def width(self) -> int:
        """Bits of the key the first filter bit takes (the filter holds ``2 ** width`` bits)."""
        return self.mask.bit_length()

    @property
    def live(self) -> int:
        return self.n - self.dead_count

    def add_key(self, key: int) -> None:
        """Set a new rule's bits (a delta rule, whose key this segment does not hold)."""
        for where in (key & self.mask, ((key * _GOLDEN) & _KEY) >> self.shift):
            self.bits[where >> 3] |= _BITS[where & 7]

    def maybe(self, key: int) -> bool:
        """The second filter bit (the first was the check's)."""
        where = ((key * _GOLDEN) & _KEY) >> self.shift
        return bool(self.bits[where >> 3] & _BITS[where & 7])

    def positions(self, key: int) -> Iterator[int]:
        """The live rows with this key, oldest first."""
        keys, n, dead = self._keys_mv, self.n, self._dead_mv
        i = int(self.keys.searchsorted(np.uint32(key)))
        while i < n and keys[i] == key:
            if not dead[i >> 3] & _BITS[i & 7]:
                yield i
            i += 1

    def find(self, value: Any, key: int, iss: Any, iat: Any, cut: bool) -> tuple[Rule | None, bool]:
        """The oldest live rule here on ``value`` that matches the scope (and cut-off), and
        whether any live rule here has the value at all."""
        metas, meta, seen = self.metas, self.meta, False
        for i in self.positions(key):
            scope, _, _, _, value_fmt = metas[meta[i]]
            if self._text(i, value_fmt, self.values, self.esc_values) != value:
                continue
            seen = True
            # The cut-off as index._cut has it: "not after", so a NaN iat is revoked.
            if (scope is None or scope == iss) and (not cut or not iat > self._cutoff(i)):
                return self.rule(i), True
        return None, seen

    def locate(self, value: str, rule_id: str) -> int | None:
        """The live row of this rule (by its value and id), or None."""
        key = KEYS[value]
        for i in self.positions(key):
            _, _, _, id_fmt, value_fmt = self.metas[self.meta[i]]
            if (
                self._text(i, id_fmt, self.ids, self.esc_ids) == rule_id
                and self._text(i, value_fmt, self.values, self.esc_values) == value
            ):
                return i
        return None

    def scan_id(self, rule_id: str) -> int | None:
        """The live row of the rule with this id, searched through every id (a lift by id)."""
        matrix, fmts, escaped = encode_texts([rule_id], self.ids.shape[1])
        if self.n == 0:
            return None
        if int(fmts[0]) == FMT_ESCAPED:
            rows = [r for r, text in self.esc_ids.items() if text == rule_id]
        else:
            width = self.ids.shape[1]
            wanted = np.zeros(width, np.uint8)
            wanted[: matrix.shape[1]] = matrix[0, :width]
            rows = np.flatnonzero((self.ids == wanted).all(axis=1)).tolist()
        for i in rows:
            if self._dead_mv[i >> 3] & _BITS[i & 7]:
                continue
            id_fmt = self.metas[self.meta[i]][3]
            if self._text(i, id_fmt, self.ids, self.esc_ids) == rule_id:
                return int(i)
        del escaped
        return None

    def kill(self, i: int) -> bool:
        """Mark row ``i`` dead (lifted or expired); False if it already was."""
        if self.dead[i >> 3] & _BITS[i & 7]:
            return False
        self.dead[i >> 3] |= _BITS[i & 7]
        self.dead_count += 1
        return True

    def sweep(self, now: float) -> None:
        """Kill every row whose expires_at has come: one vectorised scan per minute of them."""
        if now < self._next_due:
            return
        if not self._pending or now >= self._horizon:
            horizon = now + _SWEEP_WINDOW
            due = np.flatnonzero(self.expires <= horizon)
            self._pending = sorted(zip(self.expires[due].tolist(), due.tolist(), strict=True),
                                   reverse=True)  # fmt: skip
            self._horizon = horizon
        pending = self._pending
        while pending and pending[-1][0] <= now:
            self.kill(pending.pop()[1])
        self._next_due = pending[-1][0] if pending else self._horizon

    def rule(self, i: int) -> Rule:
        issuer, reason, actor, id_fmt, value_fmt = self.metas[self.meta[i]]
        expires = float(self.expires[i])
        return stored_rule(
            self._text(i, id_fmt, self.ids, self.esc_ids),
            _KIND_TEXT[self.kind],
            self._text(i, value_fmt, self.values, self.esc_values),
            issuer,
            None if self.cutoff is None else float(self.cutoff[i]),
            None if math.isnan(expires) else expires,
            reason,
            actor,
            float(self.created[i]),
        )

    def live_rows(self) -> SegmentRows:
        if not self.dead_count:
            return self.as_rows()
        dead = np.unpackbits(np.frombuffer(bytes(self.dead), np.uint8), bitorder="little")
        return self.as_rows().take(np.flatnonzero(dead[: self.n] == 0))

    def as_rows(self) -> SegmentRows:
        meta = self.meta.astype(np.int64)
        return SegmentRows(self.keys, self.ids, self.values, self.created, self.expires,
                           self.cutoff, meta, self.metas, self.esc_ids,
                           self.esc_values)  # fmt: skip

    def live_positions(self) -> Iterator[int]:
        dead = self._dead_mv
        return (i for i in range(self.n) if not dead[i >> 3] & _BITS[i & 7])

    def _cutoff(self, i: int) -> float:
        cutoff = math.inf if self.cutoff is None else float(self.cutoff[i])
        return math.inf if math.isnan(cutoff) else cutoff

    @staticmethod
    def _text(i: int, fmt: int, matrix: U8, escaped: dict[int, str]) -> str:
        return escaped[i] if fmt == FMT_ESCAPED else decode_text(matrix[i], fmt)


class CompactIndex:
    """Segments per kind, a small ``RuleIndex`` of recent adds, and the filters ``match`` probes."""

    __slots__ = ("_absent", "_generations", "delta", "probe", "segments")

    def __init__(self, segments: list[Segment | None] | None = None) -> None:
        self.segments: list[Segment | None] = segments or [None] * len(ORDER)
        self.delta = RuleIndex()
        self._absent: tuple[dict[Any, int], ...] = tuple({} for _ in ORDER)
        self._generations = [0] * len(ORDER)  # adds per kind: outdates what _absent holds
        self.probe: tuple[Any, ...] = ()
        self._publish()

    # -- building -------------------------------------------------------------

    @classmethod
    def from_columns(cls, columns: Columns, now: float) -> CompactIndex:
        """The index of a snapshot's columns (rows expired at ``now`` left out)."""
        live = ~(columns.expires <= now)
        segments: list[Segment | None] = []
        for code in range(len(ORDER)):
            chosen = np.flatnonzero((columns.kinds == code) & live)
            if not chosen.size:
                segments.append(None)
                continue
            pick = chosen.tolist()
            rows = SegmentRows.encode(
                _pick(columns.ids, pick),
                _pick(columns.values, pick),
                triples=columns.triples,
                scopes=columns.scopes[chosen],
                created=columns.created[chosen],
                expires=columns.expires[chosen],
                cutoff=columns.cutoff[chosen] if _CUT[code] else None,
            )
            segments.append(Segment(code, rows, headroom=_headroom(chosen.size)))
        return cls(segments)

    @classmethod
    def from_rows(cls, rows: Iterable[StoredRow], now: float) -> CompactIndex:
        return cls.from_columns(Columns.from_rows(rows), now)

    @classmethod
    def restore(
        cls, segments: list[Segment | None], delta: Iterable[Entry], now: float
    ) -> CompactIndex:
        """An index of restored segments and the delta entries saved beside them."""
        if len(segments) != len(ORDER):
            raise ValueError("a saved index holds the wrong number of kinds")
        index = cls(segments)
        for entry in delta:
            index.insert(entry, now)
        index.sweep(now)
        return index

    def freeze(self) -> Frozen:
        """What saving this index needs, taken at once (under the replica's writer lock):
        segment arrays are never written after a build, so only the filter, the dead
        bits and the delta's entries are copied."""
        return Frozen(
            [None if s is None else (s, bytes(s.bits), bytes(s.dead)) for s in self.segments],
            list(self.delta.by_id.values()),
        )

    # -- the hot path ---------------------------------------------------------

    def match(  # noqa: PLR0912 -- one inline branch per kind: this is the hot path
        self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str
    ) -> Rule | None:
        """The first active rule that revokes this token (as ``index.match_index``)."""
        kb, km, tb, tm, fb, fm, sb, sm, ub, um, cb, cm, ib, im, eb, em = self.probe
        bit, keys = _BITS, KEYS
        try:
            iss = claims.get("iss")
            if kb is not None:
                v = header.get("kid")
                p = keys[v] & km
                if kb[p >> 3] & bit[p & 7] and (rule := self._find(0, v, iss)):
                    return rule
            if tb is not None:
                v = claims.get("jti")
                # As rules.usable_jti: what a token rule can hold, else the signed part's hash.
                if (
                    v.__class__ is not str
                    or not v
                    or len(v) > 1024
                    or "\x00" in v
                    or (v[:3] == "eyJ" and LOOKS_LIKE_JWS.fullmatch(v))
                ):
                    v = _sha256(raw)
                p = keys[v] & tm
                if tb[p >> 3] & bit[p & 7] and (rule := self._find(1, v, iss)):
                    return rule
            if fb is not None:
                v = claims.get("origin_jti")
                p = keys[v] & fm
                if fb[p >> 3] & bit[p & 7] and (rule := self._find(2, v, iss)):
                    return rule
            if sb is not None:
                v = claims.get("sid")
                p = keys[v] & sm
                if sb[p >> 3] & bit[p & 7] and (rule := self._find(3, v, iss)):
                    return rule
            if ub is not None or cb is not None or ib is not None or eb is not None:
                iat = claims.get("iat")
                if ub is not None:
                    v = claims.get("sub")
                    p = keys[v] & um
                    if ub[p >> 3] & bit[p & 7] and (rule := self._find(4, v, iss, iat, cut=True)):
                        return rule
                if eb is not None:
                    v = claims.get("email")
                    if v.__class__ is str:  # as rules.normal_email: rules hold it in lower case
                        v = v.lower()
                        p = keys[v] & em
                        if eb[p >> 3] & bit[p & 7] and (
                            rule := self._find(7, v, iss, iat, cut=True)
                        ):
                            return rule
                if cb is not None:
                    v = claims.get("client_id")
                    if v is None:
                        aud = claims.get("aud")
                        clients = (
                            (aud,) if isinstance(aud, str) else aud if isinstance(aud, list) else ()
                        )
                    else:
                        clients = (v,)
                    for v in clients:
                        p = keys[v] & cm
                        if cb[p >> 3] & bit[p & 7] and (
                            rule := self._find(5, v, iss, iat, cut=True)
                        ):
                            return rule
                if ib is not None:
                    p = keys[iss] & im
                    if ib[p >> 3] & bit[p & 7] and (rule := self._find(6, iss, iss, iat, cut=True)):
                        return rule
        except TypeError:
            # An unhashable or non-numeric claim: retry with only well-typed claims.
            return self.match(plain_claims(claims), plain_header(header), raw)
        return None

    def _find(
        self, code: int, value: Any, iss: Any, iat: Any = None, *, cut: bool = False
    ) -> Rule | None:
        """The slow branch, once the first filter bit is set: bulk rules, then recent ones.

        A value found in no rule of the kind is remembered until the kind's next add
        (``_absent``), so a claim shared by every token (an ``iss``, a ``kid``, a
        missing ``sid``) whose bit happens to be set costs one dict look-up, not this.
        """
        absent, generation = self._absent[code], self._generations[code]
        if absent.get(value) == generation:
            return None
        segment = self.segments[code]
        key = KEYS[value]
        if segment is None or not segment.maybe(key):
            rule, seen = None, False
        else:
            rule, seen = segment.find(value, key, iss, iat, cut) if segment.n else (None, False)
        if rule is None:
            slot = self.delta.index[code].get(value)
            if slot:
                seen = True
                rule = _cut(slot, iss, iat) if cut else scoped(slot, iss)
        if not seen:
            if len(absent) >= _ABSENT_KEPT:
                absent.clear()
            absent[value] = generation  # read before looking: an add meanwhile outdates it
        return rule

    # -- keeping in step --------------------------------------------------------

    def insert(self, entry: Entry, now: float) -> None:
        """Add an entry unless its rule is already here or expired (as ``RuleIndex.insert``)."""
        rule_id, kind, value, expires_at = entry[0], entry[1], entry[2], entry[5]
        if (expires_at is not None and expires_at <= now) or rule_id in self.delta.by_id:
            return
        code = ORDER.index(RuleKind(kind))
        segment = self.segments[code]
        if segment is not None and segment.locate(value, rule_id) is not None:
            return
        if segment is None:
            segment = self.segments[code] = Segment(code, SegmentRows.of_entries([], _CUT[code]),
                                                    headroom=_headroom(0))  # fmt: skip
        segment.add_key(KEYS[value])
        self.delta.insert(entry, now)
        self._generations[code] += 1
        if len(self.delta.by_id) >= MERGE_AT:
            self.merge()
        else:
            self._publish()

    def remove(self, rule_id: str, rule: Rule | None = None) -> None:
        """Drop a rule: found by its value when ``rule`` is given, else by scanning the ids."""
        if rule_id in self.delta.by_id:
            self.delta.remove(rule_id)
        elif rule is not None:
            segment = self.segments[ORDER.index(rule.kind)]
            row = None if segment is None else segment.locate(rule.value, rule_id)
            if segment is not None and row is not None:
                segment.kill(row)
        else:
            for segment in self.segments:
                row = None if segment is None else segment.scan_id(rule_id)
                if segment is not None and row is not None:
                    segment.kill(row)
                    break
        self._publish()

    def sweep(self, now: float) -> None:
        """Drop every rule whose expires_at has come; merge once a segment is an eighth dead."""
        self.delta.sweep(now)
        for segment in self.segments:
            if segment is not None:
                segment.sweep(now)
        if any(s is not None and s.dead_count > max(1024, s.n // 8) for s in self.segments):
            self.merge()
        else:
            self._publish()

    def merge(self) -> None:
        """Rebuild the segments: live bulk rules, then the delta's in add order."""
        by_kind: list[list[Entry]] = [[] for _ in ORDER]
        for entry in self.delta.by_id.values():
            by_kind[ORDER.index(RuleKind(entry[1]))].append(entry)
        segments: list[Segment | None] = []
        for code, segment in enumerate(self.segments):
            recent = by_kind[code]
            if segment is None or (not recent and segment.dead_count == 0):
                segments.append(segment)
                continue
            rows = segment.live_rows()
            if recent:
                rows = SegmentRows.concat(rows, SegmentRows.of_entries(recent, _CUT[code]))
            count = len(rows.keys)
            segments.append(Segment(code, rows, headroom=_headroom(count)) if count else None)
        self.segments = segments
        self.delta = RuleIndex()
        self._publish()

    # -- reading it whole -------------------------------------------------------

    @property
    def rule_count(self) -> int:
        return sum(self.counts())

    def counts(self) -> list[int]:
        """Active rules per kind, in ORDER."""
        return [
            (0 if s is None else s.live) + d
            for s, d in zip(self.segments, self.delta.counts, strict=True)
        ]

    def counts_by_kind(self) -> dict[RuleKind, int]:
        return dict(zip(ORDER, self.counts(), strict=True))

    def rules(self) -> Iterator[Rule]:
        """Every active rule (slow: for change listeners and tests)."""
        for segment in self.segments:
            if segment is not None:
                yield from map(segment.rule, segment.live_positions())
        yield from map(rule_of, self.delta.by_id.values())

    def _publish(self) -> None:
        probe: list[Any] = []
        for segment, count in zip(self.segments, self.counts(), strict=True):
            probe += (None, 0) if segment is None or not count else (segment.bits, segment.mask)
        self.probe = tuple(probe)


@dataclass(frozen=True, slots=True)
class Frozen:
    """An index at one moment: per kind, (segment, its filter, its dead bits), and the
    delta's entries (see ``CompactIndex.freeze``)."""

    segments: list[tuple[Segment, bytes, bytes] | None]
    delta: list[Entry]


def _pick(texts: Sequence[str], rows: list[int]) -> list[str]:
    if len(rows) == len(texts):
        return list(texts)
    return [texts[rows[0]]] if len(rows) == 1 else list(itemgetter(*rows)(texts))


def _headroom(count: int) -> int:
    """Filter room for the adds a segment takes before its next merge."""
    return max(4096, min(MERGE_AT, count // 16))
