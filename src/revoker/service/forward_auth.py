"""``/auth``: forward-auth for nginx ``auth_request``, Traefik ForwardAuth and Envoy ext_authz.

This is the hot path, written as a raw ASGI callable: it reads the token from
the scope's headers (``Authorization: Bearer`` first, then the configured
cookie), calls the synchronous ``Authorizer.check`` (microseconds once the
token is in the verified cache) and answers with header lists built up front.

- Allowed: 200 with ``X-Auth-Subject``, ``-Username``, ``-Groups``, ``-Scope``,
  ``-Client-Id`` and ``-Token-Use``. All six are always sent (empty when the
  token lacks the claim), so a gateway that copies them replaces whatever the
  client sent under those names.
- Denied: 401 with ``WWW-Authenticate: Bearer error="invalid_token",
  error_description="<reason>"`` (RFC 6750 §3.1); no token at all gets
  ``Bearer realm="..."`` without an error.
- Only 200 and 401, whatever the input: nginx turns any other status of an
  auth subrequest into a 500 of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote

from anyio import to_thread

from revoker.core.authorizer import Authorizer
from revoker.core.errors import REASONS
from revoker.core.tokens import token_fingerprint
from revoker.service.logs import fields
from revoker.service.metrics import MISSING_TOKEN, ServiceMetrics

__all__ = ["IDENTITY_HEADERS", "INTERNAL_ERROR", "ForwardAuth", "identity_values"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("revoker.service.auth")

IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Username",
    "X-Auth-Groups",
    "X-Auth-Scope",
    "X-Auth-Client-Id",
    "X-Auth-Token-Use",
)
#: The reason /auth gives when the check itself failed (a bug): it denies, never a 500.
INTERNAL_ERROR = "internal_error"
_IDENTITY_NAMES = tuple(name.lower().encode("ascii") for name in IDENTITY_HEADERS)
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
# Printable ASCII stays as it is; '%' and anything else is percent-encoded (UTF-8).
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")
_HEADER_CACHE_SIZE = 10_000


def _claim_text(value: Any, separator: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return separator.join(item for item in value if isinstance(item, str))
    return ""


def identity_values(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The six identity values, in ``IDENTITY_HEADERS`` order, from Cognito or OIDC claims."""
    username = claims.get("username") or claims.get("cognito:username")
    groups = claims.get("cognito:groups", claims.get("groups"))
    scope = claims.get("scope", claims.get("scp"))
    client = claims.get("client_id") or claims.get("azp") or claims.get("aud")
    return (
        _claim_text(claims.get("sub"), ","),
        _claim_text(username or claims.get("preferred_username"), ","),
        _claim_text(groups, ","),
        _claim_text(scope, " "),
        _claim_text(client, ","),
        _claim_text(claims.get("token_use"), ","),
    )


def _header_value(text: str) -> bytes:
    # uvicorn refuses control characters in a header (a 500): encode rather than pass them.
    if text.isascii() and text.isprintable() and "%" not in text:
        return text.encode("ascii")
    return quote(text, safe=_SAFE).encode("ascii")


def _body(allowed: bool, reason: str) -> bytes:
    return json.dumps({"allowed": allowed, "reason": reason}, separators=(",", ":")).encode()


# A response as the two ASGI messages that send it, built once and sent as they are
# (servers copy the header list, never edit a message).
_Reply = tuple[Message, Message]


