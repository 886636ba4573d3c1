"""Operations: ``/healthz`` (the process answers), ``/readyz`` (the replica is fresh),
``/metrics`` (Prometheus text) and ``/openapi.json``.

``/readyz`` fails (503) while the replica is older than ``max_staleness``:
then every check denies with ``registry_stale``, so a load balancer should
send traffic elsewhere. It reports staleness even when the policy fails open.
With Shared Signals on, it also lists each signal source's health (``signals``:
last event, last error, the stream's status); a failing stream does not make the
instance unready (its checks are still right), it shows there and in /metrics.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoker.service.api_routes import state_of
from revoker.service.metrics import CONTENT_TYPE
from revoker.service.openapi import openapi_document

__all__ = ["routes"]

_NO_CACHE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_CACHE)


async def readyz(request: Request) -> Response:
    replica = state_of(request).registry.replica
    lag = replica.lag_seconds
    fresh = replica.is_fresh
    document: dict[str, Any] = {
        "status": "ready" if fresh else "stale",
        "replica_lag_seconds": round(lag, 3) if math.isfinite(lag) else None,
        "replica_seq": replica.seq,
        "rules": replica.rule_count,
    }
    receiver = state_of(request).ssf
    if receiver is not None:
        document["signals"] = [health.to_json() for health in receiver.health.snapshot()]
    return JSONResponse(document, status_code=200 if fresh else 503, headers=_NO_CACHE)


async def metrics(request: Request) -> Response:
    body = state_of(request).metrics.render()
    return Response(body, media_type=CONTENT_TYPE, headers=_NO_CACHE)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(state_of(request).settings))


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
