"""Prometheus metrics, cheap on the hot path.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one
process). Decision counters are bound per (endpoint, reason) once, up front:
``Counter.labels()`` per request costs more than the check it counts. What the
registry and the key caches already count (active rules, replica lag, JWKS
fetches) is read at scrape time by a collector instead of being kept twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from revoker.errors import REASONS

if TYPE_CHECKING:
    from revoker.jwks import JwksCache
    from revoker.registry import Registry
    from revoker.verify import Verifier

__all__ = ["CONTENT_TYPE", "ENDPOINTS", "MISSING_TOKEN", "ServiceMetrics"]

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


class ServiceMetrics:
    """The service's metrics; ``decision(endpoint, reason)`` is the pre-bound counter."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._decisions = Counter(
            "revoker_decisions",
            "Token decisions by endpoint and reason code.",
            ("endpoint", "reason"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "revoker_decision_seconds",
            "Time to decide on one token (verify, cache and registry match).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
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
        self._bound = {
            endpoint: {reason: self._decisions.labels(endpoint, reason) for reason in REASONS}
            for endpoint in ENDPOINTS
        }
        self._bound["auth"][MISSING_TOKEN] = self._decisions.labels("auth", MISSING_TOKEN)

    def counter_for(self, endpoint: str) -> dict[str, Counter]:
        """The reason -> child counter table of one endpoint (the hot path keeps a reference)."""
        return self._bound[endpoint]

    def count_decision(self, endpoint: str, reason: str) -> None:
        table = self._bound[endpoint]
        child = table.get(reason)
        if child is None:  # a reason code added later: bind it once
            child = table[reason] = self._decisions.labels(endpoint, reason)
        child.inc()

    def watch(self, registry: Registry, verifier: Verifier) -> None:
        """Read the replica and the key caches at scrape time."""
        self.registry.register(_StateCollector(registry, verifier))

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
