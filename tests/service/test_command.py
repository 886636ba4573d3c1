"""The `serve` command module: light to import (the CLI's start-up and the Lambda's cold start
do not pay for the web framework), runnable on its own, with one-line usage errors."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from revoker.cli.serve import serve

HEAVY = ("starlette", "uvicorn", "prometheus_client", "anyio")


def test_importing_the_command_and_the_cli_loads_no_web_framework() -> None:
    """`revoker --help` and `import revoker.cli.serve` load neither Starlette nor uvicorn."""
    code = (
        "import sys, revoker.cli.serve, revoker.cli;"
        f"print(sorted(set({HEAVY!r}) & {{m.split('.')[0] for m in sys.modules}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_module_runs_on_its_own() -> None:
    """`python -m revoker.cli.serve --help` works (its __main__ guard)."""
    result = subprocess.run(
        [sys.executable, "-m", "revoker.cli.serve", "--help"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--dev-issuer" in result.stdout
    assert "--introspect-client" in result.stdout


def test_the_cli_has_serve() -> None:
    """`revoker serve` is attached to the main command."""
    from revoker.cli import main  # noqa: PLC0415 - the attachment happens at import

    assert main.get_command(None, "serve") is serve  # type: ignore[arg-type]


def test_a_usage_error_is_one_line_and_exit_2() -> None:
    """An unknown flag or a bad value: one line, exit 2, no usage dump."""
    result = CliRunner().invoke(serve, ["--workers", "0"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: --workers must lie between 1 and 64"]
