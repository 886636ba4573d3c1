"""The ``/admin/...`` routes of the revoke function, on the same store as the authorizer.

==========================  ===============================================================
``POST /admin/rules``       JSON ``{kind, value, issuer?, cutoff?, expires_at?, reason?}``
                            → 201 ``{"rule": …}`` (then the pass-through calls)
``GET /admin/rules``        ``?kind=&value=&issuer=&include_expired=&limit=&offset=``
                            → 200 ``{"rules": […]}``, oldest first
``GET /admin/rules/{id}``   → 200 ``{"rule": …}`` or 404
``DELETE /admin/rules/{id}`` ``?reason=`` → 200 ``{"rule": …}`` (lifted) or 404
``GET /admin/audit``        ``?limit=&since_seq=`` → 200 ``{"entries": […]}``
``POST /admin/check``       JSON ``{"token": …}`` → 200 ``{"allowed", "reason", "rule"}``
==========================  ===============================================================

Every route needs ``Authorization: Bearer <admin token>``; every change is
audited by the store with the actor ``admin`` (or the ``actor`` given).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from revoker.aws.proxy import HttpError, ProxyRequest, json_response
from revoker.core.registry.rules import RuleKind
from revoker.core.registry.store import RuleFilter

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["admin_route"]

log = logging.getLogger("revoker.aws")

_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def admin_route(runtime: Runtime, request: ProxyRequest, path: str) -> dict[str, Any]:
    """Answer one admin request; ``path`` is what follows ``/admin``."""
    method = request.method
    if path == "/rules":
        if method == "POST":
            return _create(runtime, request)
        if method == "GET":
            return _list(runtime, request)
    elif path.startswith("/rules/") and path.count("/") == 2:
        rule_id = unquote(path.removeprefix("/rules/"))
        if method == "GET":
            return _get(runtime, rule_id)
        if method == "DELETE":
            return _lift(runtime, request, rule_id)
    elif path == "/audit":
        if method == "GET":
            return _audit(runtime, request)
    elif path == "/check":
        if method == "POST":
            return _check(runtime, request)
    else:
        raise HttpError(404, "not_found", "no such admin route")
    raise HttpError(405, "method_not_allowed", f"{method} is not allowed here")


def _create(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    body = request.json()
    rule = runtime.registry.revoke(
        _required(body, "kind"),
        _required(body, "value"),
        issuer=_text(body, "issuer"),
        cutoff=_number(body, "cutoff"),
        expires_at=_number(body, "expires_at"),
        reason=_text(body, "reason") or "",
        actor=_text(body, "actor") or "admin",
    )
    log.info("revoked kind=%s rule=%s actor=%s", rule.kind, rule.id, rule.actor)
    runtime.passthrough.after_revoke(rule)
    return json_response(201, {"rule": rule.to_dict()})


def _list(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    query = request.query
    kind = query.get("kind")
    try:
        rule_kind = RuleKind(kind) if kind else None
    except ValueError:
        raise HttpError(400, "invalid_rule", f"unknown rule kind {str(kind)[:32]!r}") from None
    rule_filter = RuleFilter(
        kind=rule_kind,
        value=query.get("value") or None,
        issuer=query.get("issuer") or None,
        include_expired=_flag(query.get("include_expired", "false")),
        limit=_integer(query, "limit", 100),
        offset=_integer(query, "offset", 0),
    )
    return json_response(200, {"rules": [r.to_dict() for r in runtime.registry.rules(rule_filter)]})


def _get(runtime: Runtime, rule_id: str) -> dict[str, Any]:
    rule = runtime.registry.get(rule_id)
    if rule is None:
        raise HttpError(404, "rule_not_found", "no rule has that id")
    return json_response(200, {"rule": rule.to_dict()})


def _lift(runtime: Runtime, request: ProxyRequest, rule_id: str) -> dict[str, Any]:
    reason = request.query.get("reason", "")
    rule = runtime.registry.lift(rule_id, actor="admin", reason=reason)  # RuleNotFound: 404
    log.info("lifted kind=%s rule=%s", rule.kind, rule.id)
    return json_response(200, {"rule": rule.to_dict()})


def _audit(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    limit = _integer(request.query, "limit", 100)
    if not 1 <= limit <= 10_000:
        raise HttpError(400, "invalid_request", "limit must be between 1 and 10000")
    since_seq = _integer(request.query, "since_seq", 0)
    entries = runtime.registry.audit(limit=limit, since_seq=since_seq)
    return json_response(200, {"entries": [e.to_dict() for e in entries]})


def _check(runtime: Runtime, request: ProxyRequest) -> dict[str, Any]:
    token = _required(request.json(), "token")
    runtime.sync()
    decision = runtime.authorizer.check(token)
    claims = decision.claims or {}
    return json_response(
        200,
        {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "rule": decision.rule.to_dict() if decision.rule is not None else None,
            "sub": claims.get("sub") if decision.verified else None,
        },
    )


def _required(body: dict[str, Any], name: str) -> str:
    value = _text(body, name)
    if value is None:
        raise HttpError(400, "invalid_request", f"the field {name!r} is required")
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError(400, "invalid_request", f"the field {name!r} must be a string")
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HttpError(400, "invalid_request", f"the field {name!r} must be epoch seconds")
    return float(value)


def _integer(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # isdigit() alone takes "²" or "٣", which int() then refuses: ASCII digits only.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise HttpError(400, "invalid_request", f"{name} must be a non-negative integer")
    return int(raw)


def _flag(raw: str) -> bool:
    value = _FLAGS.get(raw.lower())
    if value is None:
        raise HttpError(400, "invalid_request", "include_expired must be true or false")
    return value
