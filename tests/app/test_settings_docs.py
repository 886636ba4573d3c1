"""The docs' configuration tables are the declaration's: regenerating them changes nothing,
and every group is documented somewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from revoker.app.settings import GROUPS
from revoker.app.settings_docs import MARKER, replace_tables

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [ROOT / "README.md", ROOT / "docs" / "service.md", ROOT / "docs" / "aws.md"]


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda path: path.name)
def test_each_marked_table_is_exactly_what_the_declaration_generates(path: Path) -> None:
    """Fix with: revoker settings --markdown (or replace_tables) and paste."""
    text = path.read_text(encoding="utf-8")
    assert MARKER.search(text), f"{path.name} has no generated settings table"
    assert replace_tables(text) == text, f"{path.name}: a settings table drifted from the code"


def test_every_group_has_a_table_in_the_docs() -> None:
    """No setting goes undocumented."""
    groups = {m["group"] for path in DOCUMENTED for m in MARKER.finditer(path.read_text())}
    assert groups == set(GROUPS)
