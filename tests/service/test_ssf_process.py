"""Shared Signals end to end, as an operator runs them: a transmitter (the loopback simulator,
with real keys and real HTTP), `revoker ssf register|status|verify|delete` and `revoker serve`
as real processes; a push and a poll each end in a denied token; a poller killed between
receiving a SET and acknowledging it re-receives it after a restart and applies it once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from service_support import ADMIN_TOKEN, bearer

from process_support import ServeProcess
from revoker.core.tokens import parse_unverified
from revoker.devissuer import DevIssuerServer
from ssf_transmitter import CAEP, MANAGEMENT_TOKEN, RISC, Transmitter

Login = Callable[[], dict[str, str]]
PUSH_TOKEN = "push-token-for-process-tests-01"
AUDIENCE = "revoker-receiver"


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    with Transmitter(path="/tenant-1", audience=AUDIENCE) as running:
        yield running


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    """Every process a test starts is killed at teardown if it still runs."""
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture
def env(transmitter: Transmitter, tmp_path: Path, dev_issuer: DevIssuerServer) -> dict[str, str]:
    """The settings both `revoker ssf` and `revoker serve` read, from the environment."""
    return {
        "REVOKER_ISSUER": dev_issuer.issuer,
        "REVOKER_AUDIENCE": dev_issuer.issuer_obj.client_id,
        "REVOKER_STORE": f"sqlite:///{tmp_path}/rules.db",
        "REVOKER_ADMIN_TOKEN": ADMIN_TOKEN,
        "REVOKER_SSF_TRANSMITTER": transmitter.issuer,
        "REVOKER_SSF_AUDIENCE": AUDIENCE,
        "REVOKER_SSF_PUSH_TOKEN": PUSH_TOKEN,
        "REVOKER_SSF_TRANSMITTER_TOKEN": MANAGEMENT_TOKEN,
        "REVOKER_SSF_STREAMS": str(tmp_path / "ssf-streams.json"),
        "REVOKER_SSF_POLL_INTERVAL": "50ms",
        "REVOKER_POLL_INTERVAL": "50ms",
    }


def ssf(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`revoker ssf …` as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "revoker.cli", "ssf", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def serve(env: dict[str, str], processes: list[ServeProcess]) -> tuple[ServeProcess, str]:
    process = ServeProcess(env={**env, "REVOKER_LOG_FORMAT": "json"})
    processes.append(process)
    return process, process.wait_ready()


def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def reason(url: str, token: str) -> str:
    return str(httpx.get(url + "/auth", headers=bearer(token)).json()["reason"])


def rules(url: str) -> list[dict[str, object]]:
    answer = httpx.get(url + "/admin/rules", headers=bearer(ADMIN_TOKEN)).json()
    return list(answer["rules"])


def subject_of(token: str) -> dict[str, str]:
    claims = parse_unverified(token).claims
    return {"format": "iss_sub", "iss": str(claims["iss"]), "sub": str(claims["sub"])}


def test_register_verify_push_and_a_revoked_session(
    transmitter: Transmitter, env: dict[str, str], login: Login, processes: list[ServeProcess]
) -> None:
    """register creates a push stream with our URL and token; verify sees its state come
    back; a pushed session-revoked then denies alice's tokens through /auth."""
    process, url = serve(env, processes)
    registered = ssf(env, "register", "--push-url", url + "/ssf/events", "--json")
    assert registered.returncode == 0, registered.stderr
    record = json.loads(registered.stdout)
    (stream,) = transmitter.streams.values()
    assert record["stream_id"] == stream.stream_id
    assert stream.endpoint_url == url + "/ssf/events"
    assert stream.authorization_header == f"Bearer {PUSH_TOKEN}"
    assert CAEP + "session-revoked" in stream.events_requested
    verified = ssf(env, "verify", stream.stream_id, "--timeout", "20")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified")
    tokens = login()
    assert reason(url, tokens["AccessToken"]) == "allowed"
    set_token = transmitter.event(CAEP + "session-revoked", sub_id=subject_of(tokens["IdToken"]),
                                  iat=time.time())  # fmt: skip
    pushed = transmitter.push(url + "/ssf/events", set_token, token=PUSH_TOKEN)
    assert pushed.status_code == 202
    assert reason(url, tokens["AccessToken"]) == "revoked_subject"
    assert reason(url, tokens["IdToken"]) == "revoked_subject"
    status = ssf(env, "status")
    assert status.returncode == 0, status.stderr
    assert "verification: verified" in status.stdout
    assert "status at the transmitter: enabled" in status.stdout
    as_json = ssf(env, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    view = json.loads(as_json.stdout)["transmitter_view"]
    assert view["stream"]["delivery"]["authorization_header"] == "***"  # echoed, never shown
    assert PUSH_TOKEN not in as_json.stdout + registered.stdout
    ready = httpx.get(url + "/readyz").json()
    (source,) = ready["signals"]
    assert (source["events"], source["healthy"]) == (2, True)  # the verification and the event
    deleted = ssf(env, "delete", stream.stream_id)
    assert deleted.returncode == 0, deleted.stderr
    assert transmitter.streams == {}
    assert process.stop(signal.SIGTERM) == 0
    logs = "\n".join(process.stderr)
    assert set_token not in logs
    assert PUSH_TOKEN not in logs


def test_a_poll_stream_applies_and_survives_a_poller_killed_before_its_ack(
    transmitter: Transmitter, env: dict[str, str], login: Login, processes: list[ServeProcess]
) -> None:
    """SIGKILL after the rule is durable and before the ack reaches the transmitter: the
    restarted service re-receives the SET, applies it once (one rule, one audit entry), acks."""
    registered = ssf(env, "register", "--poll")
    assert registered.returncode == 0, registered.stderr
    (stream,) = transmitter.streams.values()
    tokens = login()
    transmitter.hold_acks = True
    first, url = serve(env, processes)
    jti = transmitter.queue(stream.stream_id, transmitter.event(
        RISC + "account-disabled", {"reason": "hijacking"},
        sub_id=subject_of(tokens["IdToken"]), iat=time.time(),
    ))  # fmt: skip
    assert transmitter.ack_arrived.wait(20), "the poller never acknowledged"
    assert reason(url, tokens["AccessToken"]) == "revoked_subject"  # durable before the ack
    first.process.send_signal(signal.SIGKILL)
    first.wait_exit()
    transmitter.hold_acks = False
    transmitter.release_acks()
    assert jti not in transmitter.acked
    second, url = serve(env, processes)
    until(lambda: jti in transmitter.acked)
    assert transmitter.delivered.count(jti) == 2
    (rule,) = rules(url)
    assert (rule["kind"], rule["actor"]) == ("subject", transmitter.issuer)
    audit = httpx.get(url + "/admin/audit", headers=bearer(ADMIN_TOKEN)).json()["entries"]
    assert [entry["action"] for entry in audit] == ["revoke"]
    assert reason(url, tokens["AccessToken"]) == "revoked_subject"
    assert second.stop(signal.SIGTERM) == 0


def test_verify_fails_in_one_line_when_no_event_comes_back(
    transmitter: Transmitter, env: dict[str, str]
) -> None:
    """No service receives the stream: exit 1 after the timeout, naming what to check."""
    registered = ssf(env, "register", "--push-url", "http://127.0.0.1:9/ssf/events")
    assert registered.returncode == 0, registered.stderr
    (stream,) = transmitter.streams.values()
    verified = ssf(env, "verify", stream.stream_id, "--timeout", "0.5")
    assert verified.returncode == 1
    assert verified.stderr.count("\n") == 1
    assert "no verification event came back" in verified.stderr


def test_a_transmitter_that_refuses_is_one_line_and_exit_1(
    transmitter: Transmitter, env: dict[str, str]
) -> None:
    """A wrong management token: the transmitter's 401, without a traceback or the token."""
    refused = ssf({**env, "REVOKER_SSF_TRANSMITTER_TOKEN": "wrong-token"}, "register", "--poll")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: the configuration endpoint answered HTTP 401"
    assert transmitter.streams == {}
