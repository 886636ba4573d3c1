"""Known-answer files written outside this project, read by path from ``../shared/fixtures``.

On a contributor's own clone there is no ``../shared``: the tests that need it skip with a
clear reason. Under ``REVOKER_REQUIRE_SERVICES=1`` (CI) a missing folder is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["FIXTURES", "fixtures_present", "need_fixtures"]

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixtures_present() -> bool:
    return FIXTURES.is_dir()


def need_fixtures() -> Path:
    """The fixtures folder; skip (or, in CI, fail) when it is not there."""
    if fixtures_present():
        return FIXTURES
    why = f"the shared fixtures are not at {FIXTURES} (they live beside the project's clone)"
    if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
        pytest.fail(f"{why}; REVOKER_REQUIRE_SERVICES=1 needs them")
    pytest.skip(why)
