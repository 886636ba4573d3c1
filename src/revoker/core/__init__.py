"""The core: parse, verify, match, decide. No transport, no settings loader, no store driver.

- ``tokens``: parse a compact JWS without trusting it.
- ``jwks``: signing keys (JWKS URL, OIDC discovery, Cognito), cached.
- ``verify``: signature with an explicit allow-list, then the claims.
- ``registry``: revocation rules, their matching, the replica, the stores.
- ``authorizer``: verify + registry match -> a ``Decision``.
- ``errors``: every error, each with a reason code and a status.

Nothing here imports ``revoker.app`` or a transport (``service``, ``aws``,
``cli``, ``integrations``); a test guards it.
"""
