"""Credentials: parsing Authorization, identifying the caller, and the failed-auth limiter
(per address, sliding window, bounded memory)."""

from __future__ import annotations

import base64
import sys
import threading

import pytest

from revoker.app.access import CallerKind, Credentials, FailureLimiter
from revoker.core.clock import FrozenClock, SystemClock

ADMIN = "the-admin-token-0123456789"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


CREDENTIALS = Credentials(ADMIN, [("rs", "s3cret"), ("odd id", "p&ss word")])


@pytest.mark.parametrize(
    ("header", "kind", "detail"),
    [
        (None, CallerKind.NONE, None),
        (f"Bearer {ADMIN}", CallerKind.ADMIN, None),
        (f"BEARER   {ADMIN}  ", CallerKind.ADMIN, None),
        ("Bearer someone-elses-token", CallerKind.BEARER, "someone-elses-token"),
        ("Bearer", CallerKind.INVALID, None),
        (basic("rs", "s3cret"), CallerKind.CLIENT, "rs"),
        (basic("odd+id", "p%26ss+word"), CallerKind.CLIENT, "odd id"),
        (basic("rs", "wrong"), CallerKind.INVALID, None),
        (basic("nobody", "s3cret"), CallerKind.INVALID, None),
        ("Basic not*base64", CallerKind.INVALID, None),
        ("Basic bm9jb2xvbg==", CallerKind.INVALID, None),
        ("Basic //79", CallerKind.INVALID, None),
        ("Token abc", CallerKind.INVALID, None),
        ("", CallerKind.INVALID, None),
    ],
    ids=["none", "admin", "admin-odd-spacing", "other-bearer", "empty-bearer", "client",
         "client-form-encoded", "wrong-secret", "unknown-client", "bad-base64", "no-colon",
         "not-utf8", "other-scheme", "empty"],
)  # fmt: skip
def test_identify(header: str | None, kind: CallerKind, detail: str | None) -> None:
    """Each Authorization header maps to one caller kind; Basic is form-decoded (RFC 6749)."""
    caller = CREDENTIALS.identify(header)
    assert caller.kind is kind
    if kind is CallerKind.CLIENT:
        assert caller.client_id == detail
    if kind is CallerKind.BEARER:
        assert caller.bearer == detail


def test_without_an_admin_token_no_bearer_is_admin() -> None:
    """Admin disabled: even an empty-looking bearer is never the admin."""
    credentials = Credentials(None)
    assert credentials.admin_enabled is False
    assert credentials.identify("Bearer ").kind is CallerKind.INVALID
    assert credentials.identify("Bearer None").kind is CallerKind.BEARER
    assert credentials.is_admin_token("") is False


def test_the_limiter_counts_failures_in_a_sliding_window() -> None:
    """Ten failures within the window block; each ages out a window after it happened."""
    clock = FrozenClock(1000)
    limiter = FailureLimiter(clock=clock, max_failures=10, window_seconds=60)
    for _ in range(9):
        limiter.record_failure("10.0.0.1")
        clock.advance(1)
    assert limiter.retry_after("10.0.0.1") is None
    limiter.record_failure("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 51  # the first failure ages out at 1060
    assert limiter.retry_after("10.0.0.2") is None
    clock.advance(51)
    assert limiter.retry_after("10.0.0.1") is None


def test_the_limiter_memory_is_bounded() -> None:
    """At most max_clients addresses, at most max_failures times each."""
    clock = FrozenClock(1000)
    limiter = FailureLimiter(clock=clock, max_failures=3, max_clients=100)
    for index in range(1000):
        limiter.record_failure(f"10.0.{index // 256}.{index % 256}")
    assert len(limiter) == 100
    for _ in range(50):
        limiter.record_failure("attacker")
    assert limiter.retry_after("attacker") == 60


def test_the_least_recently_failing_address_is_forgotten_first() -> None:
    """When full, the address that failed longest ago goes, not the busy one."""
    clock = FrozenClock(1000)
    limiter = FailureLimiter(clock=clock, max_failures=2, max_clients=2)
    limiter.record_failure("a")
    limiter.record_failure("b")
    limiter.record_failure("a")  # a is now the most recent
    limiter.record_failure("c")  # evicts b
    assert limiter.retry_after("a") == 60
    limiter.record_failure("b")
    assert limiter.retry_after("b") is None


def test_the_limiter_holds_under_threads() -> None:
    """Requests are answered on a thread pool: concurrent checks and failures of one address,
    with windows that expire between them, never raise (a 500 otherwise)."""
    clock = SystemClock()
    limiter = FailureLimiter(clock=clock, max_failures=1_000_000, window_seconds=0.0)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        try:
            for _ in range(20_000):
                limiter.retry_after("198.51.100.7|admin")
                limiter.record_failure("198.51.100.7|admin")
        except BaseException as exc:  # noqa: BLE001 - the failure under test
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython will
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
