"""What ``revoker serve`` sets in the interpreter of its own processes (never on import).

The switch interval: how long a thread that wants the GIL waits before it asks
the holder to let go (CPython's default is 5 ms). Under load the event loop
never blocks, so every other thread pays that wait at each wake-up and after
each system call: the store push thread when a change arrives, the replica's
catch-up after each store round trip, a worker thread writing a revocation.
That is where the propagation tail went (docs/performance.md); at 0.5 ms the
/auth throughput measured the same, since the other threads are almost always
asleep. An application that embeds the library keeps its own setting: the
replica then shortens the interval only while it syncs (``replica.py``).
"""

from __future__ import annotations

import sys

__all__ = ["SERVE_SWITCH_INTERVAL_SECONDS", "tune_for_serving"]

SERVE_SWITCH_INTERVAL_SECONDS = 0.0005


def tune_for_serving() -> None:
    """Shorten the switch interval for this process (a ``revoker serve`` process only)."""
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_SECONDS)
