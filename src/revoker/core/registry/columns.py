"""A snapshot as columns, and the fixed-width byte encoding the compact index keeps.

``Columns`` is what a store's ``snapshot_columns`` hands the replica: one list
or numpy array per field, rows in the order they were added (the order the
replica keeps for rules sharing a value). ``Columns.from_rows`` builds one
from ``rules.StoredRow`` tuples, for stores without a columnar snapshot.

``encode_texts`` packs ids and values into one zero-padded ``uint8`` matrix
row each, with a per-row format code: a canonical UUID (lowercase, with
hyphens) as its 16 bytes, lowercase hex as its bytes, other text as UTF-8.
What does not fit (longer than the cap, or ending in NUL) is *escaped*: kept
as the string itself, beside the matrix. ``decode_text`` gives the string back
exactly. The common shapes (UUIDs, 32- and 64-digit hex) are recognised and
converted with numpy over the whole column; the rest one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from revoker.core.errors import StoreError
from revoker.core.registry.index import ORDER
from revoker.core.registry.rules import StoredRow

__all__ = [
    "FMT_ESCAPED",
    "FMT_HEX",
    "FMT_TEXT",
    "FMT_UUID",
    "KIND_CODES",
    "ORDER",
    "Columns",
    "NotColumnar",
    "decode_text",
    "encode_texts",
    "fixed_point_floats",
    "joined_columns",
]

# A kind's code in ``Columns.kinds`` is its place in ``index.ORDER``, the order ``match`` checks.
KIND_CODES: dict[str, int] = {kind.value: code for code, kind in enumerate(ORDER)}

FMT_ESCAPED = 0  # kept as a str beside the matrix
FMT_UUID = 1  # 16 bytes, printed back as 8-4-4-4-12 lowercase hex
FMT_TEXT = 2  # UTF-8 (surrogatepass), zero padded, never ending in NUL
FMT_HEX = 3  # 3 + k: k bytes, printed back as 2k lowercase hex digits

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_UUID_HEX_AT = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
_UUID_DASHES = np.array([8, 13, 18, 23])
_NONE = float("nan")  # a missing cutoff or expires_at in a float column

U8 = npt.NDArray[np.uint8]
F8 = npt.NDArray[np.float64]


@dataclass(slots=True)
class Columns:
    """A snapshot's rules as columns, in add order; ``nan`` stands for None in floats.

    ``scopes[i]`` indexes ``triples``: the rule's (issuer, reason, actor), kept
    once each, since a few of them are shared by millions of rules.
    """

    ids: Sequence[str]
    kinds: U8  # codes in ORDER
    values: Sequence[str]
    scopes: npt.NDArray[np.int64]
    triples: list[tuple[str | None, str, str]]
    cutoff: F8
    expires: F8
    created: F8

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_rows(cls, rows: Iterable[StoredRow]) -> Columns:
        """Columns of trusted store rows; an unknown kind is a ``StoreError``."""
        listed = list(rows)
        if not listed:
            return cls.empty()
        ids, kinds, values, issuers, cutoffs, expiries, reasons, actors, created = zip(
            *listed, strict=True
        )
        try:
            codes = np.fromiter(map(KIND_CODES.__getitem__, kinds), np.uint8, len(listed))
        except KeyError as exc:
            raise StoreError(
                f"the store holds a malformed rule: unknown kind {exc.args[0]!r}"
            ) from None
        table: dict[tuple[str | None, str, str], int] = {}
        triples = list(zip(issuers, reasons, actors, strict=True))
        scopes = np.fromiter(
            (table.setdefault(t, len(table)) for t in triples), np.int64, len(listed)
        )
        return cls(
            ids=ids,
            kinds=codes,
            values=values,
            scopes=scopes,
            triples=list(table),
            cutoff=_floats(cutoffs),
            expires=_floats(expiries),
            created=np.array(created, dtype=np.float64),
        )

    @classmethod
    def empty(cls) -> Columns:
        none = np.zeros(0, np.float64)
        return cls((), np.zeros(0, np.uint8), (), np.zeros(0, np.int64), [], none, none, none)

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        """One ``Columns`` of several, in order (each part's triples renumbered)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        table: dict[tuple[str | None, str, str], int] = {}
        ids: list[str] = []
        values: list[str] = []
        scopes = []
        for part in parts:
            remap = np.array([table.setdefault(t, len(table)) for t in part.triples], np.int64)
            scopes.append(remap[part.scopes] if len(part) else part.scopes)
            ids += part.ids
            values += part.values
        return cls(
            ids=ids,
            kinds=np.concatenate([p.kinds for p in parts]),
            values=values,
            scopes=np.concatenate(scopes),
            triples=list(table),
            cutoff=np.concatenate([p.cutoff for p in parts]),
            expires=np.concatenate([p.expires for p in parts]),
            created=np.concatenate([p.created for p in parts]),
        )


def _floats(numbers: Sequence[float | None]) -> F8:
    return np.array([_NONE if x is None else x for x in numbers], dtype=np.float64)


class NotColumnar(Exception):
    """This part of a snapshot cannot be taken apart as columns: read it as rows."""


def joined_columns(
    count: int,
    ids: str,
    kinds: str,
    values: str,
    triples: str,
    *,
    store: str,
    times: tuple[F8, F8, F8],
) -> Columns:
    """The columns of ``count`` rules a SQL aggregate sent joined: ids, values and
    (issuer, reason, actor) by ``\\x1f`` between fields and ``\\x1e`` between rows, kinds as
    one digit each; ``times`` are (cutoff, expires, created), already decoded.
    ``NotColumnar`` when a text held a separator, ``StoreError`` for an unknown kind."""
    id_list, value_list = ids.split("\x1f"), values.split("\x1f")
    triple_list = triples.split("\x1e")
    if not len(id_list) == len(value_list) == len(triple_list) == len(kinds) == count:
        raise NotColumnar("a text holds a separator")
    codes = np.frombuffer(kinds.encode("ascii"), np.uint8) - np.uint8(48)
    if codes.size and codes.max() >= len(KIND_CODES):
        raise StoreError(f"the {store} store holds a malformed rule: unknown kind")
    table = dict.fromkeys(triple_list)
    shared: list[tuple[str | None, str, str]] = []
    for number, text in enumerate(table):
        parts = text.split("\x1f")
        if len(parts) != 3:
            raise NotColumnar("a reason or actor holds a separator")
        issuer, reason, actor = parts
        shared.append((issuer or None, reason, actor))
        table[text] = number
    cutoff, expires, created = times
    return Columns(
        ids=id_list,
        kinds=codes,
        values=value_list,
        scopes=np.fromiter(map(table.__getitem__, triple_list), np.int64, count),
        triples=shared,
        cutoff=cutoff,
        expires=expires,
        created=created,
    )


def fixed_point_floats(text: str, count: int, width: int, offset: int, scale: int) -> F8:
    """Floats sent as fixed-width decimal digits of ``x * scale + offset`` (see the SQLite
    store); a value below the offset stands for None."""
    digits = np.frombuffer(text.encode("ascii"), np.uint8)
    if digits.size != count * width:
        raise ValueError("fixed-width numbers of the wrong length")
    matrix = digits.reshape(count, width).astype(np.int64) - 48
    if matrix.size and (matrix.min() < 0 or matrix.max() > 9):
        raise ValueError("fixed-width numbers with a non-digit")
    number = np.zeros(count, np.int64)
    for column in range(width):
        number = number * 10 + matrix[:, column]
    number -= offset
    out = number.astype(np.float64) / scale
    out[number < 0] = _NONE
    return out


def encode_texts(texts: Sequence[str], cap: int) -> tuple[U8, U8, dict[int, str]]:
    """The matrix (one padded row per text), each row's format code, and the escaped texts
    by row. The matrix is as wide as all but the longest 0.1% of the rows (at most ``cap``
    bytes): one long value must not widen a million rows; longer ones are escaped."""
    n = len(texts)
    fmts = np.full(n, FMT_ESCAPED, np.uint8)
    if n == 0:
        return np.zeros((0, 1), np.uint8), fmts, {}
    lens = np.fromiter(map(len, texts), np.int64, n)
    joined = "".join(texts)
    pieces: list[tuple[npt.NDArray[np.intp], U8]] = []  # (row numbers, their encoded rows)
    if joined.isascii():
        rest = _encode_ascii(np.frombuffer(joined.encode("ascii"), np.uint8), lens, cap, fmts,
                             pieces)  # fmt: skip
    else:
        rest = list(range(n))
    rows: dict[int, bytes] = {}  # encoded one by one
    escaped: dict[int, str] = {}
    for row in rest:
        fmt, data = _encode_one(texts[row], cap)
        fmts[row] = fmt
        if data is None:
            escaped[row] = texts[row]
        else:
            rows[row] = data
    sizes = np.zeros(n, np.int64)
    for chosen, encoded in pieces:
        sizes[chosen] = encoded.shape[1]
    text = fmts == FMT_TEXT
    sizes[text] = lens[text]  # ascii text here; text encoded one by one is set below
    for row, data in rows.items():
        sizes[row] = len(data)
    kept = np.sort(sizes[fmts != FMT_ESCAPED])
    width = max(1, int(kept[-(kept.size // 1000) - 1])) if kept.size else 1
    for row in np.flatnonzero(sizes > width).tolist():
        escaped[row] = texts[row]
        fmts[row] = FMT_ESCAPED
        rows.pop(row, None)
    matrix = np.zeros((n, width), np.uint8)
    for chosen, encoded in pieces:
        fits = fmts[chosen] != FMT_ESCAPED
        matrix[chosen[fits], : min(width, encoded.shape[1])] = encoded[fits][:, :width]
    for row, data in rows.items():
        matrix[row, : len(data)] = np.frombuffer(data, np.uint8)
    return matrix, fmts, escaped


def _encode_ascii(
    buf: U8, lens: npt.NDArray[np.int64], cap: int, fmts: U8, pieces: list[Any]
) -> list[int]:
    """Encode the UUID, hex and plain text rows of an all-ASCII column with numpy; set their
    formats, add (rows, encoded) to ``pieces``; the rows left to encode one by one."""
    starts = np.cumsum(lens) - lens
    todo = np.ones(lens.size, bool)

    def chars_of(rows: npt.NDArray[np.intp], width: int) -> U8:
        chars: U8 = buf[starts[rows, None] + np.arange(width)]
        return chars

    uuids = np.flatnonzero(lens == 36)
    if uuids.size:
        chars = chars_of(uuids, 36)
        digits = chars[:, _UUID_HEX_AT]
        ok = (chars[:, _UUID_DASHES] == 45).all(axis=1) & _is_hex(digits).all(axis=1)
        pieces.append((uuids[ok], _unhex(digits[ok])))
        fmts[uuids[ok]] = FMT_UUID
        todo[uuids[ok]] = False
    for length in (32, 64):
        hexes = np.flatnonzero(todo & (lens == length))
        if hexes.size and length // 2 <= cap:
            chars = chars_of(hexes, length)
            ok = _is_hex(chars).all(axis=1)
            pieces.append((hexes[ok], _unhex(chars[ok])))
            fmts[hexes[ok]] = FMT_HEX + length // 2
            todo[hexes[ok]] = False
    plain = np.flatnonzero(todo & (lens > 0) & (lens <= cap))
    if plain.size:
        width = int(lens[plain].max())
        at = starts[plain, None] + np.arange(width)
        inside = np.arange(width) < lens[plain, None]
        chars = np.where(inside, buf[np.minimum(at, buf.size - 1)], 0).astype(np.uint8)
        ok = chars[np.arange(plain.size), lens[plain] - 1] != 0  # never ending in NUL
        pieces.append((plain[ok], chars[ok]))
        fmts[plain[ok]] = FMT_TEXT
        todo[plain[ok]] = False
    return list(np.flatnonzero(todo).tolist())


def _is_hex(chars: U8) -> npt.NDArray[np.bool_]:
    return ((chars >= 48) & (chars <= 57)) | ((chars >= 97) & (chars <= 102))


def _unhex(chars: U8) -> U8:
    nibbles = np.where(chars >= 97, chars - 87, chars - 48).astype(np.uint8)
    return (nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).astype(np.uint8)


def _encode_one(text: str, cap: int) -> tuple[int, bytes | None]:
    if len(text) == 36 and _UUID.fullmatch(text):
        return FMT_UUID, bytes.fromhex(text.replace("-", ""))
    if len(text) // 2 <= cap and _HEX.fullmatch(text):
        return FMT_HEX + len(text) // 2, bytes.fromhex(text)
    data = text.encode("utf-8", "surrogatepass")
    if 0 < len(data) <= cap and not data.endswith(b"\0"):
        return FMT_TEXT, data
    return FMT_ESCAPED, None


def decode_text(row: Any, fmt: int) -> str:
    """The text a matrix row holds in format ``fmt`` (not ``FMT_ESCAPED``)."""
    data = row.tobytes()
    if fmt == FMT_UUID:
        h = data[:16].hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if fmt == FMT_TEXT:
        return str(data.rstrip(b"\0").decode("utf-8", "surrogatepass"))
    return str(data[: fmt - FMT_HEX].hex())
