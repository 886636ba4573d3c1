"""The core: parse, verify, match, decide. No transport, no settings loader, no store driver.

- ``tokens``: parse a compact JWS without trusting it.
- ``jwks``: signing keys (JWKS URL, OIDC discovery, Cognito), cached.
- ``signature``, ``signed``: the signature with an explicit allow-list, by a trusted
  issuer's key: the step every validation profile shares.
- ``claims``, ``verify``: the access/ID-token profile: times, kind, audience.
- ``logout_token``, ``security_event`` (on ``event_tokens``): the back-channel logout
  and Security Event Token profiles, on the same keys and policy.
- ``binding``, ``dpop``: sender-constrained tokens (``cnf``) and DPoP proofs.
- ``registry``: revocation rules, their matching, the replica, the stores.
- ``authorizer``: verify + the request's proof + registry match -> a ``Decision``.
- ``errors``: every error, each with a reason code and a status; ``detail``: what a
  message may show of a received value.

Nothing here imports ``revoker.app`` or a transport (``service``, ``aws``,
``cli``, ``integrations``); a test guards it.
"""
