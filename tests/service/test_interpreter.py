"""``revoker serve`` shortens its processes' switch interval; importing the service does not."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from revoker.service.interpreter import SERVE_SWITCH_INTERVAL_SECONDS, tune_for_serving


@pytest.fixture
def restored_interval() -> Iterator[None]:
    saved = sys.getswitchinterval()
    yield
    sys.setswitchinterval(saved)


@pytest.mark.usefixtures("restored_interval")
def test_serving_shortens_the_switch_interval() -> None:
    """The serve process lets a waiting thread ask for the GIL after 0.5 ms, not 5 ms."""
    sys.setswitchinterval(0.005)
    tune_for_serving()
    assert sys.getswitchinterval() == pytest.approx(SERVE_SWITCH_INTERVAL_SECONDS, rel=0.05)
    assert SERVE_SWITCH_INTERVAL_SECONDS < 0.005


def test_importing_the_service_leaves_the_interpreter_alone() -> None:
    """An application that mounts the service app keeps its own switch interval."""
    code = (
        "import sys; before = sys.getswitchinterval();"
        " import revoker.service.app, revoker.service.runner;"
        " print(sys.getswitchinterval() == before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "True"
