"""The revoker HTTP service: forward-auth, RFC 7662 introspection, RFC 7009 revocation, admin API.

Modules, one idea each:

- ``config``: ``ServiceSettings`` (the core ``Settings`` plus host, port, credentials …)
- ``credentials``: constant-time credential checks and the failed-auth rate limit
- ``gate``: who may call /introspect, /revoke and /admin, and the 401/403/429 answers
- ``state``: the live objects one worker serves from (authorizer, registry, metrics)
- ``forward_auth``: the raw-ASGI ``/auth`` fast path
- ``oauth``: ``/introspect`` and ``/revoke``; ``admin``: ``/admin/…``; ``ops``: health, metrics
- ``bodies``: bounded request bodies and JSON error responses
- ``openapi`` (and ``openapi_schemas``): the hand-written ``/openapi.json``
- ``app``: the dispatcher in front of the Starlette app, and the worker factory
- ``runner``: uvicorn, sockets, signals and the dev issuer; ``command``: the ``serve`` command

Importing this package (or ``command``) loads no web framework: Starlette,
uvicorn and prometheus-client are imported by the modules that serve.
"""

from __future__ import annotations

from revoker.service.config import ServiceSettings

__all__ = ["ServiceSettings"]
