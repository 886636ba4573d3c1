"""Every setting, declared once: its type, default, environment variable, flag, ``revoker.toml``
key and one line of help.

``Settings`` is the one frozen dataclass every process runs with: the library,
``revoker serve`` and its workers, the Lambda handlers, the CLI and the demo.
Each field's declaration (``setting(...)``) is the only place that knows its
name in each source; the environment loader and ``revoker.toml``
(``app.sources``), the click options (``cli.options``), the worker hand-off
(``to_json``/``from_json``) and the docs' tables (``app.settings_docs``, held to
the docs by a test) are all generated from it.

The toml key is the field name. The risky choice has no default: ``audience``
must be given (``None`` turns the check off, explicitly); a loader passes ``()``
for "not configured", which fails when a verifier is built, not before, so
commands that never verify (``revoker rules``) do not need one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from revoker.app.setting_types import (
    Audience,
    Choice,
    Flag,
    Integer,
    Pairs,
    Parser,
    Seconds,
    Text,
    Texts,
)
from revoker.core.authorizer import DEFAULT_CACHE_SIZE
from revoker.core.claims import COGNITO_MAX_LIFETIME_SECONDS, DEFAULT_LEEWAY_SECONDS
from revoker.core.errors import ConfigurationError
from revoker.core.jwks import cognito_issuer
from revoker.core.registry.rules import RegistryLimits
from revoker.core.transmitter_keys import require_transmitter_url
from revoker.core.urls import redacted_url
from revoker.core.verify import VerificationPolicy

__all__ = [
    "DEFAULT_STORE_URL",
    "GROUPS",
    "Settings",
    "Spec",
    "parse_token_use",
    "redacted_url",
    "specs",
]

DEFAULT_STORE_URL = "sqlite:///revoker.db"
TOKEN_USE_CHOICES = ("id", "access", "any")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
REGISTRY_MODES = ("replica", "lookup", "auto")
MIN_ADMIN_TOKEN_LENGTH = 16
MIN_CONSOLE_SESSION_SECONDS = 60.0
MAX_CONSOLE_SESSION_SECONDS = 7 * 86400.0
MIN_BODY_BYTES = 16 * 1024  # a form with an 8 KiB token, percent-encoded, must fit
MAX_WORKERS = 64
# Long enough for any sane Lambda sync bound, short enough to keep a revoke call snappy.
MAX_SYNC_AGE_SECONDS = 30.0

#: The groups, in the order the docs list them: who reads the setting.
GROUPS = {
    "verification": "Verification (every process that checks tokens)",
    "registry": "Revocation registry (every process that reads or writes rules)",
    "signals": "Provider signals (back-channel logout, Shared Signals, Global Token "
    "Revocation; sender-constrained tokens)",
    "service": "The HTTP service (`revoker serve`)",
    "aws": "AWS Lambda handlers",
}

# RFC 6265 cookie-name = token (RFC 7230 tchar).
_TOKEN_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER_NAME = r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}"
_CREDENTIAL = rf"[!-~]{{{MIN_ADMIN_TOKEN_LENGTH},}}"
_STAGE = re.compile(r"(?P<api>[A-Za-z0-9]{1,64})/(?P<stage>[A-Za-z0-9_$-]{1,128})")


@dataclass(frozen=True, slots=True)
class Spec:
    """One setting's declaration. ``name`` is the ``Settings`` field and the toml key."""

    name: str
    help: str
    parser: Parser
    group: str
    env: tuple[str, ...]  # the first is the one documented; later ones are fallbacks
    flag: str | None  # None: not on the command line (the Lambda's, for example)
    secret: bool
    default: Any

    @property
    def toml_key(self) -> str:
        return self.name

    def where(self, source: str) -> str:
        """How an error names this setting in ``source`` (env, toml, flag)."""
        if source == "env":
            return self.env[0]
        if source == "flag" and self.flag is not None:
            return self.flag
        return f"{self.name} (revoker.toml)" if source == "toml" else self.name


def setting(
    default: Any,
    *,
    help: str,  # noqa: A002 - the word every reader expects here
    parser: Parser | None = None,
    group: str,
    env: str | tuple[str, ...] | None = None,
    flag: str | bool | None = True,
    secret: bool = False,
) -> Any:
    """Declare a ``Settings`` field; ``env`` defaults to ``REVOKER_<NAME>``, ``flag`` to
    ``--<name>`` (``flag=False``: no flag). The name is filled in from the field."""
    return field(
        default=default,
        metadata={
            "revoker": {
                "help": help,
                "parser": parser or Text(),
                "group": group,
                "env": env,
                "flag": flag,
                "secret": secret,
            }
        },
        repr=not secret,
    )


def _client(raw: str, where: str) -> tuple[str, str]:
    client_id, sep, secret = raw.partition(":")
    if not sep or not client_id or not secret:
        raise ConfigurationError(f"{where}: an introspection client is CLIENT_ID:SECRET")
    return client_id, secret


def _stage(raw: str, where: str) -> tuple[str, str]:
    match = _STAGE.fullmatch(raw)
    if match is None:
        raise ConfigurationError(f"{where} takes apiId/stage entries, not {raw[:64]!r}")
    return match["api"], match["stage"]


