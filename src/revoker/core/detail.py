"""Pieces of an error detail that are safe to show: received values, lists and times.

A detail goes into logs and a ``WWW-Authenticate`` header, and part of it comes
from the token, which anyone can write. ``shown`` therefore truncates a value and
escapes everything outside printable ASCII, and the quote and backslash that a
quoted header string would take for its own, so a detail is one line of ASCII
whatever the token held. Callers show only values that are safe to show (an
issuer, an audience, a token use, an alg, a kid, a time), never the token itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

__all__ = ["MAX_SHOWN_CHARS", "MAX_SHOWN_ITEMS", "iso_time", "shown", "shown_list"]

#: Longest received text shown, before the ellipsis.
MAX_SHOWN_CHARS = 64
#: Most list members shown, before "and N more".
MAX_SHOWN_ITEMS = 5

# The characters a shown string keeps as they are: printable ASCII but the quotes
# (ours and the header's) and the backslash, which escapes use.
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"'", '"', "\\"}


def _escape(char: str) -> str:
    if char in _PLAIN:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object, *, limit: int = MAX_SHOWN_CHARS) -> str:
    """A received value for a detail: a string quoted, truncated and escaped; else its type."""
    if isinstance(value, str):
        cut = value[:limit]
        text = "".join(_escape(char) for char in cut)
        return f"'{text}'" + ("..." if len(value) > limit else "")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return "a non-finite number"
        digits = str(value)
        return digits if len(digits) <= 24 else "a number of " + str(len(digits)) + " digits"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a " + type(value).__name__


def shown_list(values: Iterable[object], *, limit: int = MAX_SHOWN_ITEMS) -> str:
    """Several values as ``['a', 'b']``, at most ``limit`` of them, then how many more."""
    items = list(values)
    parts = [shown(item) for item in items[:limit]]
    more = len(items) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "[" + ", ".join(parts) + "]"


def iso_time(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC (``2023-11-14T22:13:20Z``); out-of-range times in words."""
    try:
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"epoch second {seconds:.6g}" if math.isfinite(seconds) else "a non-finite time"
    text = moment.isoformat(timespec="milliseconds" if seconds % 1 else "seconds")
    return text.replace("+00:00", "Z")
