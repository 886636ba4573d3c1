"""The console at ``/console``: server-rendered pages over the same operations as the admin API.

Routes (GET pages need a session, POSTs a session, the same origin and the session's
CSRF token; changes need the admin role):

==========================================  ==============================================
``GET|POST /console/login``                 sign in with the admin or the viewer credential
``POST /console/logout``                    end the session
``GET /console``                            overview: decisions chart, rules, replica, store,
                                            keys, signal sources
``GET /console/overview/live``              the overview's live part (the script refreshes it)
``GET /console/rules``                      search and filter rules, one page at a time
``GET /console/rules/{id}``                 one rule in words; its lift form
``POST /console/rules/{id}/lift``           lift it (admin), with a reason
``GET|POST /console/revoke``                the six revoke forms; preview, then confirm (admin)
``GET|POST /console/check``                 a pasted token's decision; nothing stored
``GET /console/audit``                      the audit log, newest first, filtered
``GET /console/audit.json``, ``.csv``       the same entries as a download
``GET /console/static/{name}``              the console's CSS and script
==========================================  ==============================================

Every change goes through ``Operations`` (``create_rule``, ``lift_rule``,
``revoke_by_possession``) with the actor ``console:admin``, so it is audited, counted
and hooked exactly as the admin API's. A viewer's change is refused here, whatever
the request: the role is the server's, never the form's. Failed sign-ins spend the
service's credential-failure budget (``Access.limiter``) under the kind ``console``.
Nothing logs a credential or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from revoker.app.answers import answer_for
from revoker.app.logfields import fields
from revoker.app.operations import RuleEvent
from revoker.app.requests import parse_form
from revoker.app.settings import redacted_url
from revoker.core.errors import InvalidRule, RevokerError, TokenRejected
from revoker.core.registry import RuleKind
from revoker.service.api_routes import client_address
from revoker.service.bodies import read_body
from revoker.service.console import forms
from revoker.service.console.chart import decisions_chart
from revoker.service.console.export import audit_csv, audit_json
from revoker.service.console.guard import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    clear_cookie,
    cookie_value,
    cross_site,
    set_cookie,
)
from revoker.service.console.pages import Pages
from revoker.service.console.search import (
    AUDIT_WINDOW,
    MAX_AUDIT_WINDOWS,
    AuditSearch,
    RuleSearch,
    audit_entries,
    search_audit,
    search_rules,
)
from revoker.service.console.sessions import Role, Session, SessionStore, same_secret
from revoker.service.console.signals import SignalSource, signal_cards
from revoker.service.state import ServiceState

__all__ = ["CHART_BUCKETS", "CHART_BUCKET_SECONDS", "Console", "Refusal"]

log = logging.getLogger("revoker.console")

CHART_BUCKET_SECONDS = 30.0
CHART_BUCKETS = 30  # fifteen minutes
EXPORT_LIMIT = 10_000
_LOGIN_SECONDS = 900
_LOGIN_PATH = "/console/login"
_LIFT_FIELDS = frozenset({"reason"})
_CHECK_FIELDS = frozenset({"token"})
_LOGIN_FIELDS = frozenset({"credential", "login_token"})


class Refusal(Exception):
    """A page that says why a request was refused, with its status."""

    def __init__(self, status: int, title: str, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.retry_after = retry_after


class _SignIn(Exception):
    pass


_Handler = Callable[[Request], Awaitable[Response]]


class Console:
    """The console of one worker: its sessions, its pages, and the service state it uses."""

    def __init__(self, state: ServiceState, *, signal_sources: Iterable[SignalSource] = ()):
        self.state = state
        settings = state.settings
        self.sessions = SessionStore(
            clock=state.clock, lifetime_seconds=settings.console_session_seconds
        )
        self.pages = Pages()
        self.signal_sources = tuple(signal_sources)

    # -- what is served ---------------------------------------------------------

    def routes(self) -> list[Route]:
        table: list[tuple[str, _Handler, list[str]]] = [
            ("/console", self.overview, ["GET"]),
            ("/console/overview/live", self.overview_live, ["GET"]),
            (_LOGIN_PATH, self.login, ["GET", "POST"]),
            ("/console/logout", self.logout, ["POST"]),
            ("/console/rules", self.rules, ["GET"]),
            ("/console/rules/{rule_id}", self.rule, ["GET"]),
            ("/console/rules/{rule_id}/lift", self.lift, ["POST"]),
            ("/console/revoke", self.revoke, ["GET", "POST"]),
            ("/console/check", self.check, ["GET", "POST"]),
            ("/console/audit", self.audit, ["GET"]),
            ("/console/audit.json", self.audit_export, ["GET"]),
            ("/console/audit.csv", self.audit_export, ["GET"]),
            ("/console/static/{name}", self.static, ["GET"]),
        ]
        return [Route(path, self._guarded(handler), methods=m) for path, handler, m in table]

    @property
    def off(self) -> Refusal | None:
        """Why the console cannot serve (None: it can)."""
        settings = self.state.settings
        if settings.admin_token is None and settings.viewer_token is None:
            return Refusal(
                403,
                "The console is off",
                "No credential is configured: set an admin token (REVOKER_ADMIN_TOKEN) or a "
                "viewer token (REVOKER_VIEWER_TOKEN).",
            )
        if settings.workers > 1:
            return Refusal(
                503,
                "The console is off",
                "The console keeps its sessions in the worker's memory, so it runs with one "
                "worker only (--workers 1).",
            )
        return None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Sample the decision counts for the overview's chart while the app runs."""
        history = self.state.metrics.history

        async def sample() -> None:
            while True:
                history.sample(self.state.clock())
                await asyncio.sleep(history.step_seconds)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _guarded(self, handler: _Handler) -> _Handler:
        async def endpoint(request: Request) -> Response:
            off = self.off
            if off is not None and handler != self.static:
                response = self._refusal_page(request, off)
            else:
                response = await self._answer(handler, request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    async def _answer(self, handler: _Handler, request: Request) -> Response:
        try:
            return await handler(request)
        except _SignIn:
            if request.url.path == "/console/overview/live":
                return Response(status_code=401)
            return RedirectResponse(_LOGIN_PATH, status_code=303)
        except Refusal as refusal:
            return self._refusal_page(request, refusal)
        except RevokerError as exc:
            return self._error_page(request, exc)
        except Exception:
            log.exception("a console page failed", extra=fields(path=request.url.path[:128]))
            return self._refusal_page(
                request, Refusal(500, "Something went wrong", "The page could not be built.")
            )

    # -- sessions and forms -------------------------------------------------------

    def _current(self, request: Request) -> tuple[str | None, Session | None]:
        session_id = cookie_value(request, SESSION_COOKIE)
        return session_id, self.sessions.get(session_id)

    def _session(self, request: Request) -> Session:
        _, session = self._current(request)
        if session is None:
            raise _SignIn
        return session

    def _same_origin(self, request: Request) -> None:
        why = cross_site(request)
        if why is not None:
            log.warning(
                "console: cross-site request refused",
                extra=fields(path=request.url.path[:128], client=client_address(request)),
            )
            raise Refusal(403, "Refused: not from this console", f"{why.capitalize()}.")

    async def _form(self, request: Request, known: frozenset[str]) -> dict[str, str]:
        body = await read_body(request, self.state.settings.max_body_bytes)
        return parse_form(body, request.headers.get("content-type"), known | {"csrf"})

    async def _post(
        self, request: Request, known: frozenset[str]
    ) -> tuple[Session, dict[str, str]]:
        """A POST from this console: same origin, a live session, its CSRF token."""
        self._same_origin(request)
        session = self._session(request)
        form = await self._form(request, known)
        if not session.csrf_matches(form.get("csrf")):
            log.warning(
                "console: a form without this session's CSRF token was refused",
                extra=fields(path=request.url.path[:128], client=client_address(request)),
            )
            raise Refusal(
                403,
                "Refused: the form is not this session's",
                "The form did not carry this session's token. Reload the page and try again.",
            )
        return session, form

    @staticmethod
    def _admin(session: Session) -> None:
        if not session.can_change:
            raise Refusal(
                403,
                "Viewers cannot change anything",
                "You are signed in with the viewer credential: you can look at everything, "
                "and change nothing. Sign in with the admin credential to make changes.",
            )

    # -- rendering ----------------------------------------------------------------

    def _page(
        self,
        request: Request,
        template: str,
        session: Session | None,
        *,
        status: int = 200,
        nav: str = "",
        **context: Any,
    ) -> HTMLResponse:
        html = self.pages.render(
            template,
            session=session,
            nav=nav,
            csrf=session.csrf_token if session is not None else "",
            flash=session.take_flash() if session is not None else None,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def _refusal_page(self, request: Request, refusal: Refusal) -> Response:
        _, session = self._current(request)
        response = self._page(
            request,
            "message.html",
            session,
            status=refusal.status,
            title=refusal.title,
            message=refusal.message,
        )
        if refusal.retry_after is not None:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response

    def _error_page(self, request: Request, exc: RevokerError) -> Response:
        answer = answer_for(exc)
        body = answer.body or {}
        message = str(body.get("error_description") or body.get("error") or "")
        title = "Cannot do that now" if answer.status >= 500 else "Cannot do that"
        return self._refusal_page(request, Refusal(answer.status, title, message))

    @staticmethod
    def _redirect(path: str) -> Response:
        return RedirectResponse(path, status_code=303)

    # -- sign in and out ----------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            _, session = self._current(request)
            if session is not None:
                return self._redirect("/console")
            signed_out = request.query_params.get("signed_out") == "1"
            return self._login_page(request, notice="You are signed out." if signed_out else None)
        self._same_origin(request)
        form = await self._form(request, _LOGIN_FIELDS)
        if not same_secret(form.get("login_token"), cookie_value(request, LOGIN_COOKIE)):
            return self._login_page(
                request, status=403, error="The sign-in form expired. Sign in again."
            )
        client = client_address(request)
        access = self.state.access
        key = f"console\0{client}"
        wait = access.limiter.retry_after(key)
        if wait is not None:
            raise Refusal(
                429,
                "Too many failed sign-ins",
                f"Too many wrong credentials from this address. Try again in {wait} s.",
                retry_after=wait,
            )
        role = self._role_of(form.get("credential", ""))
        if role is None:
            access.limiter.record_failure(key)
            self.state.metrics.credential_failure("console")
            log.warning("console: wrong credentials", extra=fields(client=client))
            return self._login_page(
                request, status=401, error="That credential is not accepted here."
            )
        old_id, _ = self._current(request)
        self.sessions.end(old_id)
        session_id, session = self.sessions.create(role)
        log.info("console: signed in", extra=fields(role=role.value, client=client))
        response = self._redirect("/console")
        set_cookie(
            response,
            request,
            SESSION_COOKIE,
            session_id,
            max_age=math.floor(self.sessions.lifetime_seconds),
            path=COOKIE_PATH,
        )
        clear_cookie(response, request, LOGIN_COOKIE, path=_LOGIN_PATH)
        return response

    def _role_of(self, credential: str) -> Role | None:
        settings = self.state.settings
        is_admin = self.state.access.credentials.is_admin_token(credential)
        is_viewer = same_secret(credential, settings.viewer_token)
        if is_admin:
            return Role.ADMIN
        return Role.VIEWER if is_viewer else None

    def _login_page(
        self,
        request: Request,
        *,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
    ) -> Response:
        login_token = secrets.token_urlsafe(24)
        response = self._page(
            request,
            "login.html",
            None,
            status=status,
            login_token=login_token,
            error=error,
            notice=notice,
            lifetime_minutes=round(self.sessions.lifetime_seconds / 60),
            viewer_enabled=self.state.settings.viewer_token is not None,
        )
        set_cookie(
            response, request, LOGIN_COOKIE, login_token, max_age=_LOGIN_SECONDS, path=_LOGIN_PATH
        )
        return response

    async def logout(self, request: Request) -> Response:
        self._same_origin(request)
        session_id, session = self._current(request)
        if session is not None:
            form = await self._form(request, frozenset())
            if not session.csrf_matches(form.get("csrf")):
                raise Refusal(403, "Refused: the form is not this session's", "Reload the page.")
            self.sessions.end(session_id)
            log.info(
                "console: signed out",
                extra=fields(role=session.role.value, client=client_address(request)),
            )
        response = self._redirect(_LOGIN_PATH + "?signed_out=1")
        clear_cookie(response, request, SESSION_COOKIE, path=COOKIE_PATH)
        return response

    # -- overview -----------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        session = self._session(request)
        live = await run_in_threadpool(self._live)
        return self._page(request, "overview.html", session, nav="overview", **live)

    async def overview_live(self, request: Request) -> Response:
        session = self._session(request)
        live = await run_in_threadpool(self._live)
        return self._page(request, "overview_live.html", session, **live)

    def _live(self) -> dict[str, Any]:
        state = self.state
        replica = state.registry.replica
        now = state.clock()
        buckets = state.metrics.history.buckets(
            now, bucket_seconds=CHART_BUCKET_SECONDS, count=CHART_BUCKETS
        )
        counts = replica.counts_by_kind()
        keys = []
        seen: set[int] = set()
        for issuer, cache in state.authorizer.verifier.keys.items():
            if id(cache) in seen:
                continue
            seen.add(id(cache))
            keys.append(
                {
                    "issuer": issuer,
                    "kids": len(cache.kids),
                    "fetches": cache.fetch_count,
                    "failures": cache.failure_count,
                }
            )
        return {
            "chart": decisions_chart(buckets, bucket_seconds=CHART_BUCKET_SECONDS),
            "kinds": [(kind.value, counts.get(kind, 0)) for kind in RuleKind],
            "rule_total": replica.rule_count,
            "replica": {
                "seq": replica.seq,
                "lag": replica.lag_seconds,
                "fresh": replica.is_fresh,
                "push": replica.push_healthy,
                "max_staleness": state.settings.max_staleness_seconds,
                "fail_open": state.settings.fail_open,
            },
            "store_url": redacted_url(state.settings.store_url),
            "keys": keys,
            "signals": signal_cards(self.signal_sources),
            "now": now,
        }

    # -- rules --------------------------------------------------------------------

    def _trusted(self) -> tuple[str, ...]:
        return self.state.authorizer.verifier.policy.issuers

    async def rules(self, request: Request) -> Response:
        session = self._session(request)
        error = None
        try:
            search = RuleSearch.from_query(request.query_params)
            page = await run_in_threadpool(search_rules, self.state.registry, search)
        except RevokerError as exc:
            if exc.http_status >= 500:
                raise
            error, search, page = exc.detail, RuleSearch(), None
        return self._page(
            request,
            "rules.html",
            session,
            nav="rules",
            search=search,
            page=page,
            error=error,
            kinds=[kind.value for kind in RuleKind],
            issuers=self._trusted(),
            query=lambda **changes: urlencode(search.query(**changes)),
            now=self.state.clock(),
        )

    async def rule(self, request: Request) -> Response:
        session = self._session(request)
        rule_id = request.path_params["rule_id"]
        rule = await run_in_threadpool(self.state.registry.get, rule_id)
        if rule is None:
            raise Refusal(
                404,
                "No such rule",
                "No rule has that id now: it may have been lifted or pruned. The audit log "
                "keeps what happened to it.",
            )
        return self._page(
            request,
            "rule.html",
            session,
            nav="rules",
            rule=rule,
            now=self.state.clock(),
            error=None,
        )

    async def lift(self, request: Request) -> Response:
        session, form = await self._post(request, _LIFT_FIELDS)
        self._admin(session)
        rule_id = request.path_params["rule_id"]
        reason = form.get("reason", "").strip()
        if not reason:
            rule = await run_in_threadpool(self.state.registry.get, rule_id)
            if rule is None:
                raise Refusal(404, "No such rule", "No rule has that id now.")
            return self._page(
                request,
                "rule.html",
                session,
                status=400,
                nav="rules",
                rule=rule,
                now=self.state.clock(),
                error="Say why the rule is lifted: the audit log keeps the reason.",
            )
        operations = self.state.revoker.operations
        rule = await run_in_threadpool(
            lambda: operations.lift_rule(rule_id, reason=reason, actor=session.role.actor)
        )
        session.flash = f"Lifted: {rule.describe()}. Those tokens are allowed again."
        return self._redirect("/console/rules")

    # -- revoke -------------------------------------------------------------------

    async def revoke(self, request: Request) -> Response:
        if request.method == "GET":
            session = self._session(request)
            what = request.query_params.get("what", "user")
            form = forms.FORMS.get(what, forms.FORMS["user"])
            return self._revoke_page(request, session, form, {})
        session, fields_ = await self._post(request, forms.FIELDS)
        self._admin(session)
        chosen = forms.FORMS.get(fields_.get("what", ""))
        if chosen is None:
            raise Refusal(400, "Unknown form", "Choose what to revoke from the tabs.")
        form = chosen
        try:
            preview = await run_in_threadpool(self._preview, form, fields_, session)
        except TokenRejected as exc:
            return self._revoke_page(
                request,
                session,
                form,
                fields_,
                status=400,
                error=f"This token is refused ({exc.reason}: {exc.detail}), so it is denied "
                "already; there is nothing to revoke.",
            )
        except RevokerError as exc:
            if exc.http_status >= 500:
                raise
            return self._revoke_page(request, session, form, fields_, status=400, error=exc.detail)
        if fields_.get("step") != "confirm":
            return self._page(
                request, "confirm.html", session, nav="revoke", preview=preview, error=None
            )
        if preview.typed is not None and fields_.get("typed", "").strip() != preview.typed:
            return self._page(
                request,
                "confirm.html",
                session,
                status=400,
                nav="revoke",
                preview=preview,
                error="The typed issuer does not match: nothing was revoked.",
            )
        return await self._create(session, form, preview)

    def _preview(
        self, form: forms.RevokeForm, fields_: dict[str, str], session: Session
    ) -> forms.Preview:
        registry = self.state.registry
        if form.kind is None:
            token = fields_.get("token", "").strip()
            if not token:
                raise InvalidRule("paste the token")
            verified = self.state.authorizer.verify_for_revocation(token)
            return forms.preview_token(
                verified,
                {**fields_, "token": token},
                limits=registry.limits,
                now=registry.clock(),
                actor=session.role.actor,
            )
        return forms.preview_rule(
            form,
            fields_,
            trusted=self._trusted(),
            limits=registry.limits,
            now=registry.clock(),
            actor=session.role.actor,
        )

    async def _create(
        self, session: Session, form: forms.RevokeForm, preview: forms.Preview
    ) -> Response:
        operations = self.state.revoker.operations
        actor = session.role.actor
        event = RuleEvent("console")
        if form.kind is None:
            token = preview.fields["token"]
            reason = preview.fields.get("reason") or "revoked in the console"
            outcome = await run_in_threadpool(
                lambda: operations.revoke_by_possession(
                    token, actor=actor, reason=reason, event=event
                )
            )
            if outcome.rule is None:
                raise Refusal(400, "Nothing revoked", f"The token is refused ({outcome.refused}).")
            rule = outcome.rule
            done = (
                "Revoked: /auth denies these tokens now"
                if outcome.created
                else "Already revoked by this rule: nothing new was stored"
            )
        else:
            body = forms.rule_body(preview.fields, form)
            rule = await run_in_threadpool(
                lambda: operations.create_rule(body, actor=actor, event=event)
            )
            done = "Revoked: /auth denies these tokens now"
        session.flash = f"{done}."
        return self._redirect(f"/console/rules/{rule.id}")

    def _revoke_page(
        self,
        request: Request,
        session: Session,
        form: forms.RevokeForm,
        values: dict[str, str],
        *,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        shown = {k: v for k, v in values.items() if k in ("value", "issuer", "reason")}
        return self._page(
            request,
            "revoke.html",
            session,
            status=status,
            nav="revoke",
            form=form,
            forms=forms.FORMS,
            values=shown,
            issuers=self._trusted(),
            error=error,
        )

    # -- check --------------------------------------------------------------------

    async def check(self, request: Request) -> Response:
        if request.method == "GET":
            session = self._session(request)
            return self._page(
                request, "check.html", session, nav="check", decision=None, error=None
            )
        session, form = await self._post(request, _CHECK_FIELDS)
        token = form.get("token", "").strip()
        if not token:
            return self._page(
                request,
                "check.html",
                session,
                status=400,
                nav="check",
                decision=None,
                error="Paste a token to check.",
            )
        operations = self.state.revoker.operations
        decision = await run_in_threadpool(lambda: operations.check(token, endpoint="check"))
        return self._page(
            request, "check.html", session, nav="check", decision=decision, error=None
        )

    # -- audit --------------------------------------------------------------------

    async def audit(self, request: Request) -> Response:
        session = self._session(request)
        error = None
        try:
            search = AuditSearch.from_query(request.query_params)
            page = await run_in_threadpool(search_audit, self.state.registry, search)
        except RevokerError as exc:
            if exc.http_status >= 500:
                raise
            error, search, page = exc.detail, AuditSearch(), None
        return self._page(
            request,
            "audit.html",
            session,
            nav="audit",
            search=search,
            page=page,
            error=error,
            kinds=[kind.value for kind in RuleKind],
            query=lambda **changes: urlencode(search.query(**changes)),
            scan_limit=AUDIT_WINDOW * MAX_AUDIT_WINDOWS,
        )

    async def audit_export(self, request: Request) -> Response:
        self._session(request)
        search = AuditSearch.from_query(request.query_params)
        page = await run_in_threadpool(
            lambda: audit_entries(self.state.registry, search, limit=EXPORT_LIMIT)
        )
        entries = list(reversed(page.entries))  # oldest first, as a log reads
        if request.url.path.endswith(".csv"):
            body, media, name = audit_csv(entries), "text/csv; charset=utf-8", "audit.csv"
        else:
            filters = search.query()
            now = self.state.clock()
            body, media, name = (
                audit_json(entries, filters=filters, now=now),
                "application/json",
                "audit.json",
            )
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="revoker-{name}"'},
        )

    # -- static files -------------------------------------------------------------

    async def static(self, request: Request) -> Response:
        found = self.pages.static.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            found.body,
            media_type=found.media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )
