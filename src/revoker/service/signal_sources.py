"""The console's signal sources (``console.signals.SignalSource``): back-channel logout, read
from the service's signal tally; and for Shared Signals one per transmitter's push deliveries
and one per poll stream, each reading the receiver's live health (``app.signals.health``)
whenever the console asks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from revoker.service.console.signals import SignalStatus

if TYPE_CHECKING:
    from revoker.app.signals.receiver import SignalReceiver
    from revoker.service.metrics import ServiceMetrics

__all__ = ["BackchannelLogoutSource", "SsfSource", "ssf_sources"]


@dataclass(frozen=True, slots=True)
class BackchannelLogoutSource:
    """``POST /backchannel-logout``: healthy unless the last logout tokens were all refused."""

    metrics: ServiceMetrics

    @property
    def kind(self) -> str:
        return "backchannel_logout"

    @property
    def name(self) -> str:
        return "POST /backchannel-logout"

    def status(self) -> SignalStatus:
        tally = self.metrics.signal_tally("backchannel_logout")
        if not tally:
            return SignalStatus(True, "on; no logout token yet")
        counts = ", ".join(f"{count} {outcome}" for outcome, (count, _) in sorted(tally.items()))
        last_outcome, (_, last_at) = max(tally.items(), key=lambda item: item[1][1])
        ago = max(0, round(time.time() - last_at))
        healthy = last_outcome != "refused"
        return SignalStatus(healthy, f"last logout token {ago} s ago ({last_outcome}); {counts}")


@dataclass(frozen=True, slots=True)
class SsfSource:
    """One SSF source: ``delivery`` ("push" or "poll"), its transmitter and stream."""

    receiver: SignalReceiver
    delivery: str
    transmitter: str
    stream_id: str
    label: str

    @property
    def kind(self) -> str:
        return "ssf"

    @property
    def name(self) -> str:
        return self.label

    def status(self) -> SignalStatus:
        key = (self.delivery, self.transmitter, self.stream_id)
        for health in self.receiver.health.snapshot():
            if (health.delivery, health.transmitter, health.stream_id) == key:
                return SignalStatus(health.healthy, health.describe(self.receiver.clock()))
        return SignalStatus(True, "no event yet")


def ssf_sources(receiver: SignalReceiver) -> tuple[SsfSource, ...]:
    """Every transmitter's push source, and every poll stream the stream file holds."""
    sources = [
        SsfSource(receiver, "push", transmitter, "", f"push from {transmitter}")
        for transmitter in receiver.transmitters
    ]
    for stream in receiver.streams.streams():
        if stream.method == "poll" and stream.transmitter in receiver.transmitters:
            label = f"poll stream {stream.stream_id[:12]} of {stream.transmitter}"
            sources.append(SsfSource(receiver, "poll", stream.transmitter, stream.stream_id, label))
    return tuple(sources)
