"""The credential gate in front of /introspect, /revoke and /admin: who may pass, and the answers
for those who may not (401 with the right challenge, 403, 429 with ``Retry-After``).

A caller that presents a credential from an address over its failure budget
gets 429 before the credential is even looked at, so a correct guess cannot be
told from a wrong one while the limit holds. Callers that present nothing are
never counted: there is nothing to guess.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from revoker.service.bodies import error_response
from revoker.service.credentials import Caller, CallerKind
from revoker.service.logs import fields
from revoker.service.state import ServiceState

__all__ = [
    "admin_gate",
    "client_address",
    "credential_failure",
    "identify",
    "introspect_gate",
    "state_of",
]

log = logging.getLogger("revoker.service.credentials")


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.revoker
    return state


def _challenges(state: ServiceState, *, basic: bool, error: str | None) -> dict[str, str]:
    realm = state.settings.realm
    bearer = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
    if basic:
        # Starlette joins repeated names poorly; one header may list both challenges (RFC 9110).
        return {"WWW-Authenticate": f'Basic realm="{realm}", {bearer}'}
    return {"WWW-Authenticate": bearer}


def identify(request: Request, endpoint: str) -> tuple[Caller, JSONResponse | None]:
    """The caller, or a 429 when a credential comes from an address over its budget."""
    state = state_of(request)
    caller = state.credentials.identify(request.headers.get("authorization"))
    if caller.presented_credentials:
        wait = state.limiter.retry_after(client_address(request))
        if wait is not None:
            log.debug(  # a flood of these is what the limit is for: not one warning each
                "credential attempts throttled",
                extra=fields(endpoint=endpoint, client=client_address(request)),
            )
            return caller, error_response(
                429,
                "too_many_requests",
                f"too many failed credentials; retry in {wait}s",
                {"Retry-After": str(wait)},
            )
    return caller, None


def credential_failure(
    request: Request, endpoint: str, caller: Caller, *, basic: bool
) -> JSONResponse:
    """Count a wrong credential against the address and answer 401."""
    state = state_of(request)
    address = client_address(request)
    state.limiter.record_failure(address)
    state.metrics.credential_failures.labels(endpoint).inc()
    log.warning(
        "wrong credentials",
        extra=fields(endpoint=endpoint, client=address, scheme=caller.scheme or "none"),
    )
    if caller.scheme == "bearer":
        headers = _challenges(state, basic=basic, error="invalid_token")
        return error_response(
            401, "invalid_token", "the bearer token is not accepted here", headers
        )
    headers = _challenges(state, basic=basic, error=None)
    return error_response(401, "invalid_client", "client authentication failed", headers)


def introspect_gate(request: Request) -> JSONResponse | None:
    """/introspect: the admin bearer or a configured client (Basic); None lets the call in."""
    state = state_of(request)
    caller, refused = identify(request, "introspect")
    if refused is not None or caller.kind in (CallerKind.ADMIN, CallerKind.CLIENT):
        return refused
    if caller.kind is CallerKind.NONE:
        return error_response(
            401,
            "invalid_client",
            "authenticate with the admin bearer token or client credentials (HTTP Basic)",
            _challenges(state, basic=True, error=None),
        )
    return credential_failure(request, "introspect", caller, basic=True)


def admin_gate(request: Request) -> JSONResponse | None:
    """/admin: the admin bearer only; without a configured admin token, never open."""
    state = state_of(request)
    if not state.credentials.admin_enabled:
        return error_response(
            403, "admin_disabled", "the admin API is off: no admin token is configured"
        )
    caller, refused = identify(request, "admin")
    if refused is not None or caller.kind is CallerKind.ADMIN:
        return refused
    if caller.kind is CallerKind.NONE:
        return error_response(
            401,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
            _challenges(state, basic=False, error=None),
        )
    if caller.kind is CallerKind.CLIENT:  # a genuine client, just not an admin
        return error_response(403, "insufficient_scope", "client credentials cannot use /admin")
    return credential_failure(request, "admin", caller, basic=False)
