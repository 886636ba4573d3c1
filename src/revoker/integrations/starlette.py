"""Starlette: an ``AuthenticationBackend`` that fills ``request.user`` and ``request.auth``,
the registry started in the app's lifespan, RFC 6750 answers, and logout.

::

    auth = RevokerAuth(load_settings())
    app = Starlette(routes=[...])
    auth.install(app)   # AuthenticationMiddleware + lifespan + the answers

    @requires_token(scopes=["profile"])
    async def me(request):
        return JSONResponse({"sub": request.user.sub})      # request.user: a Principal

A request without a bearer token passes as ``UnauthenticatedUser`` (a route
that needs one says so with ``requires_token``: 401 ``Bearer realm=…``); a bad,
expired or revoked token is refused at the middleware with 401
``Bearer error="invalid_token", error_description="<reason>"``; a missing scope is
403 ``insufficient_scope``. ``request.auth.scopes`` holds the token's scopes, so
Starlette's own ``requires(...)`` works too (with its plain 403).

A check never blocks the event loop: when it could wait on the network (a JWKS
fetch for a new key, or the first start) it runs in a worker thread
(``Authorizer.may_block``); the warm path (a cached token, a loaded key) stays
in-line and costs microseconds. The lifespan starts the revoker (replica sync,
key warm-up) and closes it, both in a thread.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from anyio import to_thread
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.exceptions import HTTPException
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from revoker.app.answers import answer_for
from revoker.core.errors import RevokerError
from revoker.integrations.guard import Guard, Refusal, bearer_from_headers
from revoker.integrations.principal import Principal

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from revoker.app.compose import Revoker
    from revoker.app.operations import RevokeOutcome
    from revoker.app.settings import Settings
    from revoker.core.authorizer import Decision

__all__ = [
    "RevokerAuth",
    "RevokerBackend",
    "StarletteUser",
    "TokenRefused",
    "auth_of",
    "on_auth_error",
    "refusal_response",
    "requires_token",
    "revoke_current_token",
]

Endpoint = Callable[[Request], Awaitable[Response] | Response]


class StarletteUser(Principal, BaseUser):
    """``request.user`` for an allowed token: a ``Principal`` and a Starlette ``BaseUser``."""

    __slots__ = ()

    @property
    def identity(self) -> str:
        """Starlette's name for a user's id: the subject."""
        return self.sub


class TokenRefused(HTTPException, AuthenticationError):
    """A request refused (401, 403 or 503); ``install`` answers it as ``refusal_response``."""

    def __init__(self, refusal: Refusal) -> None:
        body = refusal.body
        super().__init__(refusal.status, str(body.get("error_description", "")), refusal.headers)
        self.refusal = refusal


def refusal_response(refusal: Refusal) -> Response:
    """The JSON answer of a refusal, with its ``WWW-Authenticate`` and ``no-store``."""
    return JSONResponse(refusal.body, status_code=refusal.status, headers=refusal.headers)


def on_auth_error(_conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """``AuthenticationMiddleware``'s ``on_error`` for ``RevokerBackend``: the refusal's answer."""
    if isinstance(exc, TokenRefused):
        return refusal_response(exc.refusal)
    return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, 400)


async def _answer_refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenRefused)  # noqa: S101 - registered for TokenRefused only
    return refusal_response(exc.refusal)


class RevokerAuth:
    """The revoker of one Starlette (or FastAPI) app: checks, lifespan, logout."""

    #: ``install``'s default: Starlette apps authenticate in a middleware.
    middleware_by_default = True

    def __init__(
        self, settings: Settings, *, build: Callable[[Settings], Revoker] | None = None
    ) -> None:
        """``settings`` from ``load_settings()`` or ``Settings(...)``; ``build`` makes the
        ``Revoker`` (default ``Revoker.from_settings``), for a test's fakes."""
        self.guard: Guard[StarletteUser] = Guard(
            settings, build=build, principal_type=StarletteUser
        )

    def install(self, app: Starlette, *, middleware: bool | None = None) -> None:
        """Wire this into ``app``: the lifespan starts and closes the revoker (before and
        after the app's own), refusals are answered, and (``middleware``, the default for
        Starlette) ``AuthenticationMiddleware`` runs the backend on every request."""
        app.state.revoker_auth = self
        app.add_exception_handler(TokenRefused, _answer_refused)
        if self.middleware_by_default if middleware is None else middleware:
            app.add_middleware(
                AuthenticationMiddleware, backend=self.backend(), on_error=on_auth_error
            )
        router = app.router
        inner = router.lifespan_context

        @asynccontextmanager
        async def lifespan(app_: Any) -> AsyncIterator[Any]:
            async with self.running(), inner(app_) as state:
                yield state

        router.lifespan_context = lifespan

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RevokerAuth]:
        """Start the revoker (replica sync, keys) and close it on exit, each in a thread."""
        await to_thread.run_sync(self.guard.start)
        try:
            yield self
        finally:
            await to_thread.run_sync(self.guard.close)

    def backend(self) -> RevokerBackend:
        return RevokerBackend(self)

    async def check(self, token: str) -> Decision:
        """The decision, in a worker thread when it could wait on the network."""
        guard = self.guard
        decision = guard.check_now(token)
        if decision is None:
            decision = await to_thread.run_sync(guard.check, token)
        return decision

    async def decide(self, token: str | None) -> StarletteUser | Refusal:
        """The principal of a request carrying ``token`` (None: no bearer), or the refusal."""
        guard = self.guard
        if token is None:
            return guard.missing
        decision = guard.check_now(token)  # the warm path: in-line, microseconds
        if decision is None:  # a key to fetch, or the first start: off the event loop
            decision = await to_thread.run_sync(guard.check, token)
        return guard.outcome(token, decision)

    async def principal(self, conn: HTTPConnection) -> StarletteUser:
        """The request's principal, checked now unless the middleware did; ``TokenRefused``."""
        scope = conn.scope
        user = scope.get("user")
        if isinstance(user, StarletteUser):
            return user
        if "user" in scope:  # the middleware ran and found no token
            raise TokenRefused(self.guard.missing)
        outcome = await self.decide(bearer_from_headers(scope["headers"]))
        if isinstance(outcome, Refusal):
            raise TokenRefused(outcome)
        return outcome

    async def revoke(
        self, token: str, *, reason: str = "logout", actor: str | None = None
    ) -> RevokeOutcome:
        """Revoke ``token`` as its holder (its family), in a thread; an outage is 503."""
        try:
            return await to_thread.run_sync(
                functools.partial(self.guard.revoke, token, reason=reason, actor=actor)
            )
        except RevokerError as exc:
            raise TokenRefused(Refusal(exc.reason, answer_for(exc))) from exc


