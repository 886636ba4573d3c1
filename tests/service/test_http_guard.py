"""``HttpLimits`` (service/http_limits.py) and the uvicorn options of the HTTP guard: ranges
refused in one line, a connection cap that fits under the descriptor limit, limits that load
without uvicorn, and a protocol that reaches spawned worker processes. (The attacks it holds
off: tests/hardening/test_http_limits.py.)"""

from __future__ import annotations

import pickle
import resource
import subprocess
import sys
from typing import Any

import pytest

from revoker.core.errors import ConfigurationError
from revoker.service.http_guard import GuardedHttpToolsProtocol, uvicorn_options
from revoker.service.http_limits import (
    DEFAULT_BODY_TIMEOUT_SECONDS,
    DEFAULT_HEAD_TIMEOUT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    HttpLimits,
)


def test_every_phase_is_bounded_under_a_minute_by_default() -> None:
    """Every phase is bounded under a minute by default; a head gets much less than a body."""
    limits = HttpLimits()
    assert limits.head_timeout_seconds == DEFAULT_HEAD_TIMEOUT_SECONDS <= 10
    assert limits.body_timeout_seconds == DEFAULT_BODY_TIMEOUT_SECONDS < 60
    assert limits.idle_timeout_seconds == DEFAULT_IDLE_TIMEOUT_SECONDS < 60


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"max_header_bytes": 1024}, id="head-below-a-token"),
        pytest.param({"max_header_bytes": 64 * 1024 * 1024}, id="head-of-64-mib"),
        pytest.param({"max_headers": 0}, id="no-headers"),
        pytest.param({"head_timeout_seconds": 0}, id="no-head-timeout"),
        pytest.param({"body_timeout_seconds": 3600}, id="an-hour-for-a-body"),
        pytest.param({"idle_timeout_seconds": -1}, id="negative-idle"),
        pytest.param({"max_connections": 0}, id="no-connections"),
        pytest.param({"max_connections": 10.5}, id="fractional-connections"),
        pytest.param({"max_headers": True}, id="boolean"),
        pytest.param({"head_timeout_seconds": "10"}, id="text"),
    ],
)
def test_limits_out_of_range_are_refused(overrides: dict[str, Any]) -> None:
    """A limit outside its range, or not a number, is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=next(iter(overrides))):
        HttpLimits(**overrides)


def test_the_connection_cap_stays_under_the_descriptor_limit() -> None:
    """A cap above ``ulimit -n`` is lowered to leave descriptors for the store and the logs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = HttpLimits(max_connections=1_000_000)
    if soft == resource.RLIM_INFINITY:
        assert limits.connection_cap() == 1_000_000
    else:
        assert limits.connection_cap() <= soft - 64
    assert HttpLimits(max_connections=5).connection_cap() == 5


def test_the_protocol_pickles_with_its_limits_for_worker_processes() -> None:
    """``--workers`` spawns processes that unpickle uvicorn's config: the guarded protocol
    and its limits come through."""
    limits = HttpLimits(head_timeout_seconds=2.5, max_connections=10)
    options = uvicorn_options(limits)
    protocol = pickle.loads(pickle.dumps(options["http"]))  # noqa: S301 - our own bytes
    assert protocol.func is GuardedHttpToolsProtocol
    assert protocol.keywords["limits"] == limits
    assert options["ws"] == "none"


def test_the_limits_load_without_uvicorn() -> None:
    """A settings declaration can name the limits' defaults without importing uvicorn."""
    code = (
        "import sys, revoker.service.http_limits; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'httptools')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_settings_declare_exactly_these_limits() -> None:
    """revoker serve's settings give HttpLimits its defaults and ranges, with no drift."""
    from revoker.app.settings import spec  # noqa: PLC0415
    from revoker.service.http_limits import RANGES, HttpLimits  # noqa: PLC0415

    defaults = HttpLimits()
    for name, (low, high) in RANGES.items():
        declared = spec(f"http_{name}")
        assert declared.default == getattr(defaults, name), name
        assert (declared.parser.low, declared.parser.high) == (low, high), name  # type: ignore[attr-defined]
