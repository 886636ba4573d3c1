"""The background poller of RFC 8936 streams: one thread per poll stream of the stream file.

Each round is one poll: it acknowledges (``ack``) the SETs whose rules are durable and
reports (``setErrs``) the ones refused, then takes the next SETs and applies each
through the receiver. A SET is acknowledged only in the poll *after* its rule is
durable, so a poller that dies in between leaves it unacknowledged: the transmitter
delivers it again, and the rule id (transmitter + ``jti``) makes that second
delivery create nothing. A SET the receiver could not decide on (the store or the
transmitter's keys unreachable) is neither acknowledged nor refused: it comes again.

When more SETs wait (``moreAvailable``) or some were just received, the next poll
goes at once; after an empty one the poller waits ``--ssf-poll-interval``. When the
transmitter fails (unreachable, a non-200, garbage) or the receiver cannot decide,
the poller backs off, doubling from 1 s up to 60 s with jitter (so many receivers do
not retry in step), and resets once a poll works. ``stop`` ends every thread within
one request's timeout; nothing here loops without waiting on the stop event.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from revoker.app.logfields import fields
from revoker.app.signals.receiver import SetRefused
from revoker.app.signals.transmitter import TransmitterClient, TransmitterError
from revoker.core.errors import CannotDecide, StoreError

if TYPE_CHECKING:
    from revoker.app.signals.receiver import SignalReceiver
    from revoker.app.signals.streams import StreamRecord

__all__ = ["Backoff", "StreamPoller", "start_pollers"]

log = logging.getLogger("revoker.signals")

POLL_TIMEOUT_SECONDS = 30.0
MAX_EVENTS = 100
FLUSH_TIMEOUT_SECONDS = 5.0


@dataclass
class Backoff:
    """Capped, jittered exponential backoff: ``next()`` is the wait after one more failure."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    failures: int = 0
    jitter: Callable[[], float] = field(default=random.random)  # not for secrets

    def next(self) -> float:
        self.failures += 1
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** (self.failures - 1))
        spread: float = self.jitter()
        return ceiling * (0.5 + 0.5 * spread)  # within [ceiling / 2, ceiling]

    def reset(self) -> None:
        self.failures = 0


class StreamPoller:
    """Polls one stream until ``stop``; ``round`` is one poll, for tests to step through."""

    def __init__(
        self,
        receiver: SignalReceiver,
        stream: StreamRecord,
        client: TransmitterClient,
        *,
        interval_seconds: float,
        backoff: Backoff | None = None,
    ) -> None:
        self.receiver = receiver
        self.stream = stream
        self.client = client
        self.interval_seconds = interval_seconds
        self.backoff = backoff or Backoff()
        self._ack: list[str] = []
        self._errors: dict[str, dict[str, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round --------------------------------------------------------------------

    def round(self) -> float:
        """Poll once and apply what came; how long to wait before the next round."""
        stream = self.stream
        ack, errors = list(self._ack), dict(self._errors)
        try:
            answer = self.client.poll(
                stream.endpoint_url, ack=ack, errors=errors, max_events=MAX_EVENTS,
                return_immediately=True, timeout_seconds=POLL_TIMEOUT_SECONDS,
            )  # fmt: skip
        except TransmitterError as exc:
            return self._failed(exc.detail)
        # The transmitter has the acks and errors now; only what follows is new.
        del self._ack[: len(ack)]
        for jti in errors:
            self._errors.pop(jti, None)
        health = self.receiver.health
        health.polled(stream.transmitter, stream.stream_id, self.receiver.clock())
        undecided = False
        for jti, set_token in answer.sets.items():
            if self._stop.is_set():
                break
            undecided |= not self._apply(jti, set_token)
        if undecided:
            return self._failed("a SET could not be decided on: the store or the keys are down")
        self.backoff.reset()
        if answer.more_available or answer.sets or self._ack or self._errors:
            return 0.0
        return self.interval_seconds

    def _apply(self, jti: str, set_token: str) -> bool:
        """Apply one SET; False when it must come again (an outage)."""
        try:
            self.receiver.receive(set_token, delivery="poll", stream_id=self.stream.stream_id)
        except SetRefused as exc:
            self._errors[jti] = {"err": exc.err, "description": exc.description}
            return True
        except (CannotDecide, StoreError):
            return False
        self._ack.append(jti)
        return True

    def _failed(self, why: str) -> float:
        stream = self.stream
        wait = self.backoff.next()
        self.receiver.health.error(
            "poll", stream.transmitter, stream.stream_id, self.receiver.clock(), why
        )
        log.warning(
            "polling the stream failed; retrying",
            extra=fields(transmitter=stream.transmitter, stream=stream.stream_id[:64],
                         detail=why, retry_in=round(wait, 2)),
        )  # fmt: skip
        return wait

    # -- the thread -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"ssf-poll-{self.stream.stream_id[:12]}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.round()
            except Exception:  # a bug must not end polling silently: log, back off, go on
                log.exception("the stream poller failed")
                wait = self.backoff.next()
            self._stop.wait(wait)

    def stop(self, timeout_seconds: float = POLL_TIMEOUT_SECONDS + 5) -> None:
        """Stop the thread, then hand the transmitter the acks not sent yet (a poll for no
        SET, ``maxEvents`` 0), so a clean stop causes no redelivery; best effort."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
        if self._ack or self._errors:
            try:
                self.client.poll(
                    self.stream.endpoint_url, ack=list(self._ack), errors=dict(self._errors),
                    max_events=0, timeout_seconds=FLUSH_TIMEOUT_SECONDS,
                )  # fmt: skip
                self._ack.clear()
                self._errors.clear()
            except TransmitterError as exc:
                log.info("the last acks could not be sent; the transmitter will redeliver: %s",
                         exc.detail)  # fmt: skip
        self.client.close()


def start_pollers(
    receiver: SignalReceiver, *, token: str | None, interval_seconds: float
) -> list[StreamPoller]:
    """A started poller for every poll stream of a trusted transmitter in the stream file."""
    pollers = []
    for stream in receiver.streams.streams():
        if stream.method != "poll":
            continue
        if stream.transmitter not in receiver.transmitters:
            log.warning(
                "not polling a stream of a transmitter that is not trusted",
                extra=fields(transmitter=stream.transmitter, stream=stream.stream_id[:64]),
            )
            continue
        from revoker.app.signals.health import SourceHealth  # noqa: PLC0415

        receiver.health.declare(
            SourceHealth(
                kind="ssf",
                name=f"poll stream {stream.stream_id[:12]} of {stream.transmitter}",
                delivery="poll",
                transmitter=stream.transmitter,
                stream_id=stream.stream_id,
                stream_status=stream.status,
            )
        )
        client = TransmitterClient(stream.transmitter, token=token)
        poller = StreamPoller(receiver, stream, client, interval_seconds=interval_seconds)
        poller.start()
        pollers.append(poller)
    return pollers
