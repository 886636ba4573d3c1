"""Decision metrics in plain ints: the scrape shows them as Prometheus counters and a histogram."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from revoker.service.metrics import DecisionLatency, ServiceMetrics


def scrape(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.5, 1), (1.0, 1), (0.1, 0), (2.0, 2), (0.0, 0)],
    ids=["inside", "on-a-bound", "first", "above-all", "zero"],
)
def test_latency_counts_a_time_in_the_first_bucket_that_holds_it(
    seconds: float, bucket: int
) -> None:
    """A time equal to a bound counts under that bound (Prometheus "le"); above all: +Inf."""
    latency = DecisionLatency((0.1, 1.0))
    latency.observe(seconds)
    assert latency.counts == [int(n == bucket) for n in range(3)]
    assert latency.total_seconds == seconds


def test_the_scrape_shows_cumulative_buckets_count_and_sum() -> None:
    """Observed times come out as cumulative le buckets with their count and sum."""
    metrics = ServiceMetrics()
    for seconds in (0.00002, 0.0003, 0.0003, 2.0):
        metrics.latency.observe(seconds)
    found = scrape(metrics)
    bucket = "revoker_decision_seconds_bucket"
    assert found[(bucket, (("le", "2.5e-05"),))] == 1
    assert found[(bucket, (("le", "0.0005"),))] == 3
    assert found[(bucket, (("le", "1.0"),))] == 3
    assert found[(bucket, (("le", "+Inf"),))] == 4
    assert found[("revoker_decision_seconds_count", ())] == 4
    assert found[("revoker_decision_seconds_sum", ())] == pytest.approx(2.00062)


def test_decisions_are_counted_per_endpoint_and_reason_even_new_ones() -> None:
    """Every known reason shows at 0 first; a reason the table lacks is added when counted."""
    metrics = ServiceMetrics()
    metrics.decision_counts("auth")["allowed"] += 2
    metrics.count_decision("check", "a_reason_from_later")
    found = scrape(metrics)
    total = "revoker_decisions_total"
    assert found[(total, (("endpoint", "auth"), ("reason", "allowed")))] == 2
    assert found[(total, (("endpoint", "introspect"), ("reason", "expired")))] == 0
    assert found[(total, (("endpoint", "check"), ("reason", "a_reason_from_later")))] == 1
