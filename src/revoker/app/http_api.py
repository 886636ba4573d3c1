"""The JSON/form API that both HTTP transports serve: ``/introspect`` (RFC 7662), ``/revoke``
(RFC 7009), ``/admin/…`` and the provider signals (``/backchannel-logout``, ``/ssf/events``
for RFC 8935 pushes of Shared Signals, ``/global-token-revocation``), as one table of
routes over the operations.

The Starlette service and the API Gateway revoke function are thin translators:
each turns its request into an ``ApiRequest`` (method, path, lower-cased
headers, query, body bytes, client address), calls ``HttpApi.handle`` and turns
the ``Answer`` back; so the two answer the same, status and body
(``tests/app/test_admin_contract.py`` runs one suite over both).

/revoke decides who is asking from the ``Authorization`` header:

- none: self-revocation. The token in the form must verify; holding it proves
  possession. Actor ``self:<sub>``.
- ``Bearer <the same token>``: the same, for clients that always send it.
- ``Bearer <admin token>``: any genuine token. Actor ``admin``.
- ``Basic`` with a configured client: as self-revocation, actor ``client:<id>``.
- anything else (another bearer, a wrong secret, another scheme): 401, counted
  by the failed-credential limit (a wrong bearer spends the admin budget: it
  may be a guess at the admin token).

A genuine token always gets its own rule (``Operations.revoke_by_possession``).
An invalid token gets 200 and revokes nothing (RFC 7009 §2.2; the log and a
metric say why). A refresh token cannot be revoked here unless the transport
hands refresh tokens on (the Lambda's Cognito pass-through): a compact JWE, or a
non-JWT sent with ``token_type_hint=refresh_token``, is 400
``unsupported_token_type`` (§2.2.1). A store or key-source outage is 503 with
``Retry-After``: the token is still valid, and the client may retry.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from revoker.app.access import Access, Caller, CallerKind
from revoker.app.answers import Answer, answer_for, error_answer
from revoker.app.logfields import fields
from revoker.app.operations import Operations, RuleEvent, required_token
from revoker.app.requests import media_type, parse_form, parse_json_object
from revoker.core.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    RevokerError,
    TokenRejected,
    Unauthenticated,
)
from revoker.core.tokens import b64url_decode, token_fingerprint

__all__ = [
    "ROUTES",
    "SECEVENT_JWT",
    "ApiRequest",
    "HttpApi",
    "RefreshTokenRevoker",
    "is_refresh_token_shape",
    "set_error",
]

log = logging.getLogger("revoker.api")

ADMIN_ACTOR = "admin"
_REVOKE_FORM = frozenset({"token", "token_type_hint", "refresh_token", "client_id"})
_INTROSPECT_FORM = frozenset({"token", "token_type_hint"})
_LOGOUT_FORM = frozenset({"logout_token"})
#: RFC 8935 §2.1: a pushed SET's media type.
SECEVENT_JWT = "application/secevent+jwt"
#: The failed-credential budget of a transmitter's push token.
PUSH_BUDGET = "push"
_RULE_ID = re.compile(r"^/admin/rules/(?P<rule_id>[^/]{1,128})$")

#: Hands a refresh token to its issuer (Cognito RevokeToken); (token, client_id). True once
#: revoked, False when the issuer refused it (RFC 7009 §2.2: still 200); a failure worth
#: retrying raises a ``CannotDecide`` error (503).
RefreshTokenRevoker = Callable[[str, str | None], bool]

#: Every route: its path (``{rule_id}`` a placeholder) and methods, for the transports.
ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/introspect", ("POST",)),
    ("/revoke", ("POST",)),
    ("/admin/rules", ("GET", "POST")),
    ("/admin/rules/{rule_id}", ("GET", "DELETE")),
    ("/admin/audit", ("GET",)),
    ("/admin/check", ("POST",)),
    ("/backchannel-logout", ("POST",)),
    ("/ssf/events", ("POST",)),
    ("/global-token-revocation", ("POST",)),
)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request as a transport received it."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = "unknown"  # the client's address, as the transport trusts it

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def with_path(self, path: str) -> ApiRequest:
        return dataclasses.replace(self, path=path)


def is_refresh_token_shape(token: str, hint: str | None) -> bool:
    """A token this service cannot revoke: a compact JWE, or a non-JWT hinted as a refresh token."""
    if token.count(".") == 4:
        try:
            header = json.loads(b64url_decode(token.split(".", 1)[0]))
        except (ValueError, RecursionError, RevokerError):
            return False
        return isinstance(header, dict) and "enc" in header
    return hint == "refresh_token" and token.count(".") != 2


_Handler = Callable[["HttpApi", ApiRequest, Mapping[str, str]], Answer]


class HttpApi:
    """``handle(request) -> Answer`` for every route in ``ROUTES``; never raises."""

    def __init__(
        self,
        operations: Operations,
        access: Access,
        *,
        refresh_tokens: RefreshTokenRevoker | None = None,
    ) -> None:
        self.operations = operations
        self.access = access
        self._refresh_tokens = refresh_tokens

    def handle(self, request: ApiRequest) -> Answer:
        try:
            handler, params = self._route(request)
            return handler(self, request, params)
        except RevokerError as exc:
            if exc.http_status >= 500:
                log.warning(
                    "request failed path=%s reason=%s: %s", request.path, exc.reason, exc.detail
                )
            return answer_for(exc)
        except Exception:  # a bug: answer 500 in the JSON shape, never a traceback
            log.exception("the request failed", extra=fields(path=request.path[:128]))
            return error_answer(500, "server_error", "the request could not be completed")

    def _route(self, request: ApiRequest) -> tuple[_Handler, Mapping[str, str]]:
        path = request.path
        params: dict[str, str] = {}
        matched = _RULE_ID.match(path)
        if matched is not None:
            params["rule_id"] = matched["rule_id"]
            key = "/admin/rules/{rule_id}"
        else:
            key = path
        methods = _HANDLERS.get(key)
        if methods is None:
            raise NotFound(f"no route {path[:64]!r}")
        handler = methods.get(request.method)
        if handler is None:
            allow = tuple(methods)
            raise MethodNotAllowed(f"{request.method[:16]} is not allowed here", allow=allow)
        return handler, params

    # -- /introspect --------------------------------------------------------------

    def introspect(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        self.access.introspect_gate(request.header("authorization"), request.client)
        form = parse_form(request.body, request.header("content-type"), _INTROSPECT_FORM)
        return Answer(200, self.operations.introspect(required_token(form)))

    # -- /revoke ------------------------------------------------------------------

    def revoke(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        access, client = self.access, request.client
        caller = access.identify(request.header("authorization"), client, "revoke")
        if caller.kind is CallerKind.INVALID:
            raise access.fail(caller, client, "revoke", basic=True)
        form = parse_form(request.body, request.header("content-type"), _REVOKE_FORM)
        token = required_token(form)
        if caller.kind is CallerKind.BEARER and not hmac.compare_digest(
            (caller.bearer or "").encode("utf-8", "surrogatepass"),
            token.encode("utf-8", "surrogatepass"),
        ):
            raise access.fail(caller, client, "revoke", basic=False)
        if is_refresh_token_shape(token, form.get("token_type_hint")):
            return self._refresh_token(token, form.get("client_id") or None)
        event = RuleEvent(
            "admin" if caller.kind is CallerKind.ADMIN else "self",
            refresh_token=form.get("refresh_token") or None,
            client_id=form.get("client_id") or None,
        )
        self.operations.revoke_by_possession(token, actor=_actor(caller), event=event)
        return Answer(200, None)

    def _refresh_token(self, token: str, client_id: str | None) -> Answer:
        if self._refresh_tokens is None:
            return error_answer(
                400,
                "unsupported_token_type",
                "refresh tokens are revoked at the issuer (Cognito RevokeToken), not here",
            )
        revoked = self._refresh_tokens(token, client_id)
        message = "refresh token revoked at the issuer" if revoked else "the issuer refused it"
        log.info(message, extra=fields(token=token_fingerprint(token)))
        return Answer(200, None)

    # -- /backchannel-logout (OIDC Back-Channel Logout 1.0, §2.8) ------------------

    def backchannel_logout(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        """200 with ``Cache-Control: no-store`` once the rule is durable (a replay too); 400
        with an OAuth-style error for a refused logout token, creating nothing."""
        off = self.operations.revoker.settings.backchannel_logout_off_because()
        if off is not None:
            raise NotFound(off)
        form = parse_form(request.body, request.header("content-type"), _LOGOUT_FORM)
        logout_token = form.get("logout_token", "")
        if not logout_token:
            raise BadRequest("the 'logout_token' parameter is required")
        try:
            self.operations.backchannel_logout(logout_token)
        except TokenRejected as exc:
            return error_answer(400, "invalid_request", f"{exc.reason}: {exc.detail}")
        return Answer(200, None)

    # -- /ssf/events (RFC 8935 push of Shared Signals SETs) -----------------------------

    def ssf_events(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        """202 once the SET's rule is durable (or it was applied already, or it makes none);
        400 ``{"err", "description"}`` with RFC 8935's codes and nothing stored; 503 when
        the store or the transmitter's keys cannot be reached, so the transmitter retries."""
        from revoker.app.signals.receiver import SetRefused  # noqa: PLC0415 - a light import

        settings = self.operations.revoker.settings
        if not settings.ssf_enabled:
            raise NotFound("Shared Signals are off: no --ssf-transmitter is trusted")
        if settings.ssf_push_token is None:
            return set_error(
                "access_denied",
                "push delivery is off here (no --ssf-push-token): the stream must poll",
            )
        try:
            self.access.secret_gate(
                request.header("authorization"), request.client, "ssf_events",
                secret=settings.ssf_push_token, budget=PUSH_BUDGET,
            )  # fmt: skip
        except Unauthenticated:
            return set_error(
                "authentication_failed",
                "a push must carry Authorization: Bearer <the push token of the stream>",
            )
        if media_type(request.header("content-type")) != SECEVENT_JWT:
            return set_error("invalid_request", f"send the SET as {SECEVENT_JWT} (RFC 8935 §2.1)")
        try:
            set_token = request.body.decode("ascii").strip()
        except UnicodeDecodeError:
            set_token = ""
        if not set_token or any(c.isspace() for c in set_token):
            return set_error("invalid_request", "the body is not one compact JWS (a SET)")
        try:
            self.operations.receive_security_event(set_token, delivery="push")
        except SetRefused as exc:
            return set_error(exc.err, exc.description)
        return Answer(202, None)

    # -- /global-token-revocation (draft-parecki-oauth-global-token-revocation) ----------

    def global_token_revocation(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        """204 once the cut-off is durable; 400, 401, 403 or 422 as the draft lists them."""
        if not self.operations.revoker.settings.gtr_enabled:
            raise NotFound("Global Token Revocation is off: no --gtr-token or --gtr-issuer")
        self.operations.global_token_revocation(
            request.body,
            content_type=request.header("content-type"),
            authorization=request.header("authorization"),
            client=request.client,
            access=self.access,
        )
        return Answer(204, None)

    # -- /admin -------------------------------------------------------------------

    def _admin(self, request: ApiRequest) -> None:
        self.access.admin_gate(request.header("authorization"), request.client)

    def create_rule(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        self._admin(request)
        body = parse_json_object(request.body, request.header("content-type"))
        rule = self.operations.create_rule(body, actor=ADMIN_ACTOR)
        return Answer(201, {"rule": rule.to_dict()})

    def list_rules(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        self._admin(request)
        return Answer(200, self.operations.list_rules(request.query))

    def get_rule(self, request: ApiRequest, params: Mapping[str, str]) -> Answer:
        self._admin(request)
        return Answer(200, {"rule": self.operations.get_rule(params["rule_id"]).to_dict()})

    def lift_rule(self, request: ApiRequest, params: Mapping[str, str]) -> Answer:
        self._admin(request)
        reason = request.query.get("reason", "")
        rule = self.operations.lift_rule(params["rule_id"], reason=reason, actor=ADMIN_ACTOR)
        return Answer(200, {"rule": rule.to_dict()})

    def audit(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        self._admin(request)
        return Answer(200, self.operations.audit(request.query))

    def check(self, request: ApiRequest, _params: Mapping[str, str]) -> Answer:
        self._admin(request)
        body = parse_json_object(request.body, request.header("content-type"))
        unknown = sorted(set(body) - {"token"})
        if unknown:
            raise BadRequest(f"unknown field {unknown[0][:64]!r}")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise BadRequest("the field 'token' must be a non-empty string")
        decision = self.operations.check(token, endpoint="check")
        return Answer(200, self.operations.decision_document(decision))


def set_error(err: str, description: str) -> Answer:
    """RFC 8935 §2.3's failure answer: 400 with ``{"err", "description"}``."""
    return Answer(400, {"err": err, "description": description})


def _actor(caller: Caller) -> str | Callable[[Any], str]:
    if caller.kind is CallerKind.ADMIN:
        return ADMIN_ACTOR
    if caller.kind is CallerKind.CLIENT:
        return f"client:{caller.client_id}"
    return lambda verified: f"self:{verified.subject or 'unknown'}"


_HANDLERS: dict[str, dict[str, _Handler]] = {
    "/introspect": {"POST": HttpApi.introspect},
    "/revoke": {"POST": HttpApi.revoke},
    "/admin/rules": {"GET": HttpApi.list_rules, "POST": HttpApi.create_rule},
    "/admin/rules/{rule_id}": {"GET": HttpApi.get_rule, "DELETE": HttpApi.lift_rule},
    "/admin/audit": {"GET": HttpApi.audit},
    "/admin/check": {"POST": HttpApi.check},
    "/backchannel-logout": {"POST": HttpApi.backchannel_logout},
    "/ssf/events": {"POST": HttpApi.ssf_events},
    "/global-token-revocation": {"POST": HttpApi.global_token_revocation},
}
