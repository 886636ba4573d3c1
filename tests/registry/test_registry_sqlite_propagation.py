"""Cross-process propagation through one SQLite file: a revoke elsewhere is denied here soon."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from revoker.core.registry import Registry

TOKEN = ({"iss": "https://iss", "sub": "user-1", "iat": int(time.time()) - 5}, {}, "a.b.c")

CHILD = """
import sys
from revoker.core.registry import Registry
with Registry.open(sys.argv[1]) as registry:
    if sys.argv[2] == "revoke":
        print(registry.revoke("subject", "user-1", actor="child", reason="test").id)
    else:
        registry.lift(sys.argv[3], actor="child")
"""


def run_child(*args: str) -> str:
    """Run the public API in a separate Python process and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def seconds_until(predicate: object, bound_seconds: float = 1.0) -> float | None:
    """Seconds until the predicate holds, or None past the bound (checked every 10 ms)."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) <= bound_seconds:
        if callable(predicate) and predicate():
            return elapsed
        time.sleep(0.01)
    return None


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rules.db'}"


@pytest.fixture
def watcher(url: str) -> Iterator[Registry]:
    """A registry in this process polling the SQLite file every 0.1 s."""
    with Registry.open(url, poll_interval_seconds=0.1) as registry:
        registry.start()
        yield registry


def test_revoke_in_another_process_is_seen_within_a_second(watcher: Registry, url: str) -> None:
    """A subject revoked by a child process is denied here within 1 s of its revoke returning."""
    assert watcher.match(*TOKEN) is None
    rule_id = run_child(url, "revoke")
    assert seconds_until(lambda: watcher.match(*TOKEN) is not None) is not None
    found = watcher.match(*TOKEN)
    assert found is not None
    assert (found.id, found.actor) == (rule_id, "child")


def test_lift_in_another_process_is_seen_within_a_second(watcher: Registry, url: str) -> None:
    """A rule lifted by a child process stops matching here within 1 s."""
    rule = watcher.revoke("subject", "user-1")
    assert watcher.match(*TOKEN) == rule
    run_child(url, "lift", rule.id)
    assert seconds_until(lambda: watcher.match(*TOKEN) is None) is not None


WRITER = """
import sys
from revoker.core.registry.stores.sqlite import SqliteStore
from revoker.core.registry.rules import RegistryLimits, new_rule
store = SqliteStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    rule = new_rule("session", f"{sys.argv[2]}-{i}", now=1_700_000_000.0, limits=RegistryLimits())
    print(store.add(rule))
store.close()
"""


def test_writers_in_several_processes_all_succeed(tmp_path: Path) -> None:
    """Concurrent writers in three processes never fail on a lock and never share a seq."""
    path = str(tmp_path / "rules.db")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, f"w{n}", "40"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    outputs = []
    for child in children:
        try:
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()  # a no-op once it has exited; stops it if communicate timed out
        assert child.returncode == 0, err
        outputs.extend(int(line) for line in out.split())
    assert sorted(outputs) == list(range(1, 121))
