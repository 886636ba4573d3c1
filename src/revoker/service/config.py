"""``ServiceSettings``: the core ``Settings`` plus what only the HTTP service needs.

Validated on construction, so ``revoker serve`` fails with one line before it
binds a port. ``to_json``/``from_json`` carry the settings to uvicorn's worker
processes through one environment variable (``--workers`` > 1).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from revoker.app.settings import Settings
from revoker.core.errors import ConfigurationError

__all__ = [
    "LOG_FORMATS",
    "SETTINGS_ENV",
    "ServiceSettings",
    "parse_client",
    "redacted_url",
]

LOG_FORMATS = ("text", "json")
#: The environment variable that hands the settings to each worker process.
SETTINGS_ENV = "REVOKER_SERVICE_SETTINGS_JSON"
MIN_ADMIN_TOKEN_LENGTH = 16
MIN_BODY_BYTES = 16 * 1024  # a form with an 8 KiB token, percent-encoded, must fit
MAX_WORKERS = 64

# RFC 6265 cookie-name = token (RFC 7230 tchar).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CORE_TUPLES = ("issuers", "algorithms")


def parse_client(text: str) -> tuple[str, str]:
    """``CLIENT_ID:SECRET`` (the secret may hold ':'; the id may not)."""
    client_id, sep, secret = text.strip().partition(":")
    if not sep or not client_id or not secret:
        raise ConfigurationError("an introspection client must be given as CLIENT_ID:SECRET")
    return client_id, secret


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Everything ``revoker serve`` runs with. Secrets are left out of ``repr``."""

    core: Settings
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    admin_token: str | None = field(default=None, repr=False)
    introspect_clients: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cookie_name: str | None = None
    realm: str = "revoker"
    log_format: str = "text"
    log_level: str = "info"
    max_body_bytes: int = 64 * 1024
    auth_failures_per_minute: int = 10
    forwarded_allow_ips: str | None = None

    def __post_init__(self) -> None:
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
        self._check_clients()
        if self.cookie_name is not None and not _TOKEN.fullmatch(self.cookie_name):
            raise ConfigurationError(f"--cookie-name {self.cookie_name!r} is not a cookie name")
        # The realm goes into a quoted-string of WWW-Authenticate.
        realm = self.realm
        if not realm or not _printable(realm.replace(" ", "_")) or '"' in realm or "\\" in realm:
            raise ConfigurationError("the realm must be printable ASCII without quotes or '\\'")
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigurationError("--log-level must be debug, info, warning or error")
        if self.max_body_bytes < MIN_BODY_BYTES:
            raise ConfigurationError(f"the body limit must be at least {MIN_BODY_BYTES} bytes")
        if self.auth_failures_per_minute < 1:
            raise ConfigurationError("the failed-auth limit must be at least 1 per minute")
        # Fails here, with one line, rather than at the first request.
        self.core.policy()

    def _check_clients(self) -> None:
        seen: set[str] = set()
        for client_id, secret in self.introspect_clients:
            if not client_id or ":" in client_id or not _printable(client_id):
                raise ConfigurationError(f"introspection client id {client_id!r} is not usable")
            if not secret:
                raise ConfigurationError(f"introspection client {client_id!r} has no secret")
            if client_id in seen:
                raise ConfigurationError(f"introspection client {client_id!r} is given twice")
            seen.add(client_id)

    @property
    def admin_enabled(self) -> bool:
        return self.admin_token is not None

    def describe(self) -> dict[str, Any]:
        """The settings for a person to read: secrets replaced, client ids kept."""
        data = dataclasses.asdict(self)
        data["admin_token"] = "***" if self.admin_token is not None else None
        data["introspect_clients"] = [client_id for client_id, _ in self.introspect_clients]
        data["core"]["store_url"] = redacted_url(self.core.store_url)
        return data

    def to_json(self) -> str:
        """Every field, secrets included: for a worker's environment, never for a log."""
        data = dataclasses.asdict(self)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        """The inverse of ``to_json``; anything malformed is a ``ConfigurationError``."""
        try:
            data: dict[str, Any] = json.loads(text)
            core: dict[str, Any] = dict(data.pop("core"))
            for name in _CORE_TUPLES:
                core[name] = tuple(core[name])
            if core.get("audience") is not None:
                core["audience"] = tuple(core["audience"])
            data["introspect_clients"] = tuple(
                (str(client_id), str(secret)) for client_id, secret in data["introspect_clients"]
            )
            return cls(core=Settings(**core), **data)
        except ConfigurationError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigurationError(f"{SETTINGS_ENV} is not valid service settings") from exc


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (a store URL may carry one)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username = userinfo.partition(":")[0] if ":" in userinfo else userinfo
    shown = f"{username}:***" if ":" in userinfo else username
    return urlunsplit(parts._replace(netloc=f"{shown}@{hostport}"))


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text
