"""The fuzz harnesses run, bounded: under atheris when it is installed (``make fuzz`` runs
them longer), and always under the hypothesis fallback; a broken target fails the run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from hardening_support import REPO_ROOT, load_module

FUZZ = REPO_ROOT / "fuzz"
HAS_ATHERIS = importlib.util.find_spec("atheris") is not None


def run(harness: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(FUZZ / harness), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT
    )


@pytest.mark.parametrize("harness", ["fuzz_tokens.py", "fuzz_verify.py"])
def test_the_hypothesis_fallback_runs_clean(harness: str) -> None:
    """Without atheris (or with --hypothesis) the same target runs under hypothesis."""
    result = run(harness, "--hypothesis", "-runs=300")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "300 hypothesis examples, no failure" in result.stderr


@pytest.mark.skipif(not HAS_ATHERIS, reason="atheris is not installed in this environment")
@pytest.mark.parametrize("harness", ["fuzz_tokens.py", "fuzz_verify.py"])
def test_a_short_atheris_run_is_clean(harness: str, tmp_path: object) -> None:
    """A few thousand coverage-guided inputs, crash artifacts kept out of the tree."""
    result = run(harness, "-runs=3000", f"-artifact_prefix={tmp_path}/")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 3000 runs" in result.stderr


def test_a_failing_target_fails_the_fallback() -> None:
    """The fallback is not vacuous: a target that breaks on some input makes it raise."""
    runner = load_module(FUZZ / "fuzz_runner.py")

    def fragile(data: bytes) -> None:
        assert b"\x07" not in data

    with pytest.raises(AssertionError):
        runner.main(fragile, [b"seed"], ["fuzz_fragile.py", "--hypothesis", "-runs=500"])
