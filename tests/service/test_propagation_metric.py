"""/metrics shows revoker_propagation_seconds: rules another process wrote, timed from their
commit to their application in this instance's replica, by path (push or poll)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from service_support import ADMIN, Serve, SwitchableStore, make_state

from revoker.core.registry import Registry
from revoker.service.app import build_app
from revoker.service.metrics import PROPAGATION_BUCKETS
from revoker.testing import FrozenClock, TokenFactory

HISTOGRAM = "revoker_propagation_seconds"


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_time_each_rule_another_process_wrote_by_path(
    factory: TokenFactory, clock: FrozenClock, serve: Serve
) -> None:
    """A rule from elsewhere that a sync applied counts once under path="poll", in the first
    bucket (one frozen clock: no delay); the instance's own revocations are not counted."""
    store = SwitchableStore()
    state = make_state(factory, store)
    with serve(build_app(state)) as client:
        before = samples(client)
        client.post("/admin/rules", json={"kind": "subject", "value": "own"}, headers=ADMIN)
        elsewhere = Registry(store.inner, clock=clock)  # another process on the same store
        elsewhere.revoke("subject", "from-elsewhere", reason="test")
        state.registry.sync()
        after = samples(client)
    for path in ("push", "poll"):  # both paths are there from the first scrape
        assert before[(f"{HISTOGRAM}_count", (("path", path),))] == 0
    poll = (("path", "poll"),)
    assert after[(f"{HISTOGRAM}_count", poll)] == 1
    assert after[(f"{HISTOGRAM}_sum", poll)] == 0
    first = (("le", repr(PROPAGATION_BUCKETS[0])), ("path", "poll"))
    assert after[(f"{HISTOGRAM}_bucket", first)] == 1
    assert after[(f"{HISTOGRAM}_count", (("path", "push"),))] == 0
