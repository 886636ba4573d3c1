"""The soak, short: ``benchmarks/soak.py --seconds 8`` on the shared Redis must pass, with
revocations made, forged tokens denied, and no wrong decision (``make soak`` runs 60 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hardening_support import REPO_ROOT, TESTS, load_module


def test_a_short_soak_makes_no_wrong_decision(tmp_path: Path) -> None:
    """Two instances on Redis for 8 s under a mixed load with revocations streaming in."""
    backend: Any = load_module(TESTS / "registry" / "backend_redis.py")
    backend.require_redis()
    report_path = tmp_path / "soak.json"
    command = [
        sys.executable, str(REPO_ROOT / "benchmarks" / "soak.py"), "--seconds", "8",
        "--tokens", "300", "--threads", "3", "--redis", backend.URL, "--json", str(report_path),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] is True
    assert report["wrong_decisions"] == 0
    assert report["revocations_acknowledged"] >= 10
    decisions = report["decisions"]
    assert decisions["revoked denied"] > 0
    assert decisions["forged denied"] > 0
    assert decisions["valid allowed"] > 100
    assert report["exit_codes"] == {"a": 0, "b": 0}
