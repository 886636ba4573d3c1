"""The overview's chart of decisions per reason over the last minutes, as plain geometry.

``decisions_chart`` turns the buckets of ``DecisionHistory.buckets`` into stacked
bars (one colour per reason code: allowed at the bottom, then the revocations,
then every other refusal), grid lines and labels; the template draws them as an
inline SVG. No script draws anything, and nothing is fetched from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "Chart", "LegendItem", "decisions_chart", "reason_colour"]

WIDTH = 760
HEIGHT = 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 8, 12, 28

_COLOURS = {
    "allowed": "#2f855a",
    "revoked_token": "#e53e3e",
    "revoked_family": "#dd6b20",
    "revoked_session": "#d69e2e",
    "revoked_subject": "#c53030",
    "revoked_email": "#9b2c2c",
    "revoked_client": "#b83280",
    "revoked_key": "#805ad5",
    "revoked_issuer": "#742a2a",
    "expired": "#718096",
    "not_yet_valid": "#a0aec0",
    "issued_in_future": "#a0aec0",
    "malformed": "#4a5568",
    "too_large": "#2d3748",
    "bad_signature": "#553c9a",
    "unsupported_alg": "#44337a",
    "unknown_kid": "#6b46c1",
    "wrong_issuer": "#2b6cb0",
    "wrong_audience": "#3182ce",
    "wrong_token_use": "#63b3ed",
    "missing_claim": "#4299e1",
    "lifetime_too_long": "#2c5282",
    "registry_stale": "#1a202c",
    "jwks_unavailable": "#171923",
    "missing_token": "#cbd5e0",
}
_OTHER = "#a0aec0"


def reason_colour(reason: str) -> str:
    return _COLOURS.get(reason, _OTHER)


def _order(reason: str) -> tuple[int, str]:
    if reason == "allowed":
        return 0, reason
    if reason.startswith("revoked_"):
        return 1, reason
    return 2, reason


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    reason: str
    colour: str
    total: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    grid: list[tuple[float, str]]  # (y, label)
    ticks: list[tuple[float, str]]  # (x, label)
    legend: list[LegendItem]
    total: int
    minutes: int
    plot_left: float
    plot_right: float
    plot_bottom: float


def _nice_ceiling(value: int) -> int:
    """The smallest 4, 10 or 20 times a power of ten at or above ``value``: always even, so
    the middle grid line is a whole number."""
    for exponent in range(19):  # beyond 10**19 decisions per bucket, the value itself
        power: int = 10**exponent
        for step in (4, 10, 20):
            if step * power >= value:
                return step * power
    return value + value % 2


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def decisions_chart(
    buckets: Sequence[tuple[float, dict[str, int]]], *, bucket_seconds: float
) -> Chart:
    """Stacked bars for ``buckets`` (oldest first), sized to fit the tallest."""
    count = max(1, len(buckets))
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    bottom = _TOP + plot_height
    slot = plot_width / count
    bar_width = max(1.0, slot * 0.72)
    tallest = max((sum(counts.values()) for _, counts in buckets), default=0)
    top = _nice_ceiling(tallest)
    totals: dict[str, int] = {}
    bars: list[Bar] = []
    for index, (start, counts) in enumerate(buckets):
        x = _LEFT + index * slot + (slot - bar_width) / 2
        y = float(bottom)
        span = f"{_clock(start)} to {_clock(start + bucket_seconds)} UTC"
        for reason in sorted(counts, key=_order):
            number = counts[reason]
            totals[reason] = totals.get(reason, 0) + number
            height = plot_height * number / top
            y -= height
            title = f"{span}: {number} {reason}"
            bars.append(Bar(round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2),
                            reason_colour(reason), title))  # fmt: skip
    grid = [(round(bottom - plot_height * i / 2, 2), f"{top * i // 2:,}") for i in range(3)]
    minutes = round(count * bucket_seconds / 60)
    ticks: list[tuple[float, str]] = []
    step = max(1, count // 3)
    for index in range(0, count, step):
        ago = round((count - index) * bucket_seconds / 60)
        ticks.append((round(_LEFT + index * slot, 2), f"{ago} min ago"))
    ticks.append((float(_LEFT + plot_width), "now"))
    legend = [
        LegendItem(reason, reason_colour(reason), total)
        for reason, total in sorted(totals.items(), key=lambda item: _order(item[0]))
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        grid=grid,
        ticks=ticks,
        legend=legend,
        total=sum(totals.values()),
        minutes=minutes,
        plot_left=_LEFT,
        plot_right=_LEFT + plot_width,
        plot_bottom=bottom,
    )
