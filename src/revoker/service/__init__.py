"""The revoker HTTP service: a transport. Forward-auth, RFC 7662 introspection, RFC 7009
revocation and the admin API, translated into the application layer's operations.

Modules, one idea each:

- ``state``: the live objects one worker serves from (the composed ``Revoker``, the
  access gates, the metrics, the shared ``HttpApi``)
- ``forward_auth``: the raw-ASGI ``/auth`` fast path
- ``api_routes``: ``/introspect``, ``/revoke`` and ``/admin/…``, handed to ``app.http_api``
- ``ops``: health, readiness, metrics, the OpenAPI document
- ``bodies``: bounded request bodies, and answers as Starlette responses
- ``openapi`` (and ``openapi_schemas``): the hand-written ``/openapi.json``
- ``app``: the dispatcher in front of the Starlette app, and the worker factory
- ``runner``: uvicorn, sockets, signals and the dev issuer (``revoker.cli.serve`` is the
  command that runs it)

Importing this package loads no web framework: Starlette, uvicorn and
prometheus-client are imported by the modules that serve.
"""
