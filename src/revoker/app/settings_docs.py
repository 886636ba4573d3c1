"""The docs' configuration tables, generated from the declaration.

``settings_table(group)`` is what ``revoker settings --markdown`` prints and what
README.md, docs/service.md and docs/aws.md hold between ``<!-- settings:GROUP -->``
and ``<!-- /settings:GROUP -->``; ``tests/app/test_settings_docs.py`` fails when a
table there differs from this, so the docs cannot drift from the code.
"""

from __future__ import annotations

import re

from revoker.app.settings import GROUPS, Spec, specs

__all__ = ["MARKER", "replace_tables", "settings_table"]

MARKER = re.compile(
    r"(<!-- settings:(?P<group>[a-z]+) -->\n)(?P<table>.*?)(<!-- /settings:(?P=group) -->)", re.S
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(found: Spec) -> str:
    default = (
        "(secret)"
        if found.secret and found.default is not None
        else found.parser.show(found.default)
    )
    env = " or ".join(f"`{name}`" for name in found.env)
    flag = f"`{found.flag}`" + (" (repeatable)" if found.parser.many else "") if found.flag else "—"
    return f"| `{found.toml_key}` | {env} | {flag} | {_cell(default)} | {_cell(found.help)} |"


def settings_table(group: str) -> str:
    """One group's settings as a markdown table (toml key, environment, flag, default, meaning)."""
    if group not in GROUPS:
        raise KeyError(group)
    lines = [
        "| `revoker.toml` key | environment | flag | default | meaning |",
        "|---|---|---|---|---|",
        *(_row(found) for found in specs(group)),
    ]
    return "\n".join(lines) + "\n"


def replace_tables(text: str) -> str:
    """``text`` with every marked table regenerated."""
    return MARKER.sub(lambda m: m.group(1) + settings_table(m.group("group")) + m.group(4), text)
