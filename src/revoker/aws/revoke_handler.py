"""The revoke function behind API Gateway: ``revoker.aws.revoke_handler.handler``.

``POST /revoke`` is RFC 7009: a form with ``token`` and an optional
``token_type_hint``. Holding a token is the right to revoke it: a genuine
access or ID token revokes its family (Cognito's ``origin_jti``, so the ID
and access tokens of that sign-in go together) or, without one, itself. The
answer is 200 with an empty body, for an invalid token too, as the RFC says;
503 only when the store or the keys cannot be reached. With Cognito
pass-through on, a ``refresh_token`` field (or ``token_type_hint=
refresh_token``) is passed to Cognito ``RevokeToken``. The ``/admin/...``
routes (``admin_routes``) need the admin credential
(``REVOKER_ADMIN_TOKEN`` or a Secrets Manager secret). Both payload versions
and base64 bodies are read (``proxy``). Self-contained: it shares the core
and the store with the authorizer, never the HTTP service's code.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import TYPE_CHECKING, Any

from revoker.aws.admin_routes import admin_route
from revoker.aws.proxy import HttpError, ProxyRequest, json_response, parse_proxy_event
from revoker.aws.runtime import current_runtime
from revoker.core.errors import RevokerError, TokenRejected
from revoker.core.tokens import token_fingerprint

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["handle", "handler"]

log = logging.getLogger("revoker.aws")

# Matched at the end of the path, so a custom domain's base path in front does not matter.
_REVOKE = re.compile(r"(?:^|/)revoke/?$")
_ADMIN = re.compile(r"(?:^|/)admin(/.*)$")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.revoke_handler.handler``)."""
    try:
        runtime = current_runtime()
    except RevokerError as exc:
        log.error("the revoke function is misconfigured: %s", exc)  # noqa: TRY400 - one line
        return _error(500, "server_error", "the revoke function is misconfigured")
    return handle(runtime, event)


def handle(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Answer one API Gateway proxy event with ``runtime``."""
    try:
        return _route(runtime, parse_proxy_event(event))
    except HttpError as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="revoker"'} if exc.status == 401 else None
        return _error(exc.status, exc.code, exc.message, headers)
    except RevokerError as exc:
        message = " ".join(str(exc).split())
        if exc.http_status >= 500:
            log.warning("request failed: %s: %s", exc.reason, message)
        return _error(exc.http_status, exc.reason, message)


def _route(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    if _REVOKE.search(request.path):
        if request.method != "POST":
            raise HttpError(405, "method_not_allowed", "use POST")
        return _revoke(runtime, request)
    admin = _ADMIN.search(request.path)
    if admin is None:
        raise HttpError(404, "not_found", "no such route")
    _require_admin(runtime, request)
    return admin_route(runtime, request, admin.group(1).rstrip("/") or "/")


def _revoke(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    form = request.form()
    token = form.get("token")
    if not token:
        raise HttpError(400, "invalid_request", "the form field 'token' is required")
    admin = _is_admin(runtime, request)
    refresh_token = form.get("refresh_token") or None
    if form.get("token_type_hint") == "refresh_token":
        # Opaque to us (Cognito encrypts it): only Cognito can revoke it.
        _revoke_refresh_token(runtime, token, form.get("client_id") or _single_audience(runtime))
        return json_response(200, None)
    runtime.sync()  # revoke_token matches the replica first: it must be fresh
    try:
        verified = runtime.authorizer.verify(token)
        # Possession is the right to revoke: the audit names whose token it was.
        actor = "admin" if admin else f"self:{verified.subject}"[:256]
        rule = runtime.authorizer.revoke_token(token, actor=actor, reason="revoked at /revoke")
    except TokenRejected as exc:
        fingerprint = token_fingerprint(token)
        log.info("revoke of an invalid token ignored: %s token=%s", exc.reason, fingerprint)
        return json_response(200, None)
    log.info("revoked kind=%s rule=%s actor=%s", rule.kind, rule.id, actor)
    claims = verified.claims
    client_id = claims.get("client_id") or claims.get("aud")
    runtime.passthrough.after_revoke(
        rule,
        refresh_token=refresh_token,
        client_id=client_id if isinstance(client_id, str) else None,
    )
    return json_response(200, None)


def _revoke_refresh_token(runtime: Runtime, token: str, client_id: str | None) -> None:
    if not runtime.config.passthrough_cognito:
        fingerprint = token_fingerprint(token)
        log.info("refresh token %s not revoked: Cognito pass-through is off", fingerprint)
        return
    if client_id is None:
        raise HttpError(400, "invalid_request", "a refresh token needs the form field 'client_id'")
    runtime.passthrough.revoke_refresh_token(token, client_id)


def _single_audience(runtime: Runtime) -> str | None:
    audience = runtime.settings.audience
    return audience[0] if audience is not None and len(audience) == 1 else None


def _is_admin(runtime: Runtime, request: ProxyRequest) -> bool:
    expected = runtime.admin_token()
    header = request.header("authorization") or ""
    scheme, _, presented = header.strip().partition(" ")
    if not expected or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def _require_admin(runtime: Runtime, request: ProxyRequest) -> None:
    if not runtime.admin_token():
        raise HttpError(403, "admin_disabled", "no admin credential is configured")
    if not _is_admin(runtime, request):
        raise HttpError(401, "invalid_token", "the admin credential is missing or wrong")


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return json_response(status, {"error": code, "error_description": message}, headers)
