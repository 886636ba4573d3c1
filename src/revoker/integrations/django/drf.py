"""Django REST framework: ``RevokerAuthentication`` (a ``BaseAuthentication``), and the
``HasScopes`` and ``InGroups`` permissions.

::

    REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES":
                      ["revoker.integrations.django.RevokerAuthentication"]}

    class Orders(APIView):
        permission_classes = [HasScopes]
        required_scopes = ["orders:read"]

An allowed token makes ``request.user`` and ``request.auth`` its ``Principal``; no
token leaves the request anonymous (a permission then answers DRF's 401 with
``WWW-Authenticate: Bearer realm=…``); a bad, expired or revoked token is 401
``Bearer error="invalid_token", error_description="<reason>"`` with the body
``{"error", "error_description"}``; ``registry_stale`` and ``jwks_unavailable`` are
503 with ``Retry-After``. ``HasScopes`` answers a missing scope with 403
``Bearer error="insufficient_scope", scope="…"``, ``InGroups`` a missing group
with 403 ``forbidden``. DRF takes ``WWW-Authenticate`` from the first
authentication class: list this one first.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from revoker.app.answers import RETRY_AFTER_SECONDS
from revoker.integrations.django import DjangoPrincipal, get_guard, principal_of
from revoker.integrations.guard import Refusal, bearer_token
from revoker.integrations.principal import Principal

__all__ = ["HasScopes", "InGroups", "RevokerAuthentication"]

_REFUSAL = "_revoker_refusal"


class TokenInvalid(exceptions.AuthenticationFailed):
    """401: a bad, expired or revoked token (DRF adds ``authenticate_header``'s challenge)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(detail=refusal.body)


class CannotDecideNow(exceptions.APIException):
    """503: the rules or the keys cannot be reached; the client may retry."""

    status_code = 503
    default_code = "cannot_decide"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(detail=refusal.body)
        self.wait = RETRY_AFTER_SECONDS


class Refused(exceptions.APIException):
    """403 with the refusal's own ``WWW-Authenticate`` (``insufficient_scope``) if any."""

    status_code = 403
    default_code = "permission_denied"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(detail=refusal.body)
        self.status_code = refusal.status
        self.auth_header = refusal.headers.get("WWW-Authenticate")


class RevokerAuthentication(BaseAuthentication):
    """Authenticates ``Authorization: Bearer`` tokens; ``request.user`` is the principal."""

    def authenticate(self, request: Request) -> tuple[DjangoPrincipal, DjangoPrincipal] | None:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        principal = principal_of(request._request)  # the middleware checked it already
        if principal is None:
            outcome = get_guard().decide(token)
            if isinstance(outcome, Refusal):
                setattr(request, _REFUSAL, outcome)
                if outcome.status == 503:
                    raise CannotDecideNow(outcome)
                raise TokenInvalid(outcome)
            principal = outcome
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        refusal = getattr(request, _REFUSAL, None)
        if isinstance(refusal, Refusal) and "WWW-Authenticate" in refusal.headers:
            return refusal.headers["WWW-Authenticate"]
        return get_guard().missing.headers["WWW-Authenticate"]


def _principal(request: Request) -> Principal | None:
    user = request.user
    return user if isinstance(user, Principal) else None


class HasScopes(BasePermission):
    """The view's ``required_scopes`` must all be in the token's scopes (403
    ``insufficient_scope``); no principal: DRF's 401."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = _principal(request)
        if principal is None:
            return False
        refusal = get_guard().authorize(principal, tuple(getattr(view, "required_scopes", ())))
        if refusal is not None:
            raise Refused(refusal)
        return True


class InGroups(BasePermission):
    """The holder must be in each of the view's ``required_groups`` (403 ``forbidden``);
    no principal: DRF's 401."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = _principal(request)
        if principal is None:
            return False
        groups = tuple(getattr(view, "required_groups", ()))
        refusal = get_guard().authorize(principal, (), groups)
        if refusal is not None:
            raise Refused(refusal)
        return True
