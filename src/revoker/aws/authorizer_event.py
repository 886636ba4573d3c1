"""Reading an API Gateway authorizer event: which kind it is, its token, its resource ARN.

The kind is told apart from the event itself, as API Gateway sends it:

============  ====================================================  =====================
kind          how it is recognised                                  token from
============  ====================================================  =====================
rest-token    ``type: TOKEN``                                       ``authorizationToken``
rest-request  ``type: REQUEST``, ``methodArn``, no ``version``      the auth header
http-1.0      ``version: "1.0"``, ``methodArn``                     the auth header, else
                                                                    ``identitySource``
http-2.0      ``version: "2.0"``, ``routeArn``                      the auth header, else a
                                                                    single ``identitySource``
websocket     ``type: REQUEST`` and a ``requestContext`` with       the token sources, in
              ``connectionId``, ``eventType: CONNECT`` or           order (below)
              ``routeKey: $connect``
============  ====================================================  =====================

Header names are matched case-insensitively (HTTP API 2.0 lowercases them,
REST does not). A token is ``Bearer <jwt>`` (any case of ``Bearer``) or bare.

A WebSocket ``$connect`` has three places a token can come from, because a
browser cannot set a header on a WebSocket: ``header:NAME``, ``query:NAME``
(a query string parameter) and ``protocol:MARKER`` (the ``Sec-WebSocket-Protocol``
entry right after ``MARKER``: ``new WebSocket(url, ["bearer", jwt])``); the first
configured source that holds a token wins. A WebSocket event whose connection
cannot be read (no connection id, a method ARN that is not this API's
``$connect``) is a ``MalformedEvent``: the authorizer denies it, it never
allows a connection it could not record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from revoker.core.errors import ConfigurationError, RevokerError

__all__ = [
    "AuthorizerRequest",
    "EventKind",
    "MalformedEvent",
    "TokenSource",
    "UnrecognisedEvent",
    "WebSocketConnect",
    "bearer_token",
    "parse_authorizer_event",
    "subprotocols",
    "token_sources",
]

EventKind = Literal["rest-token", "rest-request", "http-1.0", "http-2.0", "websocket"]

# Far above any real JWT (revoker refuses tokens over 8 KiB anyway); bounds the work here.
_MAX_HEADER_CHARS = 16_384


class UnrecognisedEvent(ConfigurationError):
    """The function was invoked with something that is not an authorizer event."""

    reason = "unrecognised_event"


class MalformedEvent(RevokerError):
    """An event of a known kind whose parts cannot be read; denied, never an outage."""

    reason = "malformed_event"


@dataclass(frozen=True, slots=True)
class TokenSource:
    """One place a WebSocket ``$connect`` may carry the token."""

    kind: Literal["header", "query", "protocol"]
    name: str  # the header (lower case), the query parameter, or the subprotocol marker


def token_sources(configured: Iterable[str]) -> tuple[TokenSource, ...]:
    """``header:NAME``, ``query:NAME``, ``protocol:MARKER`` entries (the settings check them)."""
    sources: list[TokenSource] = []
    for entry in configured:
        kind, _, name = entry.partition(":")
        if kind == "header":
            sources.append(TokenSource("header", name.lower()))
        elif kind in ("query", "protocol") and name:
            sources.append(TokenSource("query" if kind == "query" else "protocol", name))
        else:
            raise ConfigurationError(f"{entry[:64]!r} is not a WebSocket token source")
    return tuple(sources)


@dataclass(frozen=True, slots=True)
class WebSocketConnect:
    """The connection a ``$connect`` opens, and where its Management API answers."""

    connection_id: str
    api_id: str
    stage: str
    region: str
    endpoint: str  # https://{api}.execute-api.{region}.{suffix}/{stage}, for DeleteConnection


@dataclass(frozen=True, slots=True)
class AuthorizerRequest:
    """What the authorizer needs from an event: its kind, the token, the ARN to allow."""

    kind: EventKind
    token: str | None
    resource_arn: str
    connection: WebSocketConnect | None = None  # websocket only


_DEFAULT_SOURCES = (TokenSource("header", "authorization"),)


def parse_authorizer_event(
    event: Any,
    *,
    header: str = "authorization",
    websocket: tuple[TokenSource, ...] = _DEFAULT_SOURCES,
) -> AuthorizerRequest:
    """Classify ``event`` and pull out its bearer token (None when there is none)."""
    if not isinstance(event, Mapping):
        raise UnrecognisedEvent("the authorizer event is not a JSON object")
    if _is_websocket(event):
        return _websocket(event, websocket)
    version = event.get("version")
    if version == "2.0":
        arn = _arn(event, "routeArn")
        sources = event.get("identitySource")
        fallback = sources[0] if isinstance(sources, list) and len(sources) == 1 else None
        token = _from_headers(event.get("headers"), header) or bearer_token(fallback)
        return AuthorizerRequest("http-2.0", token, arn)
    if version == "1.0":
        arn = _arn(event, "methodArn")
        source = event.get("identitySource")
        # A comma joins several identity sources: then only the header can say which is ours.
        fallback = source if isinstance(source, str) and "," not in source else None
        token = _from_headers(event.get("headers"), header) or bearer_token(fallback)
        return AuthorizerRequest("http-1.0", token, arn)
    if version is not None:
        raise UnrecognisedEvent("unsupported authorizer payload version")
    kind = event.get("type")
    if kind == "TOKEN":
        return AuthorizerRequest(
            "rest-token", bearer_token(event.get("authorizationToken")), _arn(event, "methodArn")
        )
    if kind == "REQUEST":
        arn = _arn(event, "methodArn")
        return AuthorizerRequest("rest-request", _from_headers(event.get("headers"), header), arn)
    raise UnrecognisedEvent("not an API Gateway authorizer event (no type or version)")


def _is_websocket(event: Mapping[str, Any]) -> bool:
    """A REQUEST event for a ``$connect`` route, by its ARN or its request context."""
    if event.get("type") != "REQUEST" or "version" in event:
        return False
    arn = event.get("methodArn")
    if isinstance(arn, str) and arn.endswith("/$connect"):
        return True
    context = event.get("requestContext")
    return isinstance(context, Mapping) and (
        "connectionId" in context
        or context.get("eventType") == "CONNECT"
        or context.get("routeKey") == "$connect"
    )


# arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/$connect
_CONNECT_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):execute-api:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]):"
    r"[0-9]{12}:(?P<api>[a-z0-9]{1,64})/(?P<stage>[A-Za-z0-9_-]{1,128})/\$connect"
)
_SUFFIX = {"aws": "amazonaws.com", "aws-us-gov": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}
# API Gateway's connection ids are short base64 (``FDmBIeapIAMCIQg=``).
_CONNECTION_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")


def _websocket(event: Mapping[str, Any], sources: tuple[TokenSource, ...]) -> AuthorizerRequest:
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        raise MalformedEvent("the WebSocket event has no requestContext")
    arn = event.get("methodArn")
    match = _CONNECT_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None or not isinstance(arn, str):
        raise MalformedEvent("the WebSocket event's methodArn is not a $connect route ARN")
    connection_id = context.get("connectionId")
    if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
        raise MalformedEvent("the WebSocket event has no usable requestContext.connectionId")
    for name in ("apiId", "stage"):
        given = context.get(name)
        if given is not None and given != match[name.removesuffix("Id")]:
            raise MalformedEvent(f"the WebSocket event's requestContext.{name} is not its ARN's")
    if (
        context.get("routeKey", "$connect") != "$connect"
        or context.get("eventType", "CONNECT") != "CONNECT"
    ):
        raise MalformedEvent("a WebSocket authorizer runs for $connect only")
    api, stage, region = match["api"], match["stage"], match["region"]
    endpoint = f"https://{api}.execute-api.{region}.{_SUFFIX[match['partition']]}/{stage}"
    connection = WebSocketConnect(connection_id, api, stage, region, endpoint)
    return AuthorizerRequest("websocket", _websocket_token(event, sources), arn, connection)


def _websocket_token(event: Mapping[str, Any], sources: tuple[TokenSource, ...]) -> str | None:
    for source in sources:
        if source.kind == "header":
            token = _from_headers(event.get("headers"), source.name)
        elif source.kind == "query":
            query = event.get("queryStringParameters")
            token = bearer_token(query.get(source.name)) if isinstance(query, Mapping) else None
        else:
            token = _from_protocols(event.get("headers"), source.name)
        if token is not None:
            return token
    return None


def _from_protocols(headers: Any, marker: str) -> str | None:
    """The ``Sec-WebSocket-Protocol`` entry right after ``marker`` (a bare JWT)."""
    offered = subprotocols(headers)
    if marker not in offered:
        return None
    position = offered.index(marker) + 1
    if position >= len(offered):
        return None
    token = offered[position]
    return token if bearer_token(token) == token else None


def subprotocols(headers: Any) -> list[str]:
    """The subprotocols a WebSocket handshake offers, in order (``Sec-WebSocket-Protocol``)."""
    if not isinstance(headers, Mapping):
        return []
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == "sec-websocket-protocol":
            if not isinstance(value, str) or len(value) > _MAX_HEADER_CHARS:
                return []
            return [part.strip() for part in value.split(",") if part.strip()]
    return []


def _arn(event: Mapping[str, Any], name: str) -> str:
    arn = event.get(name)
    if not isinstance(arn, str) or not arn.startswith("arn:") or len(arn) > 2048:
        raise UnrecognisedEvent(f"the authorizer event has no usable {name}")
    return arn


def _from_headers(headers: Any, name: str) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return bearer_token(value)
    return None


def bearer_token(value: object) -> str | None:
    """The token of ``Bearer <token>`` or a bare token; None for anything else."""
    if not isinstance(value, str) or len(value) > _MAX_HEADER_CHARS:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if rest:
        if scheme.lower() != "bearer":
            return None  # another scheme (Basic, …): not ours to read
        value = rest.strip()
    # A token is one word: a space inside means a malformed header, not a token.
    if not value or any(c.isspace() for c in value):
        return None
    return value
