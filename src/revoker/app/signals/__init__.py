"""Provider signals that become rules: Shared Signals (SSF 1.0 with CAEP 1.0 and RISC 1.0) and
Global Token Revocation (draft-parecki-oauth-global-token-revocation).

- ``subjects``: RFC 9493 subject identifiers (and SSF's complex subjects) -> what a rule
  can name: a session, a user (``sub`` or ``email``), a token (``jti``).
- ``events``: CAEP, RISC and SSF event types -> a plan: a rule to make, a verification, a
  stream status, or nothing (acknowledged and counted).
- ``receiver``: a SET, verified with the transmitter's keys, planned, applied through the
  registry with one rule per (transmitter, ``jti``); refusals carry RFC 8935's ``err``.
- ``streams``: the stream records ``revoker ssf register`` keeps (a local JSON file).
- ``transmitter``: the HTTP client of a transmitter: configuration, stream management,
  verification, RFC 8936 polls.
- ``poller``: the background poller of the poll streams (ack only once durable).
- ``health``: what each signal source last did, for /readyz, /metrics and the console.
- ``gtr``: the Global Token Revocation request -> a user cut-off.
"""
