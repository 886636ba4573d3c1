"""The PostgreSQL store's columnar snapshot: one row per range of seq, taken apart by numpy.

Each row of the ``active_columns`` query holds a range's rules in seq order: ids,
values and (issuer, reason, actor) as texts joined by separators (``\\x1f``
between fields, ``\\x1e`` between rows), kinds as one digit each, and the times
as ``float8send`` bytes (big-endian IEEE 754, NaN for None), exact by
construction. ``part_columns`` raises ``NotColumnar`` when a text held a
separator: the store then reads that range as rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from revoker.core.errors import StoreError
from revoker.core.registry.columns import KIND_CODES, Columns

__all__ = ["NotColumnar", "part_columns"]


class NotColumnar(Exception):
    """This range cannot be taken apart as columns: read it as rows."""


def part_columns(row: tuple[Any, ...]) -> Columns:
    """The columns of one row of ``active_columns``."""
    _, count, ids, kinds, values, triples, cutoff, expires, created = row
    id_list, value_list, triple_list = (
        ids.split("\x1f"),
        values.split("\x1f"),
        triples.split("\x1e"),
    )
    if not len(id_list) == len(value_list) == len(triple_list) == len(kinds) == count:
        raise NotColumnar("a text holds a separator")
    codes = np.frombuffer(kinds.encode("ascii"), np.uint8) - np.uint8(48)
    if codes.size and codes.max() >= len(KIND_CODES):
        raise StoreError("the PostgreSQL store holds a malformed rule: unknown kind")
    table = dict.fromkeys(triple_list)
    shared: list[tuple[str | None, str, str]] = []
    for number, text in enumerate(table):
        parts = text.split("\x1f")
        if len(parts) != 3:
            raise NotColumnar("a reason or actor holds a separator")
        issuer, reason, actor = parts
        shared.append((issuer or None, reason, actor))
        table[text] = number
    return Columns(
        ids=id_list,
        kinds=codes,
        values=value_list,
        scopes=np.fromiter(map(table.__getitem__, triple_list), np.int64, count),
        triples=shared,
        cutoff=_floats(cutoff, count),
        expires=_floats(expires, count),
        created=_floats(created, count),
    )


def _floats(data: bytes, count: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    numbers = np.frombuffer(data, ">f8")
    if numbers.size != count:
        raise StoreError("the PostgreSQL store sent a snapshot of the wrong length")
    return numbers.astype(np.float64)
