"""RFC 8936 poll delivery: the poller acknowledges a SET only once its rule is durable, reports
refused ones in setErrs, follows moreAvailable, leaves an undecided SET for the next poll, and
backs off (capped, jittered) while the transmitter fails; the service starts and stops it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from service_support import T0, Serve, SwitchableStore
from ssf_support import AUDIENCE, RISC, denied, ssf_state

from revoker.app.signals.poller import Backoff, StreamPoller
from revoker.app.signals.streams import StreamBook, StreamRecord
from revoker.app.signals.transmitter import TransmitterClient
from revoker.core.registry import RuleFilter
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import TokenFactory
from ssf_transmitter import MANAGEMENT_TOKEN, Transmitter


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    with Transmitter(audience=AUDIENCE) as running:
        yield running


@pytest.fixture
def stream_id(transmitter: Transmitter, tmp_path: Path) -> str:
    """A poll stream at the transmitter, recorded in the stream file."""
    stream = transmitter.add_stream("urn:ietf:rfc:8936")
    StreamBook(tmp_path / "ssf-streams.json").put(StreamRecord(
        transmitter=transmitter.issuer, stream_id=stream.stream_id, method="poll",
        endpoint_url=stream.endpoint_url, created_at=T0,
    ))  # fmt: skip
    return stream.stream_id


@pytest.fixture
def state(
    factory: TokenFactory, transmitter: Transmitter, tmp_path: Path, store: SwitchableStore,
    stream_id: str,
) -> ServiceState:  # fmt: skip
    return ssf_state(
        factory, transmitter, tmp_path, store, ssf_push_token=None,
        ssf_transmitter_token=MANAGEMENT_TOKEN, ssf_poll_interval_seconds=0.02,
    )  # fmt: skip


def disabled(transmitter: Transmitter, factory: TokenFactory, sub: str = "user-1") -> str:
    sub_id = {"format": "iss_sub", "iss": factory.issuer, "sub": sub}
    return transmitter.event(RISC + "account-disabled", iat=T0, sub_id=sub_id)


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait, bounded, for something another thread does."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def poller(state: ServiceState, transmitter: Transmitter, stream_id: str) -> Iterator[StreamPoller]:
    """A poller driven round by round from the test (no thread); top-of-jitter backoff."""
    receiver = state.ssf
    assert receiver is not None
    record = receiver.streams.get(transmitter.issuer, stream_id)
    assert record is not None
    client = TransmitterClient(transmitter.issuer, token=MANAGEMENT_TOKEN)
    stepped = StreamPoller(receiver, record, client, interval_seconds=1.0,
                           backoff=Backoff(jitter=lambda: 1.0))  # fmt: skip
    yield stepped
    stepped.client.close()


def test_the_service_polls_applies_and_acknowledges(
    client: httpx.Client, factory: TokenFactory, transmitter: Transmitter, stream_id: str,
    state: ServiceState,
) -> None:  # fmt: skip
    """Started with the service: a queued SET's rule, /auth denies, then the SET is acked."""
    token = factory.access_token(sub="user-1")
    jti = transmitter.queue(stream_id, disabled(transmitter, factory))
    until(lambda: jti in transmitter.acked)
    assert denied(client, token) == "revoked_subject"
    assert len(state.registry.rules()) == 1
    (source,) = [s for s in client.get("/readyz").json()["signals"] if s["delivery"] == "poll"]
    assert (source["stream_id"], source["events"], source["healthy"]) == (stream_id, 1, True)


