"""``HttpLimits``: what one HTTP connection to ``revoker serve`` may cost, with safe defaults.

The defaults and ranges live here, apart from the protocol that enforces them
(``http_guard.py``), so that a settings declaration can name them without importing
uvicorn. Every phase of a connection is bounded well under a minute by default, the head
much less than that; see docs/security.md for the attacks behind each number.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Final

from revoker.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_BODY_TIMEOUT_SECONDS",
    "DEFAULT_HEAD_TIMEOUT_SECONDS",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_BYTES",
    "RANGES",
    "HttpLimits",
]

#: A head: request line and headers. Room for an 8 KiB token twice (header and cookie).
DEFAULT_MAX_HEADER_BYTES: Final = 64 * 1024
#: Header fields in one head (Apache's LimitRequestFields).
DEFAULT_MAX_HEADERS: Final = 100
#: A proxy sends a head in one packet; a person typing one is not a client.
DEFAULT_HEAD_TIMEOUT_SECONDS: Final = 10.0
#: Bodies are at most 64 KiB (``max_body_bytes``): 2 KiB/s at worst is still in time.
DEFAULT_BODY_TIMEOUT_SECONDS: Final = 30.0
#: uvicorn's own keep-alive default; set a proxy's upstream keep-alive shorter (deploy/).
DEFAULT_IDLE_TIMEOUT_SECONDS: Final = 5.0
#: Per process; lowered to stay under the descriptor limit (``ulimit -n``) when that is less.
DEFAULT_MAX_CONNECTIONS: Final = 1000
#: Descriptors kept free of connections: the store, the JWKS client, logs, the listener.
_RESERVED_DESCRIPTORS = 64

#: Each limit's lowest and highest accepted value, inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "max_header_bytes": (16 * 1024, 1024 * 1024),
    "max_headers": (16, 1000),
    "head_timeout_seconds": (0.1, 300.0),
    "body_timeout_seconds": (0.1, 300.0),
    "idle_timeout_seconds": (0.1, 300.0),
    "max_connections": (1, 1_000_000),
}


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """What a connection may cost; validated on construction (``ConfigurationError``)."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    head_timeout_seconds: float = DEFAULT_HEAD_TIMEOUT_SECONDS
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            integral = name.startswith("max_")
            if isinstance(value, bool) or not isinstance(value, int if integral else int | float):
                raise ConfigurationError(f"{name} must be a number")
            if not low <= value <= high:
                raise ConfigurationError(f"{name} must lie between {low:g} and {high:g}")

    def connection_cap(self) -> int:
        """``max_connections``, lowered to fit under the process's descriptor limit."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - _RESERVED_DESCRIPTORS))