# The surfaces that authorize once (WebSocket APIs, AppSync): AppSync's own bound on an
# authorizer result's cache TTL (authorizerResultTtlInSeconds); header:NAME, query:NAME and
# protocol:MARKER (a Sec-WebSocket-Protocol entry: an RFC 7230 token) token sources.
MAX_APPSYNC_TTL_SECONDS = 3600.0
_HTTPS_URL = r"https://[^\s/?#]+(/[^\s]*)?"
_TOKEN_SOURCE = rf"(header|query):{_HEADER_NAME}|protocol:{_TOKEN_CHARS}"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything revoker runs with. ``audience`` has no default on purpose."""

    # -- verification -----------------------------------------------------------
    issuers: tuple[str, ...] = setting(
        (),
        help="Trusted issuers (repeatable; comma-separated in the environment).",
        parser=Texts(metavar="URL"),
        group="verification",
        env="REVOKER_ISSUER",
        flag="--issuer",
    )
    jwks_url: str | None = setting(
        None,
        help="Fetch the keys here instead of by OIDC discovery.",
        parser=Text(metavar="URL"),
        group="verification",
    )
    cognito_user_pool_id: str | None = setting(
        None,
        help="Trust this Cognito user pool: its issuer and JWKS are derived; its tokens must "
        "carry token_use.",
        parser=Text(metavar="POOL_ID"),
        group="verification",
    )
    region: str | None = setting(
        None,
        help="The Cognito pool's AWS region.",
        parser=Text(metavar="REGION"),
        group="verification",
        env=("REVOKER_REGION", "AWS_REGION"),
    )
    audience: tuple[str, ...] | None = setting(
        (),
        help="Accepted aud / client_id values (repeatable); required; '*' turns the check off.",
        parser=Audience(metavar="CLIENT_ID"),
        group="verification",
        env="REVOKER_AUDIENCE",
        flag="--audience",
    )
    token_use: str = setting(
        "any",
        help="Accept ID tokens, access tokens, or any kind (the kind comes from Cognito's "
        "token_use, else an at+jwt header).",
        parser=Choice(choices=TOKEN_USE_CHOICES, metavar="|".join(TOKEN_USE_CHOICES)),
        group="verification",
    )
    algorithms: tuple[str, ...] = setting(
        ("RS256",),
        help="Allowed signature algorithms (repeatable).",
        parser=Texts(metavar="ALG"),
        group="verification",
        env="REVOKER_ALGORITHMS",
        flag="--algorithm",
    )
    leeway_seconds: float = setting(
        DEFAULT_LEEWAY_SECONDS,
        help="Clock leeway for exp, nbf and iat.",
        parser=Seconds(high=300),
        group="verification",
        flag="--leeway",
    )
    max_token_lifetime_seconds: float = setting(
        COGNITO_MAX_LIFETIME_SECONDS,
        help="Tokens living longer (exp - iat) are refused; cut-off rules live this long "
        "past their cutoff. Recorded in the store: every process must agree.",
        parser=Seconds(low=0, low_open=True),
        group="verification",
        flag="--max-token-lifetime",
    )
    jwks_cooldown_seconds: float = setting(
        10.0,
        help="At most one JWKS refetch per issuer this often for an unknown kid.",
        parser=Seconds(),
        group="verification",
        flag="--jwks-cooldown",
    )
    jwks_timeout_seconds: float = setting(
        3.0,
        help="A JWKS or discovery fetch gives up after this long.",
        parser=Seconds(low=0, low_open=True, high=60),
        group="verification",
        flag="--jwks-timeout",
    )
    # -- signals and sender-constrained tokens ------------------------------------
    backchannel_logout: bool = setting(
        True,
        help="Serve POST /backchannel-logout (OIDC Back-Channel Logout 1.0) for every trusted "
        "issuer.",
        parser=Flag(),
        group="signals",
    )
    backchannel_logout_audience: tuple[str, ...] = setting(
        (),
        help="The client ids a logout token's aud may name (repeatable; default: the audience).",
        parser=Texts(metavar="CLIENT_ID"),
        group="signals",
        env="REVOKER_BACKCHANNEL_LOGOUT_AUDIENCE",
        flag="--backchannel-logout-audience",
    )
    dpop: bool = setting(
        False,
        help="Accept DPoP-bound tokens (RFC 9449) with a valid DPoP proof at /auth; without it "
        "such tokens are refused (sender_constrained).",
        parser=Flag(),
        group="signals",
    )
    dpop_max_age_seconds: float = setting(
        60.0,
        help="How old a DPoP proof's iat may be.",
        parser=Seconds(low=0, low_open=True, high=3600),
        group="signals",
        flag="--dpop-max-age",
    )
    client_cert_header: str | None = setting(
        None,
        help="The header in which the TLS-terminating gateway passes the client certificate "
        "(URL-encoded PEM, as nginx's $ssl_client_escaped_cert), for mTLS-bound tokens.",
        parser=Text(metavar="HEADER", pattern=_HEADER_NAME, explain="an HTTP header name"),
        group="signals",
    )
    # -- Shared Signals (SSF 1.0: CAEP, RISC) and Global Token Revocation ---------------
    ssf_transmitters: tuple[str, ...] = setting(
        (),
        help="Trusted Shared Signals transmitters (issuer URLs, repeatable): their "
        "/.well-known/ssf-configuration gives the jwks_uri their SETs are signed with. https, "
        "or http on loopback only.",
        parser=Texts(metavar="ISSUER_URL"),
        group="signals",
        env="REVOKER_SSF_TRANSMITTER",
        flag="--ssf-transmitter",
    )
    ssf_audience: tuple[str, ...] = setting(
        (),
        help="What a SET's aud may name (repeatable; default: the audience).",
        parser=Texts(metavar="AUDIENCE"),
        group="signals",
        env="REVOKER_SSF_AUDIENCE",
        flag="--ssf-audience",
    )
    ssf_push_token: str | None = setting(
        None,
        help="The bearer token every push to POST /ssf/events must carry (RFC 8935; prefer the "
        "environment). Without it push delivery is refused (access_denied); poll still works.",
        parser=Text(pattern=_CREDENTIAL, explain="at least 16 printable ASCII characters"),
        group="signals",
        secret=True,
    )
    ssf_transmitter_token: str | None = setting(
        None,
        help="The bearer token revoker presents to the transmitter: its stream management API "
        "and its poll endpoint (prefer the environment).",
        parser=Text(pattern=r"[!-~]+", explain="printable ASCII without spaces"),
        group="signals",
        secret=True,
    )
    ssf_max_age_seconds: float = setting(
        86400.0,
        help="A SET issued longer ago than this is refused (invalid_request): poll delivery "
        "may bring old SETs after an outage.",
        parser=Seconds(low=0, low_open=True, high=30 * 86400),
        group="signals",
        env="REVOKER_SSF_MAX_AGE",
        flag="--ssf-max-age",
    )
    ssf_credential_types: tuple[str, ...] = setting(
        (),
        help="The CAEP credential-change credential types that cut a user's tokens off "
        "(repeatable: password, pin, x509, fido2-platform …; default: every type).",
        parser=Texts(metavar="TYPE"),
        group="signals",
        env="REVOKER_SSF_CREDENTIAL_TYPES",
        flag="--ssf-credential-type",
    )
    ssf_streams_file: str = setting(
        "ssf-streams.json",
        help="Where `revoker ssf register` records streams and the service finds the ones to "
        "poll (a JSON file, mode 0600).",
        parser=Text(metavar="PATH"),
        group="signals",
        env="REVOKER_SSF_STREAMS",
        flag="--ssf-streams",
    )
    ssf_poll_interval_seconds: float = setting(
        1.0,
        help="How long the poller waits after an empty poll (RFC 8936) before the next.",
        parser=Seconds(low=0.01, high=3600),
        group="signals",
        env="REVOKER_SSF_POLL_INTERVAL",
        flag="--ssf-poll-interval",
    )
    gtr_token: str | None = setting(
        None,
        help="A bearer token that may call POST /global-token-revocation (prefer the environment).",
        parser=Text(pattern=_CREDENTIAL, explain="at least 16 printable ASCII characters"),
        group="signals",
        secret=True,
    )
    gtr_issuers: tuple[str, ...] = setting(
        (),
        help="Issuers whose signed JWT (RFC 7523 style, e.g. Okta Universal Logout) may call "
        "POST /global-token-revocation (repeatable; keys by OIDC discovery).",
        parser=Texts(metavar="ISSUER_URL"),
        group="signals",
        env="REVOKER_GTR_ISSUER",
        flag="--gtr-issuer",
    )
    gtr_audience: tuple[str, ...] = setting(
        (),
        help="What such a JWT's aud must name: the endpoint's URL as the caller knows it "
        "(repeatable; required with --gtr-issuer).",
        parser=Texts(metavar="URL"),
        group="signals",
        env="REVOKER_GTR_AUDIENCE",
        flag="--gtr-audience",
    )
    # -- registry ---------------------------------------------------------------
    store_url: str = setting(
        DEFAULT_STORE_URL,
        help="Rule store: memory://, sqlite:///path, redis://…, postgresql://…, dynamodb://….",
        parser=Text(metavar="URL"),
        group="registry",
        env="REVOKER_STORE",
        flag="--store",
    )
    max_staleness_seconds: float = setting(
        30.0,
        help="Deny (registry_stale) when the rules could not be synced for this long.",
        parser=Seconds(),
        group="registry",
        env="REVOKER_MAX_STALENESS",
        flag="--max-staleness",
    )
    fail_open: bool = setting(
        False,
        help="Allow genuine tokens while the rules are stale (not recommended).",
        parser=Flag(),
        group="registry",
    )
    poll_interval_seconds: float = setting(
        0.5,
        help="How often a replica catches up with its store (stores that push: a safety net).",
        parser=Seconds(low=0, low_open=True),
        group="registry",
        env="REVOKER_POLL_INTERVAL",
        flag="--poll-interval",
    )
    cache_size: int = setting(
        DEFAULT_CACHE_SIZE,
        help="Verified tokens kept until their exp (0: verify every request).",
        parser=Integer(high=10_000_000),
        group="registry",
    )
    family_lifetime_seconds: float = setting(
        30 * 86400.0,
        help="How long family and session rules live: the refresh-token lifetime.",
        parser=Seconds(low=0, low_open=True),
        group="registry",
        flag="--family-lifetime",
    )
    short_rules_when_issuer_revoked: bool = setting(
        True,
        help="When the issuer itself has ended a sign-in (a back-channel logout, Cognito "
        "RevokeToken by pass-through), its session or family rule lives one maximum token "
        "lifetime, not the family lifetime: no new token can come from it.",
        parser=Flag(),
        group="registry",
    )
    index_snapshot_seconds: float = setting(
        600.0,
        help="How often a replica holding the compact index (250,000 rules or more) saves it "
        "whole to a SQLite, PostgreSQL or Redis store, so the next one starts in seconds "
        "(0: never; at most the stores' one-hour change retention, which a saved index must "
        "be younger than to be used).",
        parser=Seconds(high=3600),
        group="registry",
        env="REVOKER_INDEX_SNAPSHOT_SECONDS",
    )
    # -- service ----------------------------------------------------------------
    host: str = setting(
        "127.0.0.1",
        help="Address to listen on.",
        parser=Text(metavar="ADDRESS", pattern=r"\S+", explain="a host name or an address"),
        group="service",
    )
    port: int = setting(
        8080,
        help="Port to listen on (0: any free port).",
        parser=Integer(high=65535),
        group="service",
    )
    workers: int = setting(
        1,
        help="Worker processes.",
        parser=Integer(low=1, high=MAX_WORKERS),
        group="service",
    )
    admin_token: str | None = setting(
        None,
        help="Bearer token for /admin and /introspect (prefer the environment). Without it "
        "the admin API is off.",
        group="service",
        secret=True,
    )
    introspect_clients: tuple[tuple[str, str], ...] = setting(
        (),
        help="Introspection clients for HTTP Basic, ID:SECRET (repeatable).",
        parser=Pairs(metavar="ID:SECRET", split=_client),
        group="service",
        env="REVOKER_INTROSPECT_CLIENTS",
        flag="--introspect-client",
        secret=True,
    )
    cookie_name: str | None = setting(
        None,
        help="/auth also reads the token from this cookie.",
        parser=Text(metavar="NAME", pattern=_TOKEN_CHARS, explain="a cookie name"),
        group="service",
    )
    realm: str = setting(
        "revoker",
        help="The realm of the WWW-Authenticate challenges.",
        parser=Text(
            pattern=r"[\x21\x23-\x5b\x5d-\x7e ]{1,64}",
            explain="printable ASCII without quotes or '\\'",
        ),
        group="service",
    )
    log_format: str = setting(
        "text",
        help="Log lines as key=value text or as JSON objects.",
        parser=Choice(choices=LOG_FORMATS, metavar="|".join(LOG_FORMATS)),
        group="service",
    )
    log_level: str = setting(
        "info",
        help="The lowest level logged.",
        parser=Choice(choices=LOG_LEVELS, metavar="|".join(LOG_LEVELS)),
        group="service",
    )
    forwarded_allow_ips: str | None = setting(
        None,
        help="Trust X-Forwarded-For from exactly these proxy addresses (comma-separated).",
        parser=Text(metavar="ADDRESSES"),
        group="service",
    )
    max_body_bytes: int = setting(
        64 * 1024,
        help="The largest request body accepted (413 past it).",
        parser=Integer(low=MIN_BODY_BYTES, high=16 * 1024 * 1024),
        group="service",
    )
    auth_failures_per_minute: int = setting(
        10,
        help="Failed credential attempts allowed per client address and credential kind, "
        "per minute and per worker.",
        parser=Integer(low=1, high=100_000),
        group="service",
    )
    http_max_header_bytes: int = setting(
        64 * 1024,
        help="The largest request line plus headers (431 past it; 414 for the line alone).",
        parser=Integer(low=16 * 1024, high=1024 * 1024),
        group="service",
        env="REVOKER_HTTP_MAX_HEADER_BYTES",
    )
    http_max_headers: int = setting(
        100,
        help="The most header fields a request may carry, Host included (431 past it).",
        parser=Integer(low=16, high=1000),
        group="service",
        env="REVOKER_HTTP_MAX_HEADERS",
    )
    http_head_timeout_seconds: float = setting(
        10.0,
        help="A connection (or a keep-alive request's first byte) must finish its request head "
        "within this (408, then closed): slowloris ends here.",
        parser=Seconds(low=0.1, high=300),
        group="service",
        env="REVOKER_HTTP_HEAD_TIMEOUT_SECONDS",
        flag="--http-head-timeout",
    )
    http_body_timeout_seconds: float = setting(
        30.0,
        help="A request body must arrive within this after its head (and a client must read "
        "its response within this).",
        parser=Seconds(low=0.1, high=300),
        group="service",
        env="REVOKER_HTTP_BODY_TIMEOUT_SECONDS",
        flag="--http-body-timeout",
    )
    http_idle_timeout_seconds: float = setting(
        5.0,
        help="An idle keep-alive connection is closed after this.",
        parser=Seconds(low=0.1, high=300),
        group="service",
        env="REVOKER_HTTP_IDLE_TIMEOUT_SECONDS",
        flag="--http-idle-timeout",
    )
    http_max_connections: int = setting(
        1000,
        help="Open connections per worker process (503 past it; lowered to fit the descriptor "
        "limit).",
        parser=Integer(low=1, high=1_000_000),
        group="service",
        env="REVOKER_HTTP_MAX_CONNECTIONS",
    )
    dev_issuer: bool = setting(
        False,
        help="Also run a local Cognito-shaped issuer and trust it (development only).",
        parser=Flag(),
        group="service",
    )
    dev_issuer_port: int = setting(
        9000,
        help="The dev issuer's port.",
        parser=Integer(high=65535),
        group="service",
    )
    # -- the console (/console) ------------------------------------------------------
    viewer_token: str | None = setting(
        None,
        help="A read-only credential for the console at /console (prefer the environment): a "
        "viewer sees everything and changes nothing. The admin token signs in with every right.",
        parser=Text(pattern=_CREDENTIAL, explain="at least 16 printable ASCII characters"),
        group="service",
        secret=True,
    )
    console_session_seconds: float = setting(
        3600.0,
        help="How long a console sign-in lasts; signing out ends it at once.",
        parser=Seconds(low=MIN_CONSOLE_SESSION_SECONDS, high=MAX_CONSOLE_SESSION_SECONDS),
        group="service",
        env="REVOKER_CONSOLE_SESSION",
    )
    # -- AWS --------------------------------------------------------------------
    simple_responses: bool = setting(
        False,
        help='HTTP API 2.0 authorizers answer {"isAuthorized": …} instead of an IAM policy.',
        parser=Flag(),
        group="aws",
        flag=False,
    )
    auth_header: str = setting(
        "authorization",
        help="The header holding the token in REQUEST authorizer events.",
        parser=Text(metavar="HEADER", pattern=_HEADER_NAME, explain="an HTTP header name"),
        group="aws",
        flag=False,
    )
    policy_resource: str = setting(
        "method",
        help="What an allow policy covers: the method ARN, or api-wildcard (…/api/stage/*), so "
        "a cached policy fits every route.",
        parser=Choice(choices=("method", "api-wildcard"), metavar="method|api-wildcard"),
        group="aws",
        flag=False,
    )
    sync_max_age_seconds: float = setting(
        1.0,
        help="How old a Lambda replica may get before an invocation syncs it.",
        parser=Seconds(high=MAX_SYNC_AGE_SECONDS),
        group="aws",
        env="REVOKER_SYNC_MAX_AGE",
        flag=False,
    )
    registry_mode: str = setting(
        "auto",
        help="How a Lambda on a DynamoDB store checks rules: replica (every rule in memory), "
        "lookup (one BatchGetItem of the token's keys, cached up to REVOKER_SYNC_MAX_AGE), or "
        "auto (lookup above REVOKER_LOOKUP_ABOVE rules).",
        parser=Choice(choices=REGISTRY_MODES, metavar="|".join(REGISTRY_MODES)),
        group="aws",
        flag=False,
    )
    lookup_above: int = setting(
        10_000,
        help="In auto registry mode, the table's approximate rule count above which a Lambda "
        "looks rules up instead of holding a replica.",
        parser=Integer(high=10**12),
        group="aws",
        flag=False,
    )
    admin_token_secret_arn: str | None = setting(
        None,
        help="A Secrets Manager secret holding the admin token (instead of REVOKER_ADMIN_TOKEN).",
        parser=Text(metavar="ARN"),
        group="aws",
        flag=False,
    )
    passthrough_cognito: bool = setting(
        False,
        help="Also call Cognito RevokeToken for a revoked family whose refresh token is given.",
        parser=Flag(),
        group="aws",
        flag=False,
    )
    cognito_client_secret: str | None = setting(
        None,
        help="The app client's secret, if it has one (for RevokeToken).",
        group="aws",
        flag=False,
        secret=True,
    )
    flush_rest_stages: tuple[tuple[str, str], ...] = setting(
        (),
        help="REST API stages (apiId/stage) whose authorizer cache a revoke flushes.",
        parser=Pairs(metavar="API/STAGE", split=_stage),
        group="aws",
        flag=False,
    )
    flush_http_stages: tuple[tuple[str, str], ...] = setting(
        (),
        help="HTTP API stages (apiId/stage) whose authorizer cache a revoke resets.",
        parser=Pairs(metavar="API/STAGE", split=_stage),
        group="aws",
        flag=False,
    )
    resolve_usernames: bool = setting(
        True,
        help="Resolve CloudTrail usernames to subs with AdminGetUser.",
        parser=Flag(),
        group="aws",
        flag=False,
    )
    # -- AWS: the surfaces that authorize once (WebSocket APIs, AppSync) ------------
    appsync_max_ttl_seconds: float = setting(
        0.0,
        help="The longest ttlOverride the AppSync authorizer answers (AppSync serves a cached "
        "allow that long, revoked or not); never past the token's exp. 0: no caching.",
        parser=Seconds(high=MAX_APPSYNC_TTL_SECONDS),
        group="aws",
        env="REVOKER_APPSYNC_MAX_TTL",
        flag=False,
    )
    appsync_invalidation_url: str | None = setting(
        None,
        help="An AppSync GraphQL endpoint (https://…/graphql): every new rule calls its "
        "revokerInvalidate mutation, IAM-signed, so the subscriptions it matches are closed.",
        parser=Text(metavar="URL", pattern=_HTTPS_URL, explain="an https:// URL"),
        group="aws",
        flag=False,
    )
    websocket_token_sources: tuple[str, ...] = setting(
        ("header:authorization",),
        help="Where the WebSocket $connect authorizer finds the token, first match wins: "
        "header:NAME, query:NAME, protocol:MARKER (the Sec-WebSocket-Protocol entry after "
        "MARKER, for browsers).",
        parser=Texts(
            metavar="SOURCE",
            item=Text(pattern=_TOKEN_SOURCE, explain="header:NAME, query:NAME or protocol:MARKER"),
        ),
        group="aws",
        flag=False,
    )
    connections_store_url: str | None = setting(
        None,
        help="Where WebSocket connections are recorded (dynamodb://TABLE?region=…, memory://): "
        "the $connect authorizer records each one it allows, and every new rule closes those "
        "it matches.",
        parser=Text(metavar="URL"),
        group="aws",
        env="REVOKER_CONNECTIONS",
        flag=False,
    )
    websocket_max_connection_seconds: float = setting(
        7200.0,
        help="How long a connection record is kept: API Gateway's longest WebSocket "
        "connection (2 h), whatever the token's exp.",
        parser=Seconds(low=0, low_open=True, high=86400),
        group="aws",
        env="REVOKER_WEBSOCKET_MAX_CONNECTION",
        flag=False,
    )

    def __post_init__(self) -> None:
        for name in ("leeway_seconds", "max_staleness_seconds", "max_token_lifetime_seconds",
                     "poll_interval_seconds", "jwks_cooldown_seconds", "jwks_timeout_seconds",
                     "family_lifetime_seconds", "sync_max_age_seconds"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative number")
        if not 0 <= self.leeway_seconds <= 300:
            raise ConfigurationError("leeway_seconds must lie between 0 and 300")
        if not 0 <= self.sync_max_age_seconds <= MAX_SYNC_AGE_SECONDS:
            raise ConfigurationError(
                f"REVOKER_SYNC_MAX_AGE must lie between 0 and {MAX_SYNC_AGE_SECONDS:g} seconds"
            )
        self._check_service()
        self._check_console()
        self._check_signals()

    def _check_service(self) -> None:  # noqa: PLR0912 - one branch per setting, flat on purpose
        self._check_realtime()
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigurationError("--host must be a host name or an address")
        if not 0 <= self.port <= 65535:
            raise ConfigurationError("--port must lie between 0 and 65535")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigurationError(f"--workers must lie between 1 and {MAX_WORKERS}")
        if self.admin_token is not None and (
            len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH or not _printable(self.admin_token)
        ):
            raise ConfigurationError(
                f"the admin token must be at least {MIN_ADMIN_TOKEN_LENGTH} printable ASCII "
                "characters without spaces"
            )
        seen: set[str] = set()
        for client_id, secret in self.introspect_clients:
            if not client_id or ":" in client_id or not _printable(client_id):
                raise ConfigurationError(f"introspection client id {client_id!r} is not usable")
            if not secret:
                raise ConfigurationError(f"introspection client {client_id!r} has no secret")
            if client_id in seen:
                raise ConfigurationError(f"introspection client {client_id!r} is given twice")
            seen.add(client_id)
        if self.cookie_name is not None and not re.fullmatch(_TOKEN_CHARS, self.cookie_name):
            raise ConfigurationError(f"--cookie-name {self.cookie_name!r} is not a cookie name")
        realm = self.realm
        if not realm or not _printable(realm.replace(" ", "_")) or '"' in realm or "\\" in realm:
            raise ConfigurationError("the realm must be printable ASCII without quotes or '\\'")
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigurationError("--log-level must be debug, info, warning or error")
        if self.max_body_bytes < MIN_BODY_BYTES:
            raise ConfigurationError(f"the body limit must be at least {MIN_BODY_BYTES} bytes")
        if self.auth_failures_per_minute < 1:
            raise ConfigurationError("the failed-auth limit must be at least 1 per minute")
        if not re.fullmatch(_HEADER_NAME, self.auth_header):
            raise ConfigurationError("REVOKER_AUTH_HEADER must be an HTTP header name")
        if self.policy_resource not in ("method", "api-wildcard"):
            raise ConfigurationError("REVOKER_POLICY_RESOURCE must be 'method' or 'api-wildcard'")

    def _check_console(self) -> None:
        viewer = self.viewer_token
        if viewer is not None and (len(viewer) < MIN_ADMIN_TOKEN_LENGTH or not _printable(viewer)):
            raise ConfigurationError(
                f"the viewer token must be at least {MIN_ADMIN_TOKEN_LENGTH} printable ASCII "
                "characters without spaces"
            )
        if viewer is not None and viewer == self.admin_token:
            raise ConfigurationError("the viewer token must differ from the admin token")
        session = self.console_session_seconds
        if isinstance(session, bool) or not isinstance(session, int | float):
            raise ConfigurationError("console_session_seconds must be a number of seconds")
        if not MIN_CONSOLE_SESSION_SECONDS <= session <= MAX_CONSOLE_SESSION_SECONDS:
            raise ConfigurationError(
                f"REVOKER_CONSOLE_SESSION must lie between {MIN_CONSOLE_SESSION_SECONDS:g} "
                f"and {MAX_CONSOLE_SESSION_SECONDS:g} seconds"
            )

    def _check_signals(self) -> None:
        """Shared Signals and Global Token Revocation: URLs, secrets and what needs what."""
        for transmitter in self.ssf_transmitters:
            require_transmitter_url(transmitter, "--ssf-transmitter")
        if len(set(self.ssf_transmitters)) != len(self.ssf_transmitters):
            raise ConfigurationError("--ssf-transmitter names a transmitter twice")
        for name in ("ssf_push_token", "gtr_token"):
            secret = getattr(self, name)
            if secret is not None and (
                len(secret) < MIN_ADMIN_TOKEN_LENGTH or not _printable(secret)
            ):
                raise ConfigurationError(
                    f"{spec(name).env[0]} must be at least {MIN_ADMIN_TOKEN_LENGTH} printable "
                    "ASCII characters without spaces"
                )
        token = self.ssf_transmitter_token
        if token is not None and (not token or not _printable(token)):
            raise ConfigurationError(
                "REVOKER_SSF_TRANSMITTER_TOKEN must be printable ASCII without spaces"
            )
        age = self.ssf_max_age_seconds
        if isinstance(age, bool) or not isinstance(age, int | float) or not 0 < age < math.inf:
            raise ConfigurationError("ssf_max_age_seconds must be a positive number of seconds")
        interval = self.ssf_poll_interval_seconds
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not 0 < interval < math.inf
        ):
            raise ConfigurationError("ssf_poll_interval_seconds must be a positive number")
        if not self.ssf_streams_file:
            raise ConfigurationError("--ssf-streams must name a file")
        if self.ssf_transmitters and self.audience is None and not self.ssf_audience:
            raise ConfigurationError(
                "a SET must name its audience: give --ssf-audience (the audience is '*')"
            )
        for issuer in self.gtr_issuers:
            require_transmitter_url(issuer, "--gtr-issuer")
        if self.gtr_issuers and not self.gtr_audience:
            raise ConfigurationError(
                "--gtr-issuer needs --gtr-audience: the URL a caller's JWT names as its aud"
            )

    # -- what the parts are built from ------------------------------------------

    def trusted_issuers(self) -> tuple[str, ...]:
        """Configured issuers, plus the one a Cognito pool id implies."""
        issuers = list(self.issuers)
        implied = self.cognito_issuer()
        if implied is not None and implied not in issuers:
            issuers.append(implied)
        if not issuers:
            raise ConfigurationError(
                "no trusted issuer: set --issuer/REVOKER_ISSUER or a Cognito user pool id"
            )
        return tuple(issuers)

    def cognito_issuer(self) -> str | None:
        """The issuer the Cognito pool id implies, or None without one."""
        if not self.cognito_user_pool_id:
            return None
        if not self.region:
            raise ConfigurationError("a Cognito user pool id needs a region (AWS_REGION)")
        return cognito_issuer(self.region, self.cognito_user_pool_id)

    def policy(self) -> VerificationPolicy:
        """The verification policy; a one-line ``ConfigurationError`` when it cannot be one."""
        if self.audience == ():
            raise ConfigurationError(
                "give --audience CLIENT_ID (REVOKER_AUDIENCE; repeatable), or --audience '*' "
                "to skip the audience check"
            )
        return VerificationPolicy(
            issuers=self.trusted_issuers(),
            audience=self.audience,
            token_use=parse_token_use(self.token_use),
            algorithms=frozenset(self.algorithms),
            leeway_seconds=self.leeway_seconds,
            max_lifetime_seconds=self.max_token_lifetime_seconds,
        )

    def ssf_receiver_audience(self) -> tuple[str, ...] | None:
        """What a SET's ``aud`` may name: the setting, else the audience."""
        return self.ssf_audience or self.audience

    @property
    def ssf_enabled(self) -> bool:
        return bool(self.ssf_transmitters)

    @property
    def gtr_enabled(self) -> bool:
        return self.gtr_token is not None or bool(self.gtr_issuers)

    def logout_audience(self) -> tuple[str, ...] | None:
        """What a logout token's ``aud`` may name: the setting, else the audience."""
        return self.backchannel_logout_audience or self.audience

    def backchannel_logout_off_because(self) -> str | None:
        """Why ``/backchannel-logout`` is off, in words; None when it is on."""
        if not self.backchannel_logout:
            return "back-channel logout is turned off (--no-backchannel-logout)"
        if self.logout_audience() is None:
            # A logout token must name this client in aud (§2.6): with '*' nothing would.
            return (
                "back-channel logout is off: --audience '*' checks no audience, and a logout "
                "token's aud must name this client; set --backchannel-logout-audience"
            )
        return None

    def registry_limits(self) -> RegistryLimits:
        """How long rules live: the token lifetime the verifier accepts, the family lifetime."""
        return RegistryLimits(
            max_token_lifetime_seconds=self.max_token_lifetime_seconds,
            family_lifetime_seconds=self.family_lifetime_seconds,
        )

    @property
    def admin_enabled(self) -> bool:
        return self.admin_token is not None

    def _check_realtime(self) -> None:
        """The settings of the surfaces that authorize once (WebSocket APIs, AppSync)."""
        ttl = self.appsync_max_ttl_seconds
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not (0 <= ttl <= MAX_APPSYNC_TTL_SECONDS)
        ):
            raise ConfigurationError(
                "REVOKER_APPSYNC_MAX_TTL must lie between 0 and "
                f"{MAX_APPSYNC_TTL_SECONDS:g} seconds"
            )
        longest = self.websocket_max_connection_seconds
        if (
            isinstance(longest, bool)
            or not isinstance(longest, int | float)
            or not (0 < longest <= 86400)
        ):
            raise ConfigurationError(
                "REVOKER_WEBSOCKET_MAX_CONNECTION must lie above 0 and at most 86400 seconds"
            )
        if not self.websocket_token_sources:
            raise ConfigurationError("REVOKER_WEBSOCKET_TOKEN_SOURCES names no token source")
        for source in self.websocket_token_sources:
            if not isinstance(source, str) or not re.fullmatch(_TOKEN_SOURCE, source):
                raise ConfigurationError(
                    f"REVOKER_WEBSOCKET_TOKEN_SOURCES: {str(source)[:64]!r} is not header:NAME, "
                    "query:NAME or protocol:MARKER"
                )
        url = self.appsync_invalidation_url
        if url is not None and not re.fullmatch(_HTTPS_URL, url):
            raise ConfigurationError("REVOKER_APPSYNC_INVALIDATION_URL must be an https:// URL")

    # -- for people and for worker processes --------------------------------------

    def describe(self) -> dict[str, Any]:
        """Every setting for a person to read: secrets replaced, URLs' passwords hidden."""
        shown: dict[str, Any] = {}
        for spec in specs():
            value = getattr(self, spec.name)
            if spec.secret:
                if spec.name == "introspect_clients":
                    value = [client_id for client_id, _ in value]
                else:
                    value = None if value is None else "***"
            else:
                value = _redacted(spec.parser.to_json(value))
            shown[spec.name] = value
        return shown

    def to_json(self) -> str:
        """Every field, secrets included: for a worker's environment, never for a log."""
        return json.dumps(
            {spec.name: spec.parser.to_json(getattr(self, spec.name)) for spec in specs()},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The inverse of ``to_json``; anything malformed is a ``ConfigurationError``."""
        known = {spec.name: spec for spec in specs()}
        try:
            data = json.loads(text)
            values = {name: known[name].parser.from_json(raw) for name, raw in data.items()}
            return cls(**values)
        except ConfigurationError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigurationError("the settings hand-over is not valid settings") from exc

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def parse_token_use(value: str) -> frozenset[str] | None:
    """``id`` or ``access`` select by the token's kind; ``any`` (None) accepts every kind,
    one that cannot be told included (a standard OIDC ID token carries no kind)."""
    value = value.strip().lower()
    if value not in TOKEN_USE_CHOICES:
        raise ConfigurationError(f"token use must be one of {', '.join(TOKEN_USE_CHOICES)}")
    return None if value == "any" else frozenset({value})


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text


def _redacted(value: Any) -> Any:
    """A setting's JSON value with every URL's password and secret query values hidden."""
    if isinstance(value, str) and "://" in value:
        return redacted_url(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _spec_of(item: dataclasses.Field[Any]) -> Spec:
    meta = item.metadata["revoker"]
    env = meta["env"] or f"REVOKER_{item.name.upper()}"
    flag = meta["flag"]
    if flag is True:
        flag = "--" + item.name.replace("_", "-").removesuffix("-seconds")
    return Spec(
        name=item.name,
        help=meta["help"],
        parser=meta["parser"],
        group=meta["group"],
        env=(env,) if isinstance(env, str) else tuple(env),
        flag=flag or None,
        secret=meta["secret"],
        default=item.default,
    )


_SPECS: tuple[Spec, ...] = tuple(_spec_of(item) for item in dataclasses.fields(Settings))


def specs(group: str | None = None) -> Iterator[Spec]:
    """The declarations, in declaration order (one group's, when given)."""
    return (spec for spec in _SPECS if group is None or spec.group == group)


def spec(name: str) -> Spec:
    """The declaration of one setting."""
    for found in _SPECS:
        if found.name == name:
            return found
    raise KeyError(name)


def by_env() -> Mapping[str, Spec]:
    """Every environment variable name (fallbacks too) -> its setting."""
    return {env: found for found in _SPECS for env in found.env}
