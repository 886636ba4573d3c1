"""``/admin/…``: create, list and lift rules, read the audit log, check a token.

Every route needs ``Authorization: Bearer <admin token>`` (see ``gate``). Every
change is made with the actor ``admin`` and lands in the store's audit log.
Bodies are JSON objects with known fields only: a misspelt field is an error,
not a silently ignored option. Store writes run in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoker.core.errors import RevokerError
from revoker.core.registry import InvalidRule, RuleFilter, RuleKind
from revoker.service.bodies import (
    NO_STORE,
    BodyError,
    read_json_object,
    revoker_error_response,
)
from revoker.service.gate import admin_gate, state_of
from revoker.service.logs import fields

__all__ = ["MAX_PAGE", "parse_time", "routes"]

log = logging.getLogger("revoker.service.admin")

ACTOR = "admin"
MAX_PAGE = 1000
_MAX_OFFSET = 1_000_000_000
_MAX_REASON_LENGTH = 1024
_RULE_FIELDS = frozenset({"kind", "value", "issuer", "cutoff", "expires_at", "reason"})
_KINDS = ", ".join(kind.value for kind in RuleKind)


def parse_time(value: object, name: str, *, now: float) -> float:
    """Epoch seconds (a number), ``"now"``, or ISO 8601 (UTC when no zone is given)."""
    if isinstance(value, bool):
        raise InvalidRule(f"{name} must be epoch seconds or an ISO 8601 time")
    if isinstance(value, int | float):
        try:
            number = float(value)  # a JSON integer of 400 digits overflows here
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or number < 0:
            raise InvalidRule(f"{name} must be a finite, non-negative number of epoch seconds")
        return number
    if not isinstance(value, str):
        raise InvalidRule(f"{name} must be epoch seconds or an ISO 8601 time")
    if value.strip().lower() == "now":
        return now
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRule(f"{name} {value[:64]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _text(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRule(f"the field {name!r} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRule(f"the field {name!r} must be a string")
    return value


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isdigit() alone takes "²" and "٣", and int() refuses those and 4300+ digits (a 500):
    # a few ASCII digits only.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20) or not low <= int(raw) <= high:
        raise BodyError(400, "invalid_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BodyError(400, "invalid_request", f"{name} must be true or false")
    return raw in ("true", "1")


async def create_rule(request: Request) -> Response:
    refused = admin_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    try:
        body = await read_json_object(request, state.settings.max_body_bytes)
        unknown = sorted(set(body) - _RULE_FIELDS)
        if unknown:
            raise InvalidRule(f"unknown field {unknown[0][:64]!r}: expected {sorted(_RULE_FIELDS)}")
        kind = _text(body, "kind", required=True)
        if kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {str(kind)[:64]!r}: expected one of {_KINDS}")
        now = state.clock()
        times = {
            name: parse_time(body[name], name, now=now) if body.get(name) is not None else None
            for name in ("cutoff", "expires_at")
        }
        value = _text(body, "value", required=True)
        assert value is not None  # noqa: S101 - required=True
        rule = await run_in_threadpool(
            state.registry.revoke,
            RuleKind(kind),
            value,
            issuer=_text(body, "issuer", required=False),
            cutoff=times["cutoff"],
            expires_at=times["expires_at"],
            reason=_text(body, "reason", required=False) or "",
            actor=ACTOR,
        )
    except BodyError as exc:
        return exc.response()
    except RevokerError as exc:
        return revoker_error_response(exc)
    state.metrics.rule_changes.labels("revoke").inc()
    log.info("rule created", extra=fields(rule=rule.id, kind=str(rule.kind), actor=ACTOR))
    return JSONResponse(rule.to_dict(), status_code=201, headers=NO_STORE)


async def list_rules(request: Request) -> Response:
    refused = admin_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    params = request.query_params
    try:
        kind = params.get("kind")
        if kind is not None and kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {kind[:64]!r}: expected one of {_KINDS}")
        rule_filter = RuleFilter(
            kind=RuleKind(kind) if kind else None,
            value=params.get("value"),
            issuer=params.get("issuer"),
            include_expired=_bool_param(request, "include_expired"),
            limit=_int_param(request, "limit", 100, 1, MAX_PAGE),
            offset=_int_param(request, "offset", 0, 0, _MAX_OFFSET),
        )
        rules = await run_in_threadpool(state.registry.rules, rule_filter)
    except BodyError as exc:
        return exc.response()
    except RevokerError as exc:
        return revoker_error_response(exc)
    document = {
        "rules": [rule.to_dict() for rule in rules],
        "limit": rule_filter.limit,
        "offset": rule_filter.offset,
    }
    return JSONResponse(document, headers=NO_STORE)


async def lift_rule(request: Request) -> Response:
    refused = admin_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    rule_id: str = request.path_params["rule_id"]
    reason = request.query_params.get("reason", "")
    try:
        if len(reason) > _MAX_REASON_LENGTH:
            raise InvalidRule(f"reason is longer than {_MAX_REASON_LENGTH} characters")
        rule = await run_in_threadpool(state.registry.lift, rule_id, actor=ACTOR, reason=reason)
    except RevokerError as exc:
        return revoker_error_response(exc)
    state.metrics.rule_changes.labels("lift").inc()
    log.info("rule lifted", extra=fields(rule=rule.id, kind=str(rule.kind), actor=ACTOR))
    return JSONResponse(rule.to_dict(), headers=NO_STORE)


async def audit(request: Request) -> Response:
    refused = admin_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    try:
        limit = _int_param(request, "limit", 100, 1, MAX_PAGE)
        since = _int_param(request, "since", 0, 0, 2**62)
        entries = await run_in_threadpool(state.registry.audit, limit=limit, since_seq=since)
    except BodyError as exc:
        return exc.response()
    except RevokerError as exc:
        return revoker_error_response(exc)
    return JSONResponse({"entries": [e.to_dict() for e in entries]}, headers=NO_STORE)


def _check_token(body: Mapping[str, Any]) -> str:
    unknown = sorted(set(body) - {"token"})
    if unknown:
        raise BodyError(400, "invalid_request", f"unknown field {unknown[0][:64]!r}")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise BodyError(400, "invalid_request", "the field 'token' must be a non-empty string")
    return token


async def check(request: Request) -> Response:
    refused = admin_gate(request)
    if refused is not None:
        return refused
    state = state_of(request)
    try:
        token = _check_token(await read_json_object(request, state.settings.max_body_bytes))
    except BodyError as exc:
        return exc.response()
    decision = await run_in_threadpool(state.authorizer.check, token)
    state.metrics.count_decision("check", decision.reason)
    document = {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "rule": decision.rule.to_dict() if decision.rule is not None else None,
        "claims": dict(decision.claims) if decision.claims is not None else None,
    }
    return JSONResponse(document, headers=NO_STORE)


async def rules(request: Request) -> Response:
    # One route for both methods, so a 405 on /admin/rules lists both in Allow.
    if request.method == "POST":
        return await create_rule(request)
    return await list_rules(request)


routes = [
    Route("/admin/rules", rules, methods=["GET", "POST"]),
    Route("/admin/rules/{rule_id}", lift_rule, methods=["DELETE"]),
    Route("/admin/audit", audit, methods=["GET"]),
    Route("/admin/check", check, methods=["POST"]),
]