def _reply(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> _Reply:
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class ForwardAuth:
    """The ``/auth`` ASGI callable; any method, any path under ``/auth``."""

    def __init__(
        self,
        authorizer: Authorizer,
        metrics: ServiceMetrics,
        *,
        cookie_name: str | None = None,
        realm: str = "revoker",
    ) -> None:
        self._check = authorizer.check
        self._may_block = authorizer.may_block
        self._counts = metrics.decision_counts("auth")
        self._metrics = metrics
        self._observe = metrics.latency.observe
        self._cookie = cookie_name.encode("ascii") + b"=" if cookie_name else None
        # token -> its whole 200 start message (identity headers included)
        self._allowed_cache: dict[str, Message] = {}
        allowed_body = _body(True, "allowed")
        self._allowed_headers = [
            _JSON,
            _NO_STORE,
            (b"content-length", b"%d" % len(allowed_body)),
        ]
        self._allowed_body: Message = {"type": "http.response.body", "body": allowed_body}
        missing_body = _body(False, MISSING_TOKEN)
        self._missing = _reply(
            401,
            [
                (b"www-authenticate", f'Bearer realm="{realm}"'.encode("ascii")),
                _JSON,
                _NO_STORE,
                (b"content-length", b"%d" % len(missing_body)),
            ],
            missing_body,
        )
        self._denials: dict[str, _Reply] = {}
        for reason in REASONS:
            self._denial(reason)

    def _denial(self, reason: str) -> _Reply:
        denial = self._denials.get(reason)
        if denial is None:
            body = _body(False, reason)
            challenge = f'Bearer error="invalid_token", error_description="{reason}"'
            headers = [
                (b"www-authenticate", challenge.encode("ascii")),
                _JSON,
                _NO_STORE,
                (b"content-length", b"%d" % len(body)),
            ]
            denial = self._denials[reason] = _reply(401, headers, body)
        return denial

    def _token(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        cookie_header: bytes | None = None
        for name, value in headers:
            if name == b"authorization":
                if value[:7].lower() == b"bearer ":
                    return value[7:].strip().decode("latin-1")
            elif name == b"cookie" and cookie_header is None:
                cookie_header = value
        if cookie_header is not None and self._cookie is not None:
            return self._from_cookie(cookie_header)
        return None

    def _from_cookie(self, header: bytes) -> str | None:
        prefix = self._cookie
        assert prefix is not None  # noqa: S101 - only called when a cookie is configured
        for raw in header.split(b";"):
            part = raw.strip()
            if part.startswith(prefix):
                value = part[len(prefix) :].strip()
                if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                return value.decode("latin-1")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self._token(scope["headers"])
        if token is None:
            self._counts[MISSING_TOKEN] += 1
            await send(self._missing[0])
            await send(self._missing[1])
            return
        started = time.perf_counter()
        try:
            if self._may_block(token):
                # A JWKS fetch may be due: wait for it in a thread, not on the loop.
                decision = await to_thread.run_sync(self._check, token)
            else:
                decision = self._check(token)
            reason = decision.reason
            allowed = decision.allowed
        except Exception:  # a bug must still deny, never answer 500 to the gateway
            log.exception("the check failed", extra=fields(token=token_fingerprint(token)))
            allowed, reason = False, INTERNAL_ERROR
        self._observe(time.perf_counter() - started)
        try:
            self._counts[reason] += 1
        except KeyError:  # a reason code added later: counted from now on
            self._metrics.count_decision("auth", reason)
        if allowed:
            start = self._allowed_cache.get(token)
            if start is None:
                start = self._allowed_start(token, decision.claims or {})
            await send(start)
            await send(self._allowed_body)
            return
        if log.isEnabledFor(logging.DEBUG):
            original = _original_request(scope["headers"])
            client = scope.get("client")  # the proxy's word for it with --forwarded-allow-ips
            log.debug(
                "denied",
                extra=fields(
                    reason=reason,
                    token=token_fingerprint(token),
                    client=client[0] if client else None,
                    **original,
                ),
            )
        start, body = self._denials.get(reason) or self._denial(reason)
        await send(start)
        await send(body)

    def _allowed_start(self, token: str, claims: Mapping[str, Any]) -> Message:
        identity = [
            (name, _header_value(value))
            for name, value in zip(_IDENTITY_NAMES, identity_values(claims), strict=True)
        ]
        start = {"type": "http.response.start", "status": 200,
                 "headers": self._allowed_headers + identity}  # fmt: skip
        cache = self._allowed_cache
        if len(cache) >= _HEADER_CACHE_SIZE:
            cache.clear()  # tokens expire; a periodic clean slate bounds the memory simply
        cache[token] = start
        return start


def _original_request(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """What the gateway says it is asking about (X-Original-Method/-URI), for the debug log."""
    wanted = {b"x-original-method": "method", b"x-original-uri": "uri"}
    return {
        wanted[name]: value.decode("latin-1")[:512] for name, value in headers if name in wanted
    }
