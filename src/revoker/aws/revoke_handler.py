"""The revoke function behind API Gateway: ``revoker.aws.revoke_handler.handler``.

A thin translator: the proxy event (REST payload 1.0 or HTTP API 2.0, base64
bodies too) becomes an ``ApiRequest``, the shared ``HttpApi`` answers it exactly
as ``revoker serve`` does (``/revoke``, ``/introspect``, ``/admin/…``,
``/backchannel-logout``, ``/ssf/events``, ``/global-token-revocation``; one contract,
tested over both transports), and the ``Answer`` becomes a proxy response.

With Cognito pass-through on (``REVOKER_PASSTHROUGH_COGNITO``), a refresh token
(a JWE, or ``token_type_hint=refresh_token``) is handed to Cognito
``RevokeToken``, and a ``refresh_token`` field beside a revoked access or ID token
revokes that sign-in's refresh token too, but only when this request created
the family rule. The paths are matched at their end, so a custom domain's base
path in front does not matter.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from revoker.aws.proxy import parse_proxy_event, proxy_response
from revoker.aws.runtime import current_runtime
from revoker.core.errors import RevokerError

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["handle", "handler"]

log = logging.getLogger("revoker.aws")

# The last segments name the route, whatever base path or stage comes first.
_ROUTE = re.compile(
    r"(?:^|/)(?P<route>revoke|introspect|backchannel-logout|ssf/events|global-token-revocation"
    r"|admin(?:/.*)?)/?$"
)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.revoke_handler.handler``)."""
    try:
        runtime = current_runtime()
    except RevokerError as exc:
        log.error("the revoke function is misconfigured: %s", exc.detail)  # noqa: TRY400 - one line
        body = {
            "error": "server_error",
            "error_description": "the revoke function is misconfigured",
        }
        return proxy_response(500, body)
    return handle(runtime, event)


def handle(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Answer one API Gateway proxy event with ``runtime``."""
    from revoker.app.answers import answer_for  # noqa: PLC0415 - with the rest of the app

    try:
        request = parse_proxy_event(event, max_body_bytes=runtime.settings.max_body_bytes)
    except RevokerError as exc:
        answer = answer_for(exc)
        return proxy_response(answer.status, answer.body, answer.headers)
    route = _ROUTE.search(request.path)
    if route is not None:
        request = request.with_path("/" + route["route"].rstrip("/"))
    runtime.sync()  # checks and revocations read the replica: it must be fresh
    answer = runtime.api.handle(request)
    return proxy_response(answer.status, answer.body, answer.headers)
