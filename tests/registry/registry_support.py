"""Helpers shared by the store suites: the frozen start time and a rule maker."""

from __future__ import annotations

from typing import Any

from revoker.core.registry import RegistryLimits, Rule
from revoker.core.registry.rules import new_rule

T0 = 1_700_000_000.0


def make(kind: str, value: str, *, now: float = T0, **options: Any) -> Rule:
    """A valid rule made at ``now`` with the default limits."""
    return new_rule(kind, value, now=now, limits=RegistryLimits(), **options)
