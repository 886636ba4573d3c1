"""The overview's place for the signal sources: back-channel logout, SSF streams, CloudTrail.

Each known kind of signal has a card. A source that is running reports itself as a
``SignalSource`` (its kind, whether it is healthy, and one line on what it last
did); a kind that no source reports shows "not configured". The service hands the
sources to the console (``ServiceState.signal_sources``, when it has them), so a
signal integration adds its source there and its card fills in, with no change here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["KINDS", "SignalCard", "SignalSource", "SignalStatus", "signal_cards"]


@dataclass(frozen=True, slots=True)
class SignalStatus:
    """What a source says about itself now."""

    healthy: bool
    detail: str  # one line: "last event 12 s ago", "stream paused by the transmitter" …


class SignalSource(Protocol):
    """A running source of signals that become rules through the operations."""

    @property
    def kind(self) -> str: ...  # one of KINDS

    @property
    def name(self) -> str: ...  # "Okta", "stream 1f3e…", "us-east-1 trail" …

    def status(self) -> SignalStatus: ...


#: kind -> (title, what it does), in the order the overview shows them.
KINDS: dict[str, tuple[str, str]] = {
    "backchannel_logout": (
        "Back-channel logout",
        "OpenID Connect Back-Channel Logout: a provider's logout token at "
        "POST /backchannel-logout becomes a session or subject rule.",
    ),
    "ssf": (
        "SSF streams",
        "Shared Signals (CAEP, RISC) pushed to POST /ssf/events or polled from a "
        "transmitter: session revoked, credential change, account disabled.",
    ),
    "cloudtrail": (
        "Cognito CloudTrail",
        "AdminUserGlobalSignOut, AdminDisableUser and the like, from CloudTrail through "
        "EventBridge, become subject cut-offs.",
    ),
}


@dataclass(frozen=True, slots=True)
class SignalCard:
    kind: str
    title: str
    about: str
    configured: bool
    sources: list[tuple[str, SignalStatus]]

    @property
    def healthy(self) -> bool:
        return self.configured and all(status.healthy for _, status in self.sources)


def signal_cards(sources: Iterable[SignalSource]) -> list[SignalCard]:
    """One card per known kind (and per unknown kind a source reports), in order."""
    by_kind: dict[str, list[tuple[str, SignalStatus]]] = {}
    for source in sources:
        try:
            status = source.status()
        except Exception as exc:  # noqa: BLE001 - a broken source is shown, never fatal
            status = SignalStatus(healthy=False, detail=f"cannot report: {type(exc).__name__}")
        by_kind.setdefault(source.kind, []).append((source.name, status))
    kinds = [*KINDS, *(kind for kind in by_kind if kind not in KINDS)]
    cards = []
    for kind in kinds:
        title, about = KINDS.get(kind, (kind, ""))
        found = by_kind.get(kind, [])
        cards.append(SignalCard(kind, title, about, configured=bool(found), sources=found))
    return cards
