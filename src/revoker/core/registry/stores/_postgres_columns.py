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
from revoker.core.registry.columns import Columns, NotColumnar, joined_columns

__all__ = ["NotColumnar", "part_columns"]


def part_columns(row: tuple[Any, ...]) -> Columns:
    """The columns of one row of ``active_columns``."""
    _, count, ids, kinds, values, triples, cutoff, expires, created = row
    times = (_floats(cutoff, count), _floats(expires, count), _floats(created, count))
    return joined_columns(count, ids, kinds, values, triples, store="PostgreSQL", times=times)


def _floats(data: bytes, count: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    numbers = np.frombuffer(data, ">f8")
    if numbers.size != count:
        raise StoreError("the PostgreSQL store sent a snapshot of the wrong length")
    return numbers.astype(np.float64)
