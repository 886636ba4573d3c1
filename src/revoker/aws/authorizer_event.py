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
============  ====================================================  =====================

Header names are matched case-insensitively (HTTP API 2.0 lowercases them,
REST does not). A token is ``Bearer <jwt>`` (any case of ``Bearer``) or bare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from revoker.core.errors import ConfigurationError

__all__ = ["AuthorizerRequest", "EventKind", "UnrecognisedEvent", "parse_authorizer_event"]

EventKind = Literal["rest-token", "rest-request", "http-1.0", "http-2.0"]

# Far above any real JWT (revoker refuses tokens over 8 KiB anyway); bounds the work here.
_MAX_HEADER_CHARS = 16_384


class UnrecognisedEvent(ConfigurationError):
    """The function was invoked with something that is not an authorizer event."""

    reason = "unrecognised_event"


@dataclass(frozen=True, slots=True)
class AuthorizerRequest:
    """What the authorizer needs from an event: its kind, the token, the ARN to allow."""

    kind: EventKind
    token: str | None
    resource_arn: str


def parse_authorizer_event(event: Any, *, header: str = "authorization") -> AuthorizerRequest:
    """Classify ``event`` and pull out its bearer token (None when there is none)."""
    if not isinstance(event, Mapping):
        raise UnrecognisedEvent("the authorizer event is not a JSON object")
    version = event.get("version")
    if version == "2.0":
        arn = _arn(event, "routeArn")
        sources = event.get("identitySource")
        fallback = sources[0] if isinstance(sources, list) and len(sources) == 1 else None
        token = _from_headers(event.get("headers"), header) or _bearer(fallback)
        return AuthorizerRequest("http-2.0", token, arn)
    if version == "1.0":
        arn = _arn(event, "methodArn")
        source = event.get("identitySource")
        # A comma joins several identity sources: then only the header can say which is ours.
        fallback = source if isinstance(source, str) and "," not in source else None
        token = _from_headers(event.get("headers"), header) or _bearer(fallback)
        return AuthorizerRequest("http-1.0", token, arn)
    if version is not None:
        raise UnrecognisedEvent("unsupported authorizer payload version")
    kind = event.get("type")
    if kind == "TOKEN":
        return AuthorizerRequest(
            "rest-token", _bearer(event.get("authorizationToken")), _arn(event, "methodArn")
        )
    if kind == "REQUEST":
        arn = _arn(event, "methodArn")
        return AuthorizerRequest("rest-request", _from_headers(event.get("headers"), header), arn)
    raise UnrecognisedEvent("not an API Gateway authorizer event (no type or version)")


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
            return _bearer(value)
    return None


def _bearer(value: object) -> str | None:
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
