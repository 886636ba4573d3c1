"""Structured fields for log records, the same way for every transport.

Call sites pass their fields with ``extra=fields(...)``; the service's formatters
(``revoker.service.logs``) put them beside the message, as ``key=value`` text or
JSON members; any other handler still shows the message. A token never appears
in a field: only ``token_fingerprint`` (a SHA-256 prefix) does, and credentials
are never passed at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["FIELDS_ATTRIBUTE", "fields", "record_fields"]

FIELDS_ATTRIBUTE = "revoker_fields"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the values appear as fields of the record."""
    return {FIELDS_ATTRIBUTE: values}


def record_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    values = getattr(record, FIELDS_ATTRIBUTE, None)
    return values if isinstance(values, Mapping) else {}
