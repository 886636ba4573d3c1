"""The lifetime invariant across processes, as a user runs them: `revoker revoke` (the CLI,
default settings) writes, `revoker serve` (accepting two-day tokens) reads, one SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from process_support import ServeProcess

DAY = 86_400.0


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVOKER_")}
    return subprocess.run(
        [sys.executable, "-m", "revoker.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False,
    )  # fmt: skip


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.kill()


def test_a_rule_written_by_the_cli_covers_the_tokens_serve_accepts(
    tmp_path: Path, processes: list[ServeProcess]
) -> None:
    """serve (2-day tokens) records 2 days in the store; the CLI's subject rule lives 2 days."""
    store = f"sqlite:///{tmp_path}/rules.db"
    serve = ServeProcess("--dev-issuer", "--dev-issuer-port", "0", "--store", store,
                         "--max-token-lifetime", "2d", cwd=tmp_path)  # fmt: skip
    processes.append(serve)
    serve.wait_ready()
    result = cli("revoke", "subject", "user-1", "--store", store, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rule = json.loads(result.stdout)
    assert rule["expires_at"] >= rule["cutoff"] + 2 * DAY


def test_serve_refuses_to_accept_longer_tokens_than_the_rules_are_written_for(
    tmp_path: Path,
) -> None:
    """The CLI got there first (1 day); serve with 2-day tokens exits 2 in one line, before
    binding, and says how to fix it."""
    store = f"sqlite:///{tmp_path}/rules.db"
    assert cli("revoke", "subject", "user-1", "--store", store, cwd=tmp_path).returncode == 0
    result = cli("serve", "--dev-issuer", "--dev-issuer-port", "0", "--port", "0",
                 "--store", store, "--max-token-lifetime", "2d", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "written for tokens of at most 86400s" in line
    assert "revoker migrate --max-token-lifetime" in line
    raised = cli("migrate", "--store", store, "--max-token-lifetime", "2d", cwd=tmp_path)
    assert raised.returncode == 2  # a live 1-day rule: raising now could let a token back
    assert "active rule" in raised.stderr
