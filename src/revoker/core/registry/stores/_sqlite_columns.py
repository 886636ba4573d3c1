"""The SQLite store's columnar snapshot: one aggregate query per page, taken apart by numpy.

``QUERY`` reads a range of active rules (``seq > ?``, ``seq <= ?``, ``expires_at > ?``,
in seq order) and returns, besides the row count and the last seq, each
column as one string: ids, values and (issuer, reason, actor) joined by
separators (``\\x1f`` between fields, ``\\x1e`` between rows), kinds as one digit
each, and every time as the 18 digits of ``round(time * 2**22) + 5 * 10**17``
(None as -1 s). That is exact for any time that is a whole multiple of 2**-22 s
between 0 and 10**11 s, which every ``time.time()`` of this century is; the
query also says whether every time of the page was exact, and ``page_columns``
raises ``NotColumnar`` when one was not, or when a text held a separator: the
store then reads that page as rows.
"""

from __future__ import annotations

from typing import Any

from revoker.core.registry.columns import (
    F8,
    KIND_CODES,
    Columns,
    NotColumnar,
    fixed_point_floats,
    joined_columns,
)

__all__ = ["QUERY", "NotColumnar", "page_columns"]

_SCALE = 4_194_304  # 2**22
_OFFSET = 500_000_000_000_000_000  # 5 * 10**17: every encoded time has 18 digits
_WIDTH = 18
_KINDS = " ".join(f"WHEN '{kind}' THEN '{code}'" for kind, code in KIND_CODES.items())


def _digits(column: str) -> str:
    return f"group_concat(CAST(coalesce({column}, -1.0) * {_SCALE} AS INTEGER) + {_OFFSET}, '')"


def _exact(column: str) -> str:
    return (
        f"({column} IS NULL OR ({column} >= 0 AND {column} < 1e11"
        f" AND {column} * {_SCALE} = CAST({column} * {_SCALE} AS INTEGER)))"
    )


QUERY = f"""
SELECT count(*), max(seq),
    group_concat(id, char(31)),
    group_concat(CASE kind {_KINDS} ELSE '9' END, ''),
    group_concat(value, char(31)),
    group_concat(coalesce(issuer, '') || char(31) || reason || char(31) || actor, char(30)),
    {_digits("cutoff")}, {_digits("expires_at")}, {_digits("created_at")},
    min({_exact("cutoff")} AND {_exact("expires_at")} AND created_at IS NOT NULL
        AND {_exact("created_at")})
FROM (SELECT * FROM rules WHERE seq > ? AND seq <= ? AND (expires_at IS NULL OR expires_at > ?)
      ORDER BY seq)
"""  # noqa: S608 -- built from constants


def page_columns(count: int, row: tuple[Any, ...]) -> Columns:
    """The columns of one page ``QUERY`` returned; ``NotColumnar`` when the page must be
    read as rows, ``StoreError`` for a rule of an unknown kind."""
    _, _, ids, kinds, values, triples, cutoff, expires, created, exact = row
    if not exact:
        raise NotColumnar("a time is not a whole multiple of 2**-22 s")

    def floats(text: str) -> F8:
        return fixed_point_floats(text, count, _WIDTH, _OFFSET, _SCALE)

    times = (floats(cutoff), floats(expires), floats(created))
    return joined_columns(count, ids, kinds, values, triples, store="SQLite", times=times)
