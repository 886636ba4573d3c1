"""The ASGI app: a tiny dispatcher that sends ``/auth`` to the raw fast path and everything
else (and the lifespan) to a Starlette app, which also serves the console (``/console``).

``build_app(state)`` serves an already built ``ServiceState`` (``revoker serve``
with one worker, and the tests). ``create_app()`` is the factory each uvicorn
worker calls with ``--workers`` > 1: it reads the settings from the
environment variable ``SETTINGS_ENV`` and builds its own state.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from revoker.app.answers import answer_for
from revoker.app.settings import Settings
from revoker.app.sources import SETTINGS_ENV
from revoker.core.errors import MethodNotAllowed, NotFound, RevokerError
from revoker.service import api_routes, ops
from revoker.service.bodies import error_response, response_of
from revoker.service.console import Console
from revoker.service.forward_auth import ForwardAuth, Receive, Scope, Send
from revoker.service.logs import configure_logging
from revoker.service.state import ServiceState

__all__ = ["RevokerApp", "build_app", "create_app"]

log = logging.getLogger("revoker.service")


class RevokerApp:
    """``/auth`` and ``/auth/...`` to the fast path; the rest to Starlette."""

    __slots__ = ("auth", "starlette", "state")

    def __init__(self, state: ServiceState, auth: ForwardAuth, starlette: Starlette) -> None:
        self.state = state
        self.auth = auth
        self.starlette = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path[:5] == "/auth" and (len(path) == 5 or path[5] == "/"):
                await self.auth(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405, answered as the shared API answers them (the same text, the
    # same shape), so the service and the API Gateway function cannot differ even here.
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    error: RevokerError
    if exc.status_code == 405:
        allow = tuple(m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m)
        error = MethodNotAllowed(f"{request.method[:16]} is not allowed here", allow=allow)
    elif exc.status_code == 404:
        error = NotFound(f"no route {request.url.path[:64]!r}")
    else:
        return error_response(exc.status_code, "http_error", exc.detail, dict(exc.headers or {}))
    return response_of(answer_for(error))


def build_app(state: ServiceState) -> RevokerApp:
    """The app around ``state``; its lifespan starts and closes the state."""

    console = Console(state, signal_sources=getattr(state, "signal_sources", ()))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(state.start)  # a first sync and JWKS fetches block
        try:
            async with console.running():  # samples the decision counts for its chart
                yield
        finally:
            await run_in_threadpool(state.close)

    starlette = Starlette(
        routes=[*ops.routes, *api_routes.routes, *console.routes()],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    starlette.state.revoker = state
    settings = state.settings
    auth = ForwardAuth(
        state.authorizer,
        state.metrics,
        cookie_name=settings.cookie_name,
        realm=settings.realm,
        client_cert_header=settings.client_cert_header,
    )
    return RevokerApp(state, auth, starlette)


def create_app() -> RevokerApp:
    """uvicorn's factory in each worker process (``--workers`` > 1)."""
    from revoker.service.interpreter import tune_for_serving  # noqa: PLC0415 -- serve only

    tune_for_serving()
    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_format, settings.log_level)
    return build_app(ServiceState.build(settings))
