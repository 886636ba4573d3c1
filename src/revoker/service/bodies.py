"""Bounded request bodies (forms and JSON), and the JSON errors every route answers with.

Errors follow RFC 6749 §5.2: ``{"error": code, "error_description": text}``.
A body over the limit is refused from its ``Content-Length`` when it has one,
and while streaming otherwise, so an oversized upload is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from revoker.core.errors import CannotDecide, RegistryStale, RevokerError, StoreError, TokenRejected
from revoker.core.registry import InvalidRule, RuleNotFound

__all__ = [
    "NO_STORE",
    "RETRY_AFTER_SECONDS",
    "BodyError",
    "error_response",
    "read_body",
    "read_form",
    "read_json_object",
    "revoker_error_response",
]

#: Token responses must not be cached (RFC 6749 §5.1 asks the same of token endpoints).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_FIELDS = 32


class BodyError(Exception):
    """A request body the service refuses; becomes an error response as it is."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error, self.description)


def error_response(
    status: int,
    error: str,
    description: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    content: dict[str, str] = {"error": error}
    if description:
        content["error_description"] = description
    return JSONResponse(content, status_code=status, headers={**NO_STORE, **(headers or {})})


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``BodyError`` 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        # isdigit() alone takes "²", which int() refuses (a 500), as it does 4300+ digits.
        if not (declared.isascii() and declared.isdigit()):
            raise BodyError(400, "invalid_request", "Content-Length is not a number")
        if len(declared) > 20 or int(declared) > limit:
            raise BodyError(413, "request_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "request_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, limit: int, known: frozenset[str]) -> dict[str, str]:
    """The ``known`` parameters of an ``application/x-www-form-urlencoded`` body.

    RFC 6749 §3.1: unrecognised parameters are ignored, and a recognised one must
    not be repeated (400 ``invalid_request``).
    """
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise BodyError(
            415, "invalid_request", "send the parameters as application/x-www-form-urlencoded"
        )
    body = await read_body(request, limit)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=_MAX_FORM_FIELDS,
            errors="strict",
        )
    except ValueError:  # not UTF-8 (UnicodeDecodeError is a ValueError), or too many fields
        raise BodyError(400, "invalid_request", "the form is not valid UTF-8 form data") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            continue
        if name in form:
            raise BodyError(400, "invalid_request", f"the parameter {name[:64]!r} is repeated")
        form[name] = value
    return form


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object body (``application/json``); anything else is a clear 4xx."""
    media_type = _media_type(request)
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise BodyError(415, "invalid_request", "send the body as application/json")
    body = await read_body(request, limit)
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        message = str(exc).splitlines()[0][:120] if isinstance(exc, ValueError) else "too deep"
        raise BodyError(400, "invalid_request", f"the body is not valid JSON: {message}") from None
    if not isinstance(document, dict):
        raise BodyError(400, "invalid_request", "the body must be a JSON object")
    return document


#: Seconds a client should wait before retrying a 503 (RFC 7009 §2.2.1 suggests Retry-After).
RETRY_AFTER_SECONDS = 5


def revoker_error_response(exc: RevokerError) -> JSONResponse:
    """One rule for every revoker error a route can meet: a stable code, never a traceback.

    Store and key-source outages are 503 with ``Retry-After``; their messages
    stay in the log (a store URL may name a host an outsider should not see).
    """
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, StoreError | RegistryStale):
        detail = "the rule store is unavailable; retry later"
        return error_response(503, "store_unavailable", detail, retry)
    if isinstance(exc, CannotDecide):
        return error_response(503, exc.reason, "cannot decide now; retry later", retry)
    if isinstance(exc, InvalidRule | RuleNotFound | TokenRejected):
        return error_response(exc.http_status, exc.reason, str(exc))
    return error_response(500, exc.reason, "the service is misconfigured")