class RevokerBackend(AuthenticationBackend):
    """For ``AuthenticationMiddleware``: ``request.user`` is a ``StarletteUser``,
    ``request.auth`` an ``AuthCredentials`` of the token's scopes."""

    def __init__(self, auth: RevokerAuth) -> None:
        self.auth = auth

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = bearer_from_headers(conn.scope["headers"])
        if token is None:
            return None
        outcome = await self.auth.decide(token)
        if isinstance(outcome, Refusal):
            raise TokenRefused(outcome)
        return AuthCredentials(outcome.scopes), outcome


def auth_of(conn: HTTPConnection) -> RevokerAuth:
    """The ``RevokerAuth`` installed on the request's app."""
    auth = getattr(conn.app.state, "revoker_auth", None)
    if isinstance(auth, RevokerAuth):
        return auth
    raise RuntimeError("no RevokerAuth on this app: call RevokerAuth(settings).install(app)")


def requires_token(
    scopes: Sequence[str] = (), groups: Sequence[str] = ()
) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    """A Starlette endpoint needs a bearer token with these scopes and groups: 401 without
    one, 403 ``insufficient_scope`` (scopes) or ``forbidden`` (groups) otherwise."""
    required_scopes, required_groups = tuple(scopes), tuple(groups)

    def decorate(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        is_async = inspect.iscoroutinefunction(endpoint)

        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            auth = auth_of(request)
            try:
                principal = await auth.principal(request)
            except TokenRefused as exc:
                return refusal_response(exc.refusal)
            refusal = auth.guard.authorize(principal, required_scopes, required_groups)
            if refusal is not None:
                return refusal_response(refusal)
            if is_async:
                response = await endpoint(request)  # type: ignore[misc]
            else:
                response = await to_thread.run_sync(endpoint, request)
            assert isinstance(response, Response)  # noqa: S101 - the Endpoint type says so
            return response

        return wrapper

    return decorate


async def revoke_current_token(
    conn: HTTPConnection, *, reason: str = "logout", actor: str | None = None
) -> RevokeOutcome:
    """Revoke the request's bearer token as its holder: its family when it has
    ``origin_jti`` (every access and ID token of that sign-in), else the token itself.

    For logout endpoints; uses ``Operations.revoke_by_possession``. Returns what it
    did (``outcome.rule``, ``outcome.created``; ``outcome.refused`` for a token that
    does not verify). No token: ``TokenRefused`` (401); the store down: 503.
    """
    auth = auth_of(conn)
    token = bearer_from_headers(conn.scope["headers"])
    if token is None:
        raise TokenRefused(auth.guard.missing)
    return await auth.revoke(token, reason=reason, actor=actor)
