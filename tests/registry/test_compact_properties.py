"""Properties: the compact index answers every token as the dictionary index does.

Both indexes get the same snapshot and then the same adds, lifts (by value or
by id alone), sweeps and merges; after each step every generated token gets
the same answer (the same rule, or none) and every kind the same count.
Values and ids come from small pools, so rules share values and claims hit
them, in every encoding the compact index keeps (UUIDs, hex, short and long
text, text ending in NUL, non-ASCII, a lone surrogate); claims include odd types
(`index_strategies.py`, shared with the saved index's property).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from index_strategies import T0, IndexModel, operations, rows, tokens

from revoker.core.registry.rules import StoredRow


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snapshot=st.lists(rows(), max_size=25, unique_by=lambda row: row[0]),
    steps=st.lists(operations, max_size=12),
    queries=st.lists(tokens(), min_size=5, max_size=25),
)
def test_the_compact_index_answers_as_the_dictionary_index(
    snapshot: list[StoredRow], steps: list[Any], queries: list[Any]
) -> None:
    """Same rules, same operations: the same rule (or none) for every token, the same counts
    and the same rules listed."""
    now = T0
    model = IndexModel.from_rows(snapshot, now)
    model.agree(queries)
    for step in steps:
        now = model.step(step, now)
        model.agree(queries)
