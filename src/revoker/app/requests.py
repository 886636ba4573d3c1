"""Request bodies and query strings, read the same way by every transport.

A transport hands over the raw body (bounded by ``max_body_bytes`` while it
streams it in: the service answers 413 without holding an oversized upload) and
its media type; these functions turn it into the parameters an operation takes,
or raise a ``RequestRefused`` with a clear message. Forms follow RFC 6749 §3.1
(unknown parameters ignored, a known one never repeated); JSON bodies must be
one object with no repeated member names (two parsers that disagree on
``{"kind": "token", "kind": "subject"}`` are how bugs are made).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from revoker.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "FORM",
    "JSON",
    "check_size",
    "media_type",
    "parse_form",
    "parse_json_object",
    "query_bool",
    "query_int",
]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_MAX_FORM_FIELDS = 32


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_size(declared: str | None, limit: int) -> None:
    """Refuse a ``Content-Length`` over ``limit`` (or not a number) before reading."""
    if declared is None:
        return
    # isdigit() alone takes "²", which int() refuses (a 500), as it does 4300+ digits.
    if not (declared.isascii() and declared.isdigit()):
        raise BadRequest("Content-Length is not a number")
    if len(declared) > 20 or int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")


def parse_form(body: bytes, content_type: str | None, known: frozenset[str]) -> dict[str, str]:
    """The ``known`` parameters of an ``application/x-www-form-urlencoded`` body."""
    if media_type(content_type) != FORM:
        raise UnsupportedMediaType(f"send the parameters as {FORM}")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=_MAX_FORM_FIELDS,
            errors="strict",
        )
    except ValueError:  # not UTF-8 (UnicodeDecodeError is a ValueError), or too many fields
        raise BadRequest("the form is not valid UTF-8 form data") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            continue
        if name in form:
            raise BadRequest(f"the parameter {name[:64]!r} is repeated")
        form[name] = value
    return form


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated = next(name for name, _ in pairs if name in seen or seen.add(name))  # type: ignore[func-returns-value]
        raise ValueError(f"the member {repeated[:64]!r} is repeated")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_no_repeats, parse_constant=_no_constants)


def parse_json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object body (``application/json`` or ``…+json``); anything else a clear 4xx."""
    kind = media_type(content_type)
    if kind != JSON and not kind.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as {JSON}")
    try:
        document = _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        message = str(exc).splitlines()[0][:120] if isinstance(exc, ValueError) else "too deep"
        raise BadRequest(f"the body is not valid JSON: {message}") from None
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object")
    return document


def query_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # isdigit() alone takes "²" and "٣", and int() refuses those and 4300+ digits (a 500).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def query_bool(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false")
    return raw in ("true", "1")
