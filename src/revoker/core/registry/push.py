"""Push: a shared store tells every replica "something changed" the moment it commits.

A store that can push (Redis pub/sub, PostgreSQL LISTEN/NOTIFY) is a
``PushSource``: ``subscribe(on_change)`` returns a ``Subscription``. The
replica passes its ``notify``, and answers each push with a catch-up by seq,
so a push carries no data and a lost one costs only latency: the next
catch-up (the next push, or the slow poll that keeps running) heals it.

``PushListener`` is the loop every such store shares, on one daemon thread:

1. connect and subscribe (a ``PushChannel``); report healthy;
2. call ``on_change`` once, because anything written while we were not
   subscribed was pushed to nobody;
3. call ``on_change`` for each batch of messages;
4. on a lost connection: report unhealthy and call ``on_change`` (the replica
   then re-reads the health and polls fast), wait an exponential, capped,
   jittered ``Backoff``, and go back to 1.

Health is only a hint for the poll interval. Freshness comes from the last
good sync alone, so a dead push connection can never make a replica look fresh.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Backoff", "PushChannel", "PushListener", "PushSource", "Subscription"]

logger = logging.getLogger("revoker.registry")

_MAX_EXPONENT = 32  # beyond this the cap has long been reached; avoids float overflow


class Subscription(Protocol):
    """A running push subscription."""

    @property
    def healthy(self) -> bool:
        """Whether the push connection is up and subscribed right now."""
        ...

    def close(self) -> None:
        """Stop listening; returns within a bounded time."""
        ...


@runtime_checkable
class PushSource(Protocol):
    """A store that pushes: ``on_change`` is called (on another thread) after each change."""

    def subscribe(self, on_change: Callable[[], None]) -> Subscription: ...


class PushChannel(Protocol):
    """One live, subscribed push connection (what ``PushListener`` connects)."""

    def wait(self, timeout_seconds: float) -> int:
        """Messages received within ``timeout_seconds`` (0: none); raises once the link is lost."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential reconnect delays, capped, with "equal jitter" (half fixed, half random).

    Jitter spreads the reconnects of many replicas after a store restart; the
    fixed half keeps one replica from retrying in a tight loop.
    """

    initial_seconds: float = 0.05
    max_seconds: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before reconnect ``attempt`` (0 for the first), in [ceiling/2, ceiling]."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        ceiling = min(self.max_seconds, self.initial_seconds * self.multiplier**exponent)
        return ceiling * (0.5 + 0.5 * rand())


class PushListener:
    """Keeps one push subscription alive on a daemon thread (see the module docstring)."""

    def __init__(
        self,
        connect: Callable[[], PushChannel],
        on_change: Callable[[], None],
        *,
        name: str,
        backoff: Backoff = Backoff(),  # frozen, so one shared default is safe
        wait_seconds: float = 0.25,
    ) -> None:
        self._connect = connect
        self._on_change = on_change
        self._name = name
        self._backoff = backoff
        self._wait_seconds = wait_seconds  # bounds how long close() waits for the thread
        self._stop = threading.Event()
        self._healthy = False
        self.connects = 0  # successful (re)subscriptions, for tests and metrics
        self._thread = threading.Thread(target=self._run, name=f"revoker-push-{name}", daemon=True)

    @property
    def healthy(self) -> bool:
        return self._healthy

    def start(self) -> PushListener:
        self._thread.start()
        return self

    def close(self, timeout_seconds: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout_seconds``)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_seconds)

    def _run(self) -> None:
        attempt = 0
        down_since: float | None = None
        while not self._stop.is_set():
            channel: PushChannel | None = None
            try:
                channel = self._connect()
                self._healthy = True
                self.connects += 1
                if down_since is not None:
                    logger.info(
                        "push from the %s store is back after %.1fs",
                        self._name,
                        time.monotonic() - down_since,
                    )
                    down_since = None
                self._notify()  # catch up on what was pushed while we were not listening
                while not self._stop.is_set():
                    if channel.wait(self._wait_seconds):
                        self._notify()
                    attempt = 0  # the link survived a full wait: reset the backoff
            except Exception as exc:  # noqa: BLE001 -- any driver error means "reconnect"
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning(
                        "push from the %s store lost, reconnecting: %s",
                        self._name,
                        " ".join(str(exc).split()) or type(exc).__name__,
                    )
            finally:
                was_healthy, self._healthy = self._healthy, False
                if channel is not None:
                    _close_quietly(channel)
            if self._stop.is_set():
                break
            if was_healthy:
                self._notify()  # the replica re-reads health and polls fast until we are back
            self._stop.wait(self._backoff.delay(attempt))
            attempt += 1

    def _notify(self) -> None:
        try:
            self._on_change()
        except Exception:  # pragma: no cover - Replica.notify only sets an Event
            logger.exception("a push callback failed")


def _close_quietly(channel: PushChannel) -> None:
    try:
        channel.close()
    except Exception:  # the link is already broken; closing is best effort
        logger.debug("closing a broken push channel failed", exc_info=True)
