"""The audit log as a download: JSON, or CSV that is safe to open in a spreadsheet.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula
(and some treat a leading tab or carriage return the same way), and an audit
value or reason is typed by whoever made the change: such a cell gets a leading
``'`` (OWASP's advice for CSV injection), so it reads as text. The JSON export
keeps every value exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from revoker.core.registry import AuditEntry

__all__ = ["CSV_COLUMNS", "audit_csv", "audit_json", "safe_cell", "utc"]

CSV_COLUMNS = ("seq", "at", "actor", "action", "rule_id", "kind", "value", "reason")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def utc(ts: float) -> str:
    """Epoch seconds as ISO 8601 in UTC, to the second: ``2026-05-01T10:42:07Z``."""
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(entry: AuditEntry) -> list[str]:
    return [
        str(entry.seq),
        utc(entry.at),
        safe_cell(entry.actor),
        entry.action,
        safe_cell(entry.rule_id),
        safe_cell(entry.kind),
        safe_cell(entry.value),
        safe_cell(entry.reason),
    ]


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """A header row and one row per entry (times in UTC), every typed cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(_row(entry))
    return out.getvalue()


def audit_json(entries: Iterable[AuditEntry], *, filters: Mapping[str, str], now: float) -> str:
    """``{"exported_at", "filters", "entries": [...]}``, as ``GET /admin/audit`` shapes entries."""
    document: dict[str, Any] = {
        "exported_at": utc(now),
        "filters": dict(filters),
        "entries": [entry.to_dict() for entry in entries],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
