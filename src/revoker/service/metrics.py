"""Prometheus metrics, cheap on the hot path.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one
process). Decisions and their latency are counted in plain ints, not in
prometheus_client objects: ``Counter.inc`` and ``Histogram.observe`` take a
lock and cost more than the check they count. ``decision_counts(endpoint)``
hands the hot path one reason -> int table; ``DecisionLatency.observe`` is a
bisect and two additions. Every decision is counted on the event loop's thread
(threadpool checks are counted after their await), so the ints need no lock.
A collector turns them into ``revoker_decisions_total`` and the
``revoker_decision_seconds`` histogram at scrape time, as it does for what the
registry and the key caches count (active rules, replica lag, JWKS fetches), the health
of each Shared Signals source (``revoker_ssf_*``: push per transmitter, each poll
stream), and the connections the HTTP layer closed early (``CONNECTION_CLOSES``, counted by
``service/http_guard.py``: one table per process, since connections belong to the
server, not to an app).

``revoker_propagation_seconds{path}`` is a plain prometheus_client histogram, fed by
the replica's propagation observer on its syncing thread (a few observations per
revocation, never on the check path): how long each rule took from its commit to its
application in this replica, by the path that brought it (``push`` or ``poll``).

``DecisionHistory`` keeps those ints' totals per reason every few seconds, for
the console's chart of decisions over the last minutes.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from revoker.core.errors import REASONS

if TYPE_CHECKING:
    from revoker.app.signals.health import SourceHealthBook
    from revoker.core.jwks import JwksCache
    from revoker.core.registry import Registry
    from revoker.core.registry.replica import PropagationPath
    from revoker.core.verify import Verifier

__all__ = [
    "CONNECTION_CLOSES",
    "CONNECTION_CLOSE_REASONS",
    "CONTENT_TYPE",
    "ENDPOINTS",
    "MISSING_TOKEN",
    "PROPAGATION_BUCKETS",
    "PROPAGATION_PATHS",
    "ConnectionCloses",
    "DecisionHistory",
    "DecisionLatency",
    "ServiceMetrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ENDPOINTS = ("auth", "introspect", "check")
#: The reason /auth counts when a request carries no token at all (not a decision).
MISSING_TOKEN = "missing_token"
# A check answers in microseconds from the cache, milliseconds on a cold RSA verify.
_LATENCY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.05,
    0.25,
    1.0,
)

#: Commit -> apply in a replica: 0.5 ms idle on loopback to seconds behind a slow store.
PROPAGATION_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
PROPAGATION_PATHS = ("push", "poll")


class DecisionLatency:
    """A histogram of decision times in plain ints (Prometheus ``le`` buckets, at scrape)."""

    __slots__ = ("bounds", "counts", "total_seconds")

    def __init__(self, bounds: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total_seconds = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a time equal to a bound belongs to that bound's bucket (le).
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total_seconds += seconds


class DecisionHistory:
    """Decisions per reason over the last minutes, from the cumulative per-endpoint tables.

    ``sample(now)`` records every reason's total (all endpoints together); the service
    calls it every ``step_seconds`` on the event loop's thread, where the tables change.
    ``buckets`` turns the samples into counts per time bucket: what happened between
    two samples is counted at the later one, and what happened since the last sample
    at ``now``. At most ``keep_seconds`` of samples are kept.
    """

    __slots__ = ("_samples", "_tables", "keep_seconds", "step_seconds")

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, int]],
        *,
        step_seconds: float = 5.0,
        keep_seconds: float = 3600.0,
    ) -> None:
        self._tables = tables
        self.step_seconds = step_seconds
        self.keep_seconds = keep_seconds
        self._samples: deque[tuple[float, dict[str, int]]] = deque(
            maxlen=math.ceil(keep_seconds / step_seconds) + 1
        )

    def totals(self) -> dict[str, int]:
        """Every reason's count so far, over all endpoints."""
        totals: dict[str, int] = {}
        for table in list(self._tables.values()):
            for reason, count in list(table.items()):  # a copy: the loop may add a reason
                totals[reason] = totals.get(reason, 0) + count
        return totals

    def sample(self, now: float) -> None:
        self._samples.append((now, self.totals()))

    def buckets(
        self, now: float, *, bucket_seconds: float, count: int
    ) -> list[tuple[float, dict[str, int]]]:
        """``count`` buckets ending at ``now`` (aligned to ``bucket_seconds``), oldest first:
        each bucket's start and the decisions per reason in it (reasons with none left out)."""
        end = math.floor(now / bucket_seconds) * bucket_seconds + bucket_seconds
        start = end - count * bucket_seconds
        result: list[tuple[float, dict[str, int]]] = [
            (start + i * bucket_seconds, {}) for i in range(count)
        ]
        previous: dict[str, int] | None = None
        for at, totals in [*self._samples, (now, self.totals())]:
            if previous is not None and start <= at < end:
                bucket = result[int((at - start) // bucket_seconds)][1]
                for reason, total in totals.items():
                    delta = total - previous.get(reason, 0)
                    if delta > 0:
                        bucket[reason] = bucket.get(reason, 0) + delta
            previous = totals
        return result


#: Why the HTTP layer closed a connection before its request was answered, or while idle.
CONNECTION_CLOSE_REASONS = (
    "client_disconnect",  # the client left mid-request (a head or body cut short)
    "head_timeout",  # no complete request head within the head timeout
    "body_timeout",  # the request body did not arrive within the body timeout
    "write_timeout",  # the client stopped reading its response
    "idle_timeout",  # keep-alive: no new request within the idle timeout
    "url_too_long",  # 414
    "headers_too_large",  # 431
    "too_many_headers",  # 431
    "bad_request",  # 400: not HTTP/1.1 the parser accepts
    "upgrade_refused",  # an Upgrade or CONNECT request: revoker serves neither
    "connection_limit",  # 503: more connections open than the cap
)


class ConnectionCloses:
    """Early connection closes by reason, in plain ints (counted on the event loop's thread)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = dict.fromkeys(CONNECTION_CLOSE_REASONS, 0)

    def count(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1


#: The process's table: every server in the process counts into it, every app shows it.
CONNECTION_CLOSES = ConnectionCloses()


class ServiceMetrics:
    """The service's metrics; ``decision_counts(endpoint)`` is the hot path's tally."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = DecisionLatency()
        self.credential_failures = Counter(
            "revoker_credential_failures",
            "Failed admin or client credential checks, by endpoint.",
            ("endpoint",),
            registry=self.registry,
        )
        self.rule_changes = Counter(
            "revoker_rule_changes",
            "Rules created or lifted through this service, by action.",
            ("action",),
            registry=self.registry,
        )
        self.signals = Counter(
            "revoker_signals",
            "Provider signals (back-channel logout …) by source and outcome"
            " (applied, replay, refused).",
            ("source", "outcome"),
            registry=self.registry,
        )
        self.last_signal = Gauge(
            "revoker_signal_last_seconds",
            "When a signal of this source and outcome last arrived (epoch seconds).",
            ("source", "outcome"),
            registry=self.registry,
        )
        self.revocations_refused = Counter(
            "revoker_revocations_refused",
            "Revocation requests that revoked nothing because the token was refused, by reason.",
            ("reason",),
            registry=self.registry,
        )
        self.propagation = Histogram(
            "revoker_propagation_seconds",
            "Seconds from a rule's commit (the writing process's clock, as the store records"
            " it) to its application in this replica, by path: push (a sync a store push woke)"
            " or poll (the poll, the first sync, an explicit sync). Rules this process wrote"
            " are not counted. Across hosts it includes their clock skew; on one host it is"
            " exact.",
            ("path",),
            buckets=PROPAGATION_BUCKETS,
            registry=self.registry,
        )
        for path in PROPAGATION_PATHS:
            self.propagation.labels(path)  # both shown at 0 before the first change
        self._signal_lock = threading.Lock()
        self._signal_tally: dict[tuple[str, str], tuple[int, float]] = {}
        # Every reason up front, so a scrape shows each at 0 before it first happens.
        self._decisions = {endpoint: dict.fromkeys(REASONS, 0) for endpoint in ENDPOINTS}
        self._decisions["auth"][MISSING_TOKEN] = 0
        self.registry.register(_DecisionCollector(self._decisions, self.latency))
        self.history = DecisionHistory(self._decisions)
        self.registry.register(_ConnectionCloseCollector(CONNECTION_CLOSES))

    def decision_counts(self, endpoint: str) -> dict[str, int]:
        """The reason -> count table of one endpoint; the hot path adds to it directly
        (``table[reason] += 1``, a reason not in it yet through ``count_decision``)."""
        return self._decisions[endpoint]

    def count_decision(self, endpoint: str, reason: str) -> None:
        table = self._decisions.setdefault(endpoint, {})
        table[reason] = table.get(reason, 0) + 1

    # -- the operations' Observer -------------------------------------------------

    def decision(self, endpoint: str, reason: str) -> None:
        self.count_decision(endpoint, reason)

    def rule_change(self, action: Literal["revoke", "lift"]) -> None:
        self.rule_changes.labels(action).inc()

    def revocation_refused(self, reason: str) -> None:
        self.revocations_refused.labels(reason).inc()

    def signal(self, source: str, outcome: str) -> None:
        self.signals.labels(source, outcome).inc()
        self.last_signal.labels(source, outcome).set_to_current_time()
        with self._signal_lock:
            count, _ = self._signal_tally.get((source, outcome), (0, 0.0))
            self._signal_tally[(source, outcome)] = (count + 1, time.time())

    def signal_tally(self, source: str) -> dict[str, tuple[int, float]]:
        """``outcome -> (count, epoch seconds of the last)`` for one source (the console)."""
        with self._signal_lock:
            return {o: v for (s, o), v in self._signal_tally.items() if s == source}

    def credential_failure(self, endpoint: str) -> None:
        self.credential_failures.labels(endpoint).inc()

    def propagated(self, path: PropagationPath, delays: Sequence[float]) -> None:
        """The replica's propagation observer: one observation per rule it applied."""
        histogram = self.propagation.labels(path)
        for seconds in delays:
            histogram.observe(seconds)

    def watch(self, registry: Registry, verifier: Verifier) -> None:
        """Read the replica and the key caches at scrape time; time the replica's applies."""
        self.registry.register(_StateCollector(registry, verifier))
        registry.replica.add_propagation_observer(self.propagated)

    def unwatch(self, registry: Registry) -> None:
        """Stop timing the replica's applies (the registry may outlive this app)."""
        registry.replica.remove_propagation_observer(self.propagated)

    def watch_signals(self, health: SourceHealthBook, verifier: Verifier) -> None:
        """Read the Shared Signals sources' health and the transmitters' keys at scrape time."""
        self.registry.register(_SignalCollector(health, verifier))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DecisionCollector(Collector):
    def __init__(self, decisions: dict[str, dict[str, int]], latency: DecisionLatency) -> None:
        self._decisions = decisions
        self._latency = latency

    def collect(self) -> Iterator[Metric]:
        decisions = CounterMetricFamily(
            "revoker_decisions",
            "Token decisions by endpoint and reason code.",
            labels=["endpoint", "reason"],
        )
        for endpoint, table in self._decisions.items():
            for reason, count in list(table.items()):  # a copy: the loop may add a reason
                decisions.add_metric([endpoint, reason], count)
        yield decisions
        latency = self._latency
        counts, running, buckets = list(latency.counts), 0, []
        for bound, count in zip((*latency.bounds, float("inf")), counts, strict=True):
            running += count
            buckets.append((_le(bound), running))
        yield HistogramMetricFamily(
            "revoker_decision_seconds",
            "Time to decide on one token (verify, cache and registry match).",
            buckets=buckets,
            sum_value=latency.total_seconds,
        )


class _ConnectionCloseCollector(Collector):
    def __init__(self, closes: ConnectionCloses) -> None:
        self._closes = closes

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "revoker_http_connections_closed",
            "HTTP connections closed early (mid-request, refused or timed out), by reason.",
            labels=["reason"],
        )
        for reason, count in list(self._closes.counts.items()):
            family.add_metric([reason], count)
        yield family


def _le(bound: float) -> str:
    # prometheus_client's spelling of bucket bounds: "1e-05", "0.25", "1.0", "+Inf".
    return "+Inf" if bound == float("inf") else repr(bound)


class _StateCollector(Collector):
    def __init__(self, registry: Registry, verifier: Verifier) -> None:
        self._registry = registry
        self._verifier = verifier

    def collect(self) -> Iterator[Metric]:
        replica = self._registry.replica
        rules = GaugeMetricFamily(
            "revoker_rules_active", "Active revocation rules in this replica.", labels=["kind"]
        )
        for kind, count in sorted(replica.counts_by_kind().items()):
            rules.add_metric([str(kind)], count)
        yield rules
        yield GaugeMetricFamily(
            "revoker_replica_lag_seconds",
            "Seconds since the replica last synced with its store (+Inf before the first).",
            value=replica.lag_seconds,
        )
        yield GaugeMetricFamily(
            "revoker_replica_fresh",
            "1 when the replica synced within max_staleness, else 0.",
            value=1.0 if replica.is_fresh else 0.0,
        )
        yield GaugeMetricFamily(
            "revoker_replica_seq",
            "The store sequence the replica has caught up to.",
            value=replica.seq,
        )
        fetches = CounterMetricFamily(
            "revoker_jwks_fetches", "JWKS fetches started, by key source.", labels=["source"]
        )
        failures = CounterMetricFamily(
            "revoker_jwks_fetch_failures",
            "JWKS fetches that failed, by key source.",
            labels=["source"],
        )
        for source, cache in _distinct_caches(self._verifier):
            fetches.add_metric([source], cache.fetch_count)
            failures.add_metric([source], cache.failure_count)
        yield fetches
        yield failures


def _distinct_caches(verifier: Verifier) -> list[tuple[str, JwksCache]]:
    # One JWKS URL may serve several issuers through one shared cache: count it once.
    seen: dict[int, tuple[str, JwksCache]] = {}
    for issuer, cache in verifier.keys.items():
        source = cache.source.jwks_url or cache.source.discovery_issuer or issuer
        seen.setdefault(id(cache), (source, cache))
    return sorted(seen.values(), key=lambda item: item[0])


class _SignalCollector(Collector):
    """Each SSF source's health: healthy or not, events taken, last event and last error."""

    def __init__(self, health: SourceHealthBook, verifier: Verifier) -> None:
        self._health = health
        self._verifier = verifier

    def collect(self) -> Iterator[Metric]:
        labels = ["delivery", "transmitter", "stream"]
        healthy = GaugeMetricFamily(
            "revoker_ssf_source_healthy",
            "1 when the SSF source's last event or poll is newer than its last error and the "
            "transmitter has not paused or disabled the stream, else 0.",
            labels=labels,
        )
        events = CounterMetricFamily(
            "revoker_ssf_events",
            "SETs this SSF source delivered and this process took.",
            labels=labels,
        )
        last_event = GaugeMetricFamily(
            "revoker_ssf_last_event_seconds",
            "When the SSF source last delivered a SET (epoch seconds; 0: never).",
            labels=labels,
        )
        last_error = GaugeMetricFamily(
            "revoker_ssf_last_error_seconds",
            "When the SSF source last failed (a refused SET, a failed poll; epoch seconds; 0: "
            "never).",
            labels=labels,
        )
        for source in self._health.snapshot():
            if source.kind != "ssf":
                continue
            values = [source.delivery, source.transmitter, source.stream_id]
            healthy.add_metric(values, 1.0 if source.healthy else 0.0)
            events.add_metric(values, source.events)
            last_event.add_metric(values, source.last_event_at or 0.0)
            last_error.add_metric(values, source.last_error_at or 0.0)
        yield healthy
        yield events
        yield last_event
        yield last_error
        fetches = CounterMetricFamily(
            "revoker_ssf_jwks_fetches",
            "Fetches of a transmitter's SSF configuration and keys, by transmitter.",
            labels=["transmitter"],
        )
        failures = CounterMetricFamily(
            "revoker_ssf_jwks_fetch_failures",
            "Those fetches that failed, by transmitter.",
            labels=["transmitter"],
        )
        for transmitter, cache in sorted(self._verifier.keys.items()):
            fetches.add_metric([transmitter], cache.fetch_count)
            failures.add_metric([transmitter], cache.failure_count)
        yield fetches
        yield failures