def test_an_ack_goes_only_in_the_poll_after_the_rule_is_durable(
    factory: TokenFactory,
    transmitter: Transmitter,
    stream_id: str,
    state: ServiceState,
    *,
    poller: StreamPoller,
    store: SwitchableStore,
) -> None:
    """An outage: the SET is neither acked nor refused, and comes again; once stored, acked."""
    jti = transmitter.queue(stream_id, disabled(transmitter, factory))
    store.failing = True
    assert poller.round() == 1.0  # backed off: the first failure waits the base second
    assert transmitter.polls[-1].delivered == [jti]
    store.failing = False
    assert poller.round() == 0.0  # applied; its ack goes with the next poll
    assert jti not in transmitter.acked
    assert len(state.registry.rules()) == 1
    assert poller.round() == 1.0  # the ack sent, nothing new: the poll interval
    assert transmitter.polls[-1].ack == [jti]
    assert jti in transmitter.acked
    assert transmitter.delivered == [jti, jti]
    assert len(state.registry.audit()) == 1


def test_a_refused_set_is_reported_in_set_errs(
    factory: TokenFactory, transmitter: Transmitter, stream_id: str, state: ServiceState,
    *, poller: StreamPoller,
) -> None:  # fmt: skip
    """RFC 8936 §2.4.4: the err and description go back under the SET's jti; nothing stored."""
    sub_id = {"format": "iss_sub", "iss": factory.issuer, "sub": "u"}
    wrong = transmitter.event(RISC + "account-disabled", iat=T0, aud="elsewhere", sub_id=sub_id)
    jti = transmitter.queue(stream_id, wrong)
    poller.round()
    poller.round()
    assert transmitter.errors[jti]["err"] == "invalid_audience"
    assert set(transmitter.errors[jti]) == {"err", "description"}
    assert state.registry.rules() == []


def test_more_available_is_followed_at_once(
    factory: TokenFactory,
    transmitter: Transmitter,
    stream_id: str,
    state: ServiceState,
    *,
    poller: StreamPoller,
) -> None:
    """150 SETs, 100 a poll: the next poll goes without waiting, and every SET is applied."""
    for n in range(150):
        transmitter.queue(stream_id, disabled(transmitter, factory, sub=f"user-{n}"))
    waits = [poller.round() for _ in range(3)]
    assert waits == [0.0, 0.0, 1.0]
    assert [len(poll.delivered) for poll in transmitter.polls] == [100, 50, 0]
    assert len(transmitter.acked) == 150
    assert len(state.registry.rules(RuleFilter(limit=1000))) == 150


def test_backoff_doubles_with_jitter_up_to_a_cap_and_resets() -> None:
    """1, 2, 4 … 60 s at the top of the jitter; half that at its bottom; reset after a success."""
    top = Backoff(jitter=lambda: 1.0)
    assert [top.next() for _ in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    top.reset()
    assert top.next() == 1.0
    bottom = Backoff(jitter=lambda: 0.0)
    assert [bottom.next() for _ in range(3)] == [0.5, 1.0, 2.0]


def test_a_failing_transmitter_is_retried_with_backoff_and_reported(
    transmitter: Transmitter, state: ServiceState, poller: StreamPoller
) -> None:
    """A poll endpoint that refuses (401 here): the wait grows, the health shows the error."""
    poller.client.close()
    poller.client = TransmitterClient(transmitter.issuer, token="not-the-token")
    assert [poller.round() for _ in range(3)] == [1.0, 2.0, 4.0]
    assert state.ssf is not None
    (health,) = [h for h in state.ssf.health.snapshot() if h.delivery == "poll"]
    assert "HTTP 401" in health.last_error
    assert not health.healthy


def test_stopping_the_service_stops_its_pollers_and_sends_the_last_acks(
    factory: TokenFactory, transmitter: Transmitter, stream_id: str, state: ServiceState,
    serve: Serve,
) -> None:  # fmt: skip
    """A clean stop joins the poller threads and leaves nothing to redeliver."""
    with serve(build_app(state)):
        assert len(state.pollers) == 1
        jti = transmitter.queue(stream_id, disabled(transmitter, factory))
        until(lambda: len(state.registry.rules()) == 1)  # applied: its ack is due
        threads = [poller._thread for poller in state.pollers]
    assert state.pollers == []
    assert all(thread is not None and not thread.is_alive() for thread in threads)
    until(lambda: jti in transmitter.acked)
