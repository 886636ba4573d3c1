"""The in-app benchmark's Django project in one module: GET /me with no auth, with revoker
(``RevokerMiddleware`` + ``@require_token``), or with a PyJWT + Redis GET decorator.
Serve ``inapp_django:application``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import django
import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from inapp_common import VARIANT, blocklist_key, pyjwt_claims

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only-not-a-secret",  # noqa: S106 - a benchmark project
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["revoker.integrations.django"] if VARIANT == "revoker" else [],
    MIDDLEWARE=["revoker.integrations.django.RevokerMiddleware"] if VARIANT == "revoker" else [],
    DATABASES={},
    REVOKER={},  # REVOKER_* supply the settings
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after setup

from revoker.integrations.django import current_principal, require_token  # noqa: E402

_REDIS = redis.Redis(host="127.0.0.1", port=6379)


def pyjwt_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return HttpResponse(status=401)
        try:
            claims = pyjwt_claims(header[7:])
        except Exception:  # noqa: BLE001 - any bad token is a 401, as people write it
            return HttpResponse(status=401)
        if _REDIS.get(blocklist_key(claims)) is not None:
            return HttpResponse(status=401)
        request.claims = claims  # type: ignore[attr-defined]
        return view(request)

    return wrapper


@require_token
def me(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"sub": current_principal(request).sub})


@pyjwt_required
def me_pyjwt(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"sub": str(request.claims["sub"])})  # type: ignore[attr-defined]


def me_open(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"sub": "anonymous"})


def empty(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The cost of a decorator that does nothing."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        return view(request)

    return wrapper


_VIEWS: dict[str, Any] = {"revoker": me, "pyjwt": me_pyjwt, "noauth": me_open,
                          "empty": empty(me_open)}  # fmt: skip
urlpatterns = [path("me", _VIEWS[VARIANT])]
application = get_wsgi_application()
