"""``/introspect`` (RFC 7662) and ``/revoke`` (RFC 7009), both with form parameters
``token`` and ``token_type_hint``.

/introspect needs the admin bearer token or a configured client (HTTP Basic).
An active token answers ``{"active": true, ...claims}`` plus the RFC 7662 names
(``token_type``, ``client_id``, ``username``); anything else answers exactly
``{"active": false}``: invalid, expired, revoked, or undecidable (a stale
registry, an unreachable JWKS). The hint is ignored: only JWTs are known here.

/revoke decides who is asking from the ``Authorization`` header:

- none: self-revocation. The token in the form must verify; holding it proves
  possession. Actor ``self:<sub>``.
- ``Bearer <the same token>``: the same, for clients that always send it.
- ``Bearer <admin token>``: any genuine token. Actor ``admin``.
- ``Basic`` with a configured client: as self-revocation, actor ``client:<id>``.
- anything else (another bearer, a wrong secret, another scheme): 401, counted
  by the failed-credential limit.

A genuine token is revoked by its family when it has ``origin_jti``, else by
its ``jti`` (``Authorizer.revoke_token``). An invalid token gets 200 and revokes
nothing (RFC 7009 §2.2). A refresh token cannot be revoked here (Cognito's are
encrypted; the issuer's RevokeToken is the place for them): a compact JWE, or a
non-JWT sent with ``token_type_hint=refresh_token``, gets 400
``unsupported_token_type`` (§2.2.1). Other hints are ignored (§2.1), as are
unknown hint values (§2.2). A store or key-source outage is 503 with
``Retry-After``: the token is still valid, and the client may retry (§2.2.1).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoker.core.errors import RevokerError, TokenRejected
from revoker.core.tokens import b64url_decode, token_fingerprint
from revoker.service.bodies import (
    NO_STORE,
    BodyError,
    error_response,
    read_form,
    revoker_error_response,
)
from revoker.service.credentials import Caller, CallerKind
from revoker.service.forward_auth import identity_values
from revoker.service.gate import credential_failure, identify, introspect_gate, state_of
from revoker.service.logs import fields
from revoker.service.state import ServiceState

__all__ = ["introspection_document", "is_refresh_token_shape", "routes"]

log = logging.getLogger("revoker.service.oauth")

_INACTIVE = {"active": False}
_PARAMETERS = frozenset({"token", "token_type_hint"})
_REVOKE_REASON = "revoked through /revoke (RFC 7009)"


def introspection_document(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``{"active": true}``, the claims, and the RFC 7662 names derived from Cognito's."""
    _, username, _, _, client_id, _ = identity_values(claims)
    document: dict[str, Any] = {"active": True}
    document.update((name, value) for name, value in claims.items() if name != "active")
    document["token_type"] = "Bearer"
    if client_id and "client_id" not in claims:
        document["client_id"] = client_id
    if username and "username" not in claims:
        document["username"] = username
    return document


def is_refresh_token_shape(token: str, hint: str | None) -> bool:
    """A token this service cannot revoke: a compact JWE, or a non-JWT hinted as a refresh token."""
    if token.count(".") == 4:
        try:
            header = json.loads(b64url_decode(token.split(".", 1)[0]))
        except (ValueError, RecursionError, RevokerError):
            return False
        return isinstance(header, dict) and "enc" in header
    return hint == "refresh_token" and token.count(".") != 2


def _required_token(form: Mapping[str, str]) -> str:
    token = form.get("token", "")
    if not token:
        raise BodyError(400, "invalid_request", "the 'token' parameter is required")
    return token


async def introspect(request: Request) -> Response:
    refused = introspect_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    try:
        token = _required_token(
            await read_form(request, state.settings.max_body_bytes, _PARAMETERS)
        )
    except BodyError as exc:
        return exc.response()
    decision = await run_in_threadpool(state.authorizer.check, token)
    state.metrics.count_decision("introspect", decision.reason)
    if not decision.allowed or decision.claims is None:
        log.debug(
            "introspection: inactive",
            extra=fields(reason=decision.reason, token=token_fingerprint(token)),
        )
        return JSONResponse(_INACTIVE, headers=NO_STORE)
    return JSONResponse(introspection_document(decision.claims), headers=NO_STORE)


def _actor(caller: Caller, subject: str) -> str:
    if caller.kind is CallerKind.ADMIN:
        return "admin"
    if caller.kind is CallerKind.CLIENT:
        return f"client:{caller.client_id}"[:200]
    return f"self:{subject}"[:200]


def _revoke(state: ServiceState, token: str, caller: Caller) -> str | None:
    """Revoke a genuine token (in a worker thread: the store write blocks); its rule id."""
    try:
        verified = state.authorizer.verify(token)
    except TokenRejected:
        return None  # an invalid token: nothing to revoke, and still 200
    existing = state.registry.match(verified.claims, verified.header, token)
    if existing is not None:  # revoked already: nothing to add (RegistryStale if unsure)
        return existing.id
    actor = _actor(caller, verified.subject or "unknown")
    rule = state.authorizer.revoke_token(token, actor=actor, reason=_REVOKE_REASON)
    state.metrics.rule_changes.labels("revoke").inc()
    log.info(
        "token revoked",
        extra=fields(
            rule=rule.id, kind=str(rule.kind), actor=actor, token=token_fingerprint(token)
        ),
    )
    return rule.id


async def revoke(request: Request) -> Response:
    state = state_of(request)
    caller, refused = identify(request, "revoke")
    if refused is not None:
        return refused
    if caller.kind is CallerKind.INVALID:
        return credential_failure(request, "revoke", caller, basic=True)
    try:
        form = await read_form(request, state.settings.max_body_bytes, _PARAMETERS)
        token = _required_token(form)
    except BodyError as exc:
        return exc.response()
    if caller.kind is CallerKind.BEARER and not hmac.compare_digest(
        (caller.bearer or "").encode("utf-8", "surrogatepass"),
        token.encode("utf-8", "surrogatepass"),
    ):
        return credential_failure(request, "revoke", caller, basic=False)
    if is_refresh_token_shape(token, form.get("token_type_hint")):
        return error_response(
            400,
            "unsupported_token_type",
            "refresh tokens are revoked at the issuer (Cognito RevokeToken), not here",
        )
    try:
        await run_in_threadpool(_revoke, state, token, caller)
    except RevokerError as exc:
        log.warning(
            "revocation failed",
            extra=fields(reason=exc.reason, detail=str(exc), token=token_fingerprint(token)),
        )
        return revoker_error_response(exc)
    return Response(status_code=200, headers=NO_STORE)


routes = [
    Route("/introspect", introspect, methods=["POST"]),
    Route("/revoke", revoke, methods=["POST"]),
]
