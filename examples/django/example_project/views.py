"""A protected endpoint, a logout that revokes the token's family, and an endpoint for the
"admin" group, as DRF views (IsAuthenticated is the project's default permission)."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from revoker.integrations.django import InGroups, current_principal, revoke_current_token


class Me(APIView):
    def get(self, request: Request) -> Response:
        principal = current_principal(request)
        return Response(
            {"sub": principal.sub, "username": principal.username, "groups": principal.groups}
        )


class Logout(APIView):
    def post(self, request: Request) -> Response:
        revoke_current_token(request)  # every access and ID token of this sign-in
        return Response(status=204)


class Admin(APIView):
    permission_classes = (InGroups,)
    required_groups = ("admin",)

    def get(self, request: Request) -> Response:
        return Response({"hello": current_principal(request).username})
