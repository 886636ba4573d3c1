"""The Redis store's push: a pub/sub connection of its own, and how its clients connect."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["Client", "PubSubChannel", "connect"]

# redis-py's return types are unions of every protocol's; with decode_responses the
# replies are str, so clients are typed loosely and the stores parse what they read.
Client: TypeAlias = Any


def connect(url: str, retry: Retry, *, client_name: str, binary: bool = False) -> Client:
    """A client (with its own pool) whose replies are str (bytes if ``binary``); the URL's
    own options win."""
    return redis.Redis.from_url(
        url,
        client_name=client_name,
        decode_responses=not binary,
        socket_timeout=5.0,
        socket_connect_timeout=5.0,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


class PubSubChannel:
    """A subscribed pub/sub connection of its own, with retries off: a lost link must
    surface, because Redis does not replay what was published while we were away."""

    def __init__(
        self, url: str, channel: str, *, client_name: str, heartbeat_seconds: float = 5.0
    ) -> None:
        self._client = connect(url, Retry(NoBackoff(), retries=0), client_name=client_name)
        self._heartbeat_seconds = heartbeat_seconds
        self._pubsub = self._client.pubsub()
        try:
            self._pubsub.subscribe(channel)
            # Only once Redis confirms is a push guaranteed to reach us; then we catch up.
            self._await_confirmation(deadline=time.monotonic() + 5.0)
        except BaseException:
            self.close()
            raise
        self._last_heard = self._last_ping = time.monotonic()

    def _await_confirmation(self, *, deadline: float) -> None:
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("Redis did not confirm the subscription")

    def wait(self, timeout_seconds: float) -> int:
        received = 0
        message = self._pubsub.get_message(timeout=timeout_seconds)
        while message is not None:
            self._last_heard = time.monotonic()
            if message["type"] == "message":
                # Tell the replica at once: one more read here is one more wait for the
                # interpreter lock behind a busy event loop. The rest come on the next wait.
                received = 1
                break
            message = self._pubsub.get_message(timeout=0.0)
        now = time.monotonic()
        if now - self._last_heard > 3 * self._heartbeat_seconds:
            raise redis.ConnectionError("no reply to PING on the pub/sub connection")
        if now - max(self._last_heard, self._last_ping) > self._heartbeat_seconds:
            self._last_ping = now
            self._pubsub.ping()  # a silent network never raises; an unanswered PING does
        return received

    def close(self) -> None:
        try:
            self._pubsub.close()
        finally:
            self._client.close()
