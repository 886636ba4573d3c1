"""The Django suites' views: plain views behind the middleware and ``require_token``, and the
same under DRF with ``RevokerAuthentication``, ``HasScopes`` and ``InGroups``."""

from __future__ import annotations

import os
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from revoker.integrations.django import (
    HasScopes,
    InGroups,
    principal_of,
    require_token,
    revoke_current_token,
)

SCOPE = "orders:read"


def public(request: HttpRequest) -> JsonResponse:
    principal = principal_of(request)
    return JsonResponse({"sub": principal.sub if principal else None, "pid": os.getpid()})


@require_token
def me(request: HttpRequest) -> JsonResponse:
    principal = principal_of(request)
    assert principal is not None
    return JsonResponse({"sub": principal.sub, "pk": request.principal.pk})  # type: ignore[attr-defined]


@require_token
async def async_me(request: HttpRequest) -> JsonResponse:
    principal = principal_of(request)
    assert principal is not None
    return JsonResponse({"sub": principal.sub})


@require_token(scopes=[SCOPE])
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@require_token(groups=["admin"])
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@require_token
def logout(request: HttpRequest) -> JsonResponse:
    outcome = revoke_current_token(request)
    assert outcome.rule is not None
    return JsonResponse({"kind": str(outcome.rule.kind), "created": outcome.created})


class ApiMe(APIView):
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.user.sub, "auth": request.auth.username})


class ApiOrders(APIView):
    permission_classes = (HasScopes,)
    required_scopes = (SCOPE,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class ApiAdmin(APIView):
    permission_classes = (InGroups,)
    required_groups = ("admin",)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class ApiLogout(APIView):
    permission_classes = (IsAuthenticated,)

    def post(self, request: Request) -> Response:
        outcome = revoke_current_token(request)  # type: ignore[arg-type]
        assert outcome.rule is not None
        return Response({"kind": str(outcome.rule.kind)})


urlpatterns: list[Any] = [
    path("public", public),
    path("me", me),
    path("async-me", async_me),
    path("orders", orders),
    path("admin", admin),
    path("logout", logout),
    path("api/me", ApiMe.as_view()),
    path("api/orders", ApiOrders.as_view()),
    path("api/admin", ApiAdmin.as_view()),
    path("api/logout", ApiLogout.as_view()),
]
