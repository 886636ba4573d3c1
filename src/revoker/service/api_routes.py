"""``/introspect``, ``/revoke`` and ``/admin/…``: each a Starlette route that reads the body
(bounded), hands an ``ApiRequest`` to the shared ``HttpApi`` in a worker thread (a store
write or a JWKS fetch blocks) and answers what it answers. No logic of its own: the
API Gateway revoke function serves the very same table (``app.http_api``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revoker.app.answers import answer_for
from revoker.app.http_api import ROUTES, ApiRequest
from revoker.core.errors import RevokerError
from revoker.service.bodies import read_body, response_of
from revoker.service.state import ServiceState

__all__ = ["client_address", "routes", "state_of"]


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.revoker
    return state


def client_address(request: Request) -> str:
    """The client's address as uvicorn saw it (X-Forwarded-For from trusted hops only)."""
    return request.client.host if request.client is not None else "unknown"


async def endpoint(request: Request) -> Response:
    state = state_of(request)
    try:
        body = b""
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            body = await read_body(request, state.settings.max_body_bytes)
    except RevokerError as exc:
        return response_of(answer_for(exc))
    api_request = ApiRequest(
        method=request.method,
        path=request.url.path,
        headers=_first_values(request),
        query=dict(request.query_params),
        body=body,
        client=client_address(request),
    )
    return response_of(await run_in_threadpool(state.api.handle, api_request))


def _first_values(request: Request) -> dict[str, str]:
    # A repeated header (two Authorization lines) counts by its first value, as Starlette's
    # own ``headers.get`` reads it.
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), value)
    return headers


routes = [Route(path, endpoint, methods=list(methods)) for path, methods in ROUTES]
