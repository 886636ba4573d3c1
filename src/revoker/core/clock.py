"""Time, passed in: every check takes a ``Clock`` so tests never sleep."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class Clock(Protocol):
    """Seconds since the epoch, as a float."""

    def __call__(self) -> float: ...


class SystemClock:
    """The wall clock."""

    def __call__(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to: for tests and demos."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
