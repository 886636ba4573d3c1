"""API Gateway proxy events in, proxy responses out (REST v1 and HTTP API v2 payloads).

``parse_proxy_event`` gives one ``ProxyRequest`` for either shape: the method,
the path without the stage prefix, lowercased headers, the query string, and
the body decoded from base64 when API Gateway encoded it. A malformed event
or body is an ``HttpError`` with a 400 and a stable code, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["HttpError", "ProxyRequest", "json_response", "parse_proxy_event"]

MAX_BODY_BYTES = 64 * 1024


class HttpError(Exception):
    """An HTTP error answer: status, a stable OAuth-style code, and a one-line message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """One HTTP request as API Gateway handed it to Lambda."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)  # names lowercased
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body; a repeated field is an error."""
        media_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            raise HttpError(400, "invalid_request", "the body must be form-encoded")
        try:
            pairs = parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HttpError(400, "invalid_request", "the body is not UTF-8") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:  # RFC 6749 3.1: parameters must not repeat
                raise HttpError(400, "invalid_request", f"the field {name[:32]!r} is repeated")
            form[name] = value
        return form

    def json(self) -> dict[str, Any]:
        """The JSON object body; anything else is a 400."""
        try:
            document = json.loads(self.body or b"{}")
        except (ValueError, RecursionError):
            raise HttpError(400, "invalid_request", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise HttpError(400, "invalid_request", "the body must be a JSON object")
        return document


def parse_proxy_event(event: Any) -> ProxyRequest:
    """Read a REST (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    if not isinstance(event, Mapping):
        raise HttpError(400, "invalid_request", "the event is not a JSON object")
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    if event.get("version") == "2.0":
        http = context.get("http")
        method = http.get("method") if isinstance(http, Mapping) else None
        path = _strip_stage(event.get("rawPath"), context.get("stage"))
    else:
        method = event.get("httpMethod")
        path = event.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise HttpError(400, "invalid_request", "the event is not an API Gateway proxy event")
    headers = {
        str(k).lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)
    }
    query = {
        str(k): v
        for k, v in (event.get("queryStringParameters") or {}).items()
        if isinstance(v, str)
    }
    return ProxyRequest(method.upper(), path, headers, query, _body(event))


def _strip_stage(path: Any, stage: Any) -> Any:
    # HTTP API rawPath keeps a named stage in front ("/prod/revoke"); $default has none.
    if isinstance(path, str) and isinstance(stage, str) and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise HttpError(400, "invalid_request", "the body is not a string")
    if len(body) > 2 * MAX_BODY_BYTES:
        raise HttpError(413, "invalid_request", "the body is too large")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "invalid_request", "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, "invalid_request", "the body is too large")
    return raw


def json_response(
    status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A proxy response both payload versions accept; never cached by the client."""
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            **(headers or {}),
        },
        "body": "" if body is None else json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
