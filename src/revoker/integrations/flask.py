"""Flask: an extension (``init_app``), a ``@require_token(scopes=…)`` decorator,
``current_principal``, RFC 6750 error answers, and logout.

::

    auth = RevokerAuth()            # settings from app.config["REVOKER"] (+ environment)
    auth.init_app(app)

    @app.get("/me")
    @require_token(scopes=["profile"])
    def me():
        return {"sub": current_principal.sub}

``app.config["REVOKER"]`` is a dict of revoker setting names (those of
``revoker.toml``: ``issuers``, ``audience``, ``store_url`` …) to values, parsed by
the one settings loader; ``REVOKER_*`` environment variables fill in the rest.
Or pass ``settings=Settings(...)`` (or ``load_settings()``) to ``RevokerAuth``.

Each process builds and starts its own revoker on first use (or at ``auth.start()``),
once, under a lock, so threaded servers share it; a forked worker (gunicorn's
pre-fork model, with or without ``--preload``) notices the pid change and starts
its own, leaving the parent's connections alone. It is closed at exit.

Refusals raise ``TokenRefused`` (a werkzeug ``HTTPException``) whose answer is
the JSON body ``{"error", "error_description"}`` with its ``WWW-Authenticate``;
``init_app`` registers its error handler, so an app's own ``HTTPException``
handler does not reshape it. Register one for ``TokenRefused`` to change it.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Response

from revoker.app.answers import answer_for
from revoker.core.errors import RevokerError
from revoker.integrations.config import settings_from_mapping
from revoker.integrations.guard import Guard, Refusal, bearer_token
from revoker.integrations.principal import Principal

if TYPE_CHECKING:
    from revoker.app.compose import Revoker
    from revoker.app.operations import RevokeOutcome
    from revoker.app.settings import Settings

__all__ = [
    "EXTENSION",
    "RevokerAuth",
    "TokenRefused",
    "current_principal",
    "require_token",
    "revoke_current_token",
]

#: The key of ``app.extensions`` (and of ``app.config``) this extension uses.
EXTENSION = "revoker"
CONFIG_KEY = "REVOKER"

F = TypeVar("F", bound=Callable[..., Any])


class TokenRefused(HTTPException):
    """A request refused (401, 403 or 503), answered as JSON with its challenge."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(description=str(refusal.body.get("error_description", "")))
        self.code = refusal.status
        self.refusal = refusal

    def get_response(
        self, environ: Any = None, scope: Any = None
    ) -> Response:  # werkzeug's signature
        refusal = self.refusal
        return Response(
            json.dumps(refusal.body),
            status=refusal.status,
            headers=refusal.headers,
            mimetype="application/json",
        )


def _answer(exc: TokenRefused) -> Response:
    return exc.get_response()


class RevokerAuth:
    """The Flask extension: one ``Guard`` per app, in ``app.extensions["revoker"]``."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        settings: Settings | None = None,
        build: Callable[[Settings], Revoker] | None = None,
    ) -> None:
        """``settings``: explicit settings (else ``app.config["REVOKER"]``); ``build``
        makes the ``Revoker`` (default ``Revoker.from_settings``), for a test's fakes."""
        self._settings = settings
        self._build = build
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the settings (a misconfiguration fails here, at start), register the guard
        and the error answer. Nothing is opened yet: each process does that on first use."""
        settings = self._settings
        if settings is None:
            settings = settings_from_mapping(
                app.config.get(CONFIG_KEY) or {}, where=f'app.config["{CONFIG_KEY}"]'
            )
        settings.policy()  # no issuer, no audience: say so now, not at the first request
        app.extensions[EXTENSION] = Guard(settings, build=self._build)
        app.register_error_handler(TokenRefused, _answer)

    @staticmethod
    def guard(app: Flask | None = None) -> Guard[Principal]:
        """The app's guard (the current app's by default)."""
        target = app if app is not None else current_app
        guard = target.extensions.get(EXTENSION)
        if isinstance(guard, Guard):
            return guard
        raise RuntimeError("revoker is not set up on this app: call RevokerAuth().init_app(app)")

    def start(self, app: Flask | None = None) -> Revoker:
        """Build and start this process's revoker now (else the first request does)."""
        return self.guard(app).start()

    def close(self, app: Flask | None = None) -> None:
        """Stop this process's replica and close its store (done at exit anyway)."""
        self.guard(app).close()


# The request's principal, per request context (threads and async views each have their own);
# ``require_token`` sets it and resets it when the view returns.
_PRINCIPAL: ContextVar[Principal | None] = ContextVar("revoker_principal", default=None)

#: The principal of the request being served (inside a ``require_token`` view), else None.
current_principal = cast("Principal", LocalProxy(_PRINCIPAL))


@overload
def require_token(view: F, /) -> F: ...
@overload
def require_token(
    *, scopes: Sequence[str] = (), groups: Sequence[str] = ()
) -> Callable[[F], F]: ...
def require_token(
    view: F | None = None, /, *, scopes: Sequence[str] = (), groups: Sequence[str] = ()
) -> F | Callable[[F], F]:
    """The view needs a bearer token with these scopes and groups: 401 without one or
    for a bad one, 403 ``insufficient_scope`` (scopes) or ``forbidden`` (groups)."""
    required_scopes, required_groups = tuple(scopes), tuple(groups)

    def decorate(function: F) -> F:
        is_async = inspect.iscoroutinefunction(function)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            guard = app.extensions.get(EXTENSION)
            if not isinstance(guard, Guard):
                guard = RevokerAuth.guard(app)  # raises: not set up
            principal = _PRINCIPAL.get()
            if principal is None:
                outcome = guard.decide(bearer_token(request.environ.get("HTTP_AUTHORIZATION")))
                if isinstance(outcome, Refusal):
                    raise TokenRefused(outcome)
                principal = outcome
            if required_scopes or required_groups:
                refusal = guard.authorize(principal, required_scopes, required_groups)
                if refusal is not None:
                    raise TokenRefused(refusal)
            reset = _PRINCIPAL.set(principal)
            try:
                if is_async:
                    return app.ensure_sync(function)(*args, **kwargs)
                return function(*args, **kwargs)
            finally:
                _PRINCIPAL.reset(reset)

        return cast("F", wrapper)

    return decorate(view) if view is not None else decorate


def revoke_current_token(*, reason: str = "logout", actor: str | None = None) -> RevokeOutcome:
    """Revoke the request's bearer token as its holder: its family when it has
    ``origin_jti`` (every access and ID token of that sign-in), else the token itself.

    For logout views; uses ``Operations.revoke_by_possession``. No token:
    ``TokenRefused`` (401); the store unreachable: 503.
    """
    guard = RevokerAuth.guard()
    token = bearer_token(request.environ.get("HTTP_AUTHORIZATION"))
    if token is None:
        raise TokenRefused(guard.missing)
    try:
        return guard.revoke(token, reason=reason, actor=actor)
    except RevokerError as exc:
        raise TokenRefused(Refusal(exc.reason, answer_for(exc))) from exc
