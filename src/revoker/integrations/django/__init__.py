"""Django and DRF: a middleware and a ``@require_token`` decorator for plain views, a DRF
authentication class with scope and group permissions, configuration from
``settings.REVOKER``, and a system check.

::

    INSTALLED_APPS = [..., "revoker.integrations.django"]          # the system check
    MIDDLEWARE = [..., "revoker.integrations.django.RevokerMiddleware"]
    REVOKER = {"issuers": ["https://…"], "audience": ["client-id"], "store_url": "sqlite:///revoker.db"}
    REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES":
                      ["revoker.integrations.django.RevokerAuthentication"]}

``settings.REVOKER`` maps revoker setting names (those of ``revoker.toml``) to
values, parsed by the one settings loader; ``REVOKER_*`` environment variables
fill in the rest. Changing it under ``override_settings`` builds a new revoker.

The middleware checks a request's bearer token, if it has one: allowed, it sets
``request.principal`` (a ``Principal``; None without a token); refused, it answers
401 ``Bearer error="invalid_token", error_description="<reason>"`` (503 when the
rules or keys are unreachable). ``@require_token(scopes=…, groups=…)`` makes a
view need one (401 ``Bearer realm=…`` without, 403 ``insufficient_scope`` or
``forbidden``), and checks the token itself where the middleware is not installed.

Each process builds and starts its own revoker on first use, once, under a lock
(threaded servers share it); a forked worker starts its own. The DRF classes
(``RevokerAuthentication``, ``HasScopes``, ``InGroups``) live in
``revoker.integrations.django.drf`` and load only when named, so plain Django
needs no DRF.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, JsonResponse

from revoker.app.answers import answer_for
from revoker.core.errors import ConfigurationError, RevokerError
from revoker.integrations.config import settings_from_mapping
from revoker.integrations.guard import Guard, Refusal, bearer_token
from revoker.integrations.principal import Principal

if TYPE_CHECKING:
    from revoker.app.operations import RevokeOutcome
    from revoker.app.settings import Settings
    from revoker.integrations.django.drf import HasScopes, InGroups, RevokerAuthentication

__all__ = [
    "DjangoPrincipal",
    "HasScopes",
    "InGroups",
    "RevokerAuthentication",
    "RevokerMiddleware",
    "TokenRefused",
    "current_principal",
    "get_guard",
    "load_revoker_settings",
    "principal_of",
    "refusal_response",
    "require_token",
    "reset",
    "revoke_current_token",
]

SETTING = "REVOKER"
_DRF_NAMES = frozenset({"HasScopes", "InGroups", "RevokerAuthentication"})
_UNSET = object()

V = TypeVar("V", bound=Callable[..., Any])


class DjangoPrincipal(Principal):
    """A ``Principal`` with the few user attributes Django and DRF read (``pk`` for DRF's
    throttles): ``request.user`` under DRF, ``request.principal`` under the middleware."""

    __slots__ = ()

    @property
    def pk(self) -> str:
        return self.sub

    @property
    def is_active(self) -> bool:
        return True

    def get_username(self) -> str:
        return self.display_name


class TokenRefused(Exception):
    """A refusal raised from a view (``revoke_current_token`` without a token, a store
    outage); the middleware answers it, as ``refusal_response``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def refusal_response(refusal: Refusal) -> HttpResponse:
    """The JSON answer of a refusal, with its ``WWW-Authenticate`` and ``no-store``."""
    return JsonResponse(refusal.body, status=refusal.status, headers=refusal.headers)


# -- the guard of this process, from settings.REVOKER -----------------------------------


class _Holder:
    guard: Guard[DjangoPrincipal] | None = None
    lock = threading.Lock()


def load_revoker_settings() -> Settings:
    """``settings.REVOKER`` through the one loader (``ConfigurationError`` if it fails)."""
    raw = getattr(django_settings, SETTING, None)
    if raw is None:
        raise ConfigurationError(
            "settings.REVOKER is not set: a dict of revoker setting names to values"
        )
    return settings_from_mapping(raw, where=f"settings.{SETTING}")


def get_guard() -> Guard[DjangoPrincipal]:
    """This project's guard, built from ``settings.REVOKER`` on first use
    (``ImproperlyConfigured`` when the settings cannot verify a token)."""
    guard = _Holder.guard
    if guard is not None:
        return guard
    with _Holder.lock:
        if _Holder.guard is None:
            try:
                loaded = load_revoker_settings()
                loaded.policy()
            except ConfigurationError as exc:
                raise ImproperlyConfigured(f"revoker: {exc}") from exc
            _Holder.guard = Guard(loaded, principal_type=DjangoPrincipal)
        return _Holder.guard


def reset() -> None:
    """Close this process's revoker and forget it: the next request builds a new one."""
    with _Holder.lock:
        guard, _Holder.guard = _Holder.guard, None
    if guard is not None:
        guard.close()


def _on_setting_changed(*, setting: str, **_kwargs: Any) -> None:
    if setting == SETTING:
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="revoker.integrations.django")


