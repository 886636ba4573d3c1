"""API Gateway proxy events in, proxy responses out (REST v1 and HTTP API v2 payloads).

``parse_proxy_event`` gives one ``ApiRequest`` for either shape: the method, the
path without the stage prefix, lower-cased headers, the query string, the body
decoded from base64 when API Gateway encoded it, and the caller's address
(``requestContext.identity.sourceIp`` or ``requestContext.http.sourceIp``). A
malformed event or an oversized body is a ``RequestRefused`` (400/413), never
a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from revoker.app.http_api import ApiRequest
from revoker.core.errors import BadRequest, PayloadTooLarge

__all__ = ["parse_proxy_event", "proxy_response"]


def parse_proxy_event(event: Any, *, max_body_bytes: int) -> ApiRequest:
    """Read a REST (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    if not isinstance(event, Mapping):
        raise BadRequest("the event is not a JSON object")
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    if event.get("version") == "2.0":
        http = context.get("http")
        http = http if isinstance(http, Mapping) else {}
        method = http.get("method")
        path = _strip_stage(event.get("rawPath"), context.get("stage"))
        source = http.get("sourceIp")
    else:
        method = event.get("httpMethod")
        path = event.get("path")
        identity = context.get("identity")
        source = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    if not isinstance(method, str) or not isinstance(path, str):
        raise BadRequest("the event is not an API Gateway proxy event")
    raw_headers, raw_query = event.get("headers"), event.get("queryStringParameters")
    if not isinstance(raw_headers, Mapping | None) or not isinstance(raw_query, Mapping | None):
        raise BadRequest("the event's headers or query parameters are not objects")
    headers: dict[str, str] = {}
    for name, value in (raw_headers or {}).items():
        if isinstance(value, str):
            headers.setdefault(str(name).lower(), value)
    query = {str(k): v for k, v in (raw_query or {}).items() if isinstance(v, str)}
    return ApiRequest(
        method=method.upper(),
        path=path,
        headers=headers,
        query=query,
        body=_body(event, max_body_bytes),
        client=source if isinstance(source, str) and source else "unknown",
    )


def _strip_stage(path: Any, stage: Any) -> Any:
    # HTTP API rawPath keeps a named stage in front ("/prod/revoke"); $default has none.
    if isinstance(path, str) and isinstance(stage, str) and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _body(event: Mapping[str, Any], limit: int) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("the body is not a string")
    if len(body) > 2 * limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return raw


def proxy_response(
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