# -- the middleware and the decorator ---------------------------------------------------


def _bearer(request: HttpRequest) -> str | None:
    return bearer_token(request.META.get("HTTP_AUTHORIZATION"))


def principal_of(request: HttpRequest) -> DjangoPrincipal | None:
    """The request's principal, as the middleware, ``require_token`` or DRF's
    ``RevokerAuthentication`` found it; None without one."""
    principal = getattr(request, "principal", None)
    if isinstance(principal, DjangoPrincipal):
        return principal
    if hasattr(request, "_request"):  # a DRF request: its authentication may have made one
        user = request.user
        if isinstance(user, DjangoPrincipal):
            return user
    return None


def current_principal(request: HttpRequest) -> DjangoPrincipal:
    """The request's principal in a view that requires one; ``TokenRefused`` (401, answered
    by the middleware) without one."""
    principal = principal_of(request)
    if principal is None:
        raise TokenRefused(get_guard().missing)
    return principal


class RevokerMiddleware:
    """Checks the request's bearer token, if any: ``request.principal``, or the refusal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        get_guard()  # a misconfiguration fails the worker's start, not its first request

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _bearer(request)
        if token is None:
            request.principal = None  # type: ignore[attr-defined]
            return self.get_response(request)
        outcome = get_guard().decide(token)
        if isinstance(outcome, Refusal):
            return refusal_response(outcome)
        request.principal = outcome  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, TokenRefused):
            return refusal_response(exception.refusal)
        return None


def _remember(request: HttpRequest, outcome: DjangoPrincipal | Refusal) -> Any:
    if isinstance(outcome, Refusal):
        return outcome
    request.principal = outcome  # type: ignore[attr-defined]
    return outcome


def _authorize(
    guard: Guard[DjangoPrincipal], principal: Any, scopes: tuple[str, ...], groups: tuple[str, ...]
) -> Refusal | None:
    if isinstance(principal, Refusal):
        return principal
    return guard.authorize(principal if isinstance(principal, Principal) else None, scopes, groups)


@overload
def require_token(view: V, /) -> V: ...
@overload
def require_token(
    *, scopes: Sequence[str] = (), groups: Sequence[str] = ()
) -> Callable[[V], V]: ...
def require_token(
    view: V | None = None, /, *, scopes: Sequence[str] = (), groups: Sequence[str] = ()
) -> V | Callable[[V], V]:
    """The view needs a bearer token with these scopes and groups: 401 without one or for
    a bad one, 403 ``insufficient_scope`` (scopes) or ``forbidden`` (groups). Sync and
    async views; an async view's check runs in a thread when it could wait on the network."""
    required_scopes, required_groups = tuple(scopes), tuple(groups)

    def decorate(function: V) -> V:
        if inspect.iscoroutinefunction(function):
            from asgiref.sync import sync_to_async  # noqa: PLC0415 - async views only

            @functools.wraps(function)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                guard = get_guard()
                principal = getattr(request, "principal", _UNSET)
                if principal is _UNSET:  # no middleware: check the token here
                    token = _bearer(request)
                    if token is not None and guard.may_block(token):
                        decide = sync_to_async(guard.decide, thread_sensitive=False)
                        principal = _remember(request, await decide(token))
                    else:
                        principal = _remember(request, guard.decide(token))
                refusal = _authorize(guard, principal, required_scopes, required_groups)
                if refusal is not None:
                    return refusal_response(refusal)
                return await function(request, *args, **kwargs)

            return cast("V", async_wrapper)

        @functools.wraps(function)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            guard = get_guard()
            principal = getattr(request, "principal", _UNSET)
            if principal is _UNSET:  # no middleware: check the token here
                principal = _remember(request, guard.decide(_bearer(request)))
            refusal = _authorize(guard, principal, required_scopes, required_groups)
            if refusal is not None:
                return refusal_response(refusal)
            return function(request, *args, **kwargs)

        return cast("V", wrapper)

    return decorate(view) if view is not None else decorate


def revoke_current_token(
    request: HttpRequest, *, reason: str = "logout", actor: str | None = None
) -> RevokeOutcome:
    """Revoke the request's bearer token as its holder: its family when it has
    ``origin_jti`` (every access and ID token of that sign-in), else the token itself.

    For logout views (plain or DRF); uses ``Operations.revoke_by_possession``. No
    token, or the store unreachable: ``TokenRefused``, which the middleware answers
    (401, 503).
    """
    guard = get_guard()
    token = _bearer(request)
    if token is None:
        raise TokenRefused(guard.missing)
    try:
        return guard.revoke(token, reason=reason, actor=actor)
    except RevokerError as exc:
        raise TokenRefused(Refusal(exc.reason, answer_for(exc))) from exc


def __getattr__(name: str) -> Any:
    if name in _DRF_NAMES:  # DRF only when a DRF class is named
        from revoker.integrations.django import drf  # noqa: PLC0415

        return getattr(drf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
