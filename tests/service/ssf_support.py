"""Helpers for the Shared Signals tests: a service state that trusts a running transmitter
simulator (``ssf_transmitter``), on the token factory's frozen clock and a switchable store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from service_support import SwitchableStore, bearer, make_state

from revoker.service.state import ServiceState
from revoker.testing import TokenFactory
from ssf_transmitter import CAEP, RISC, SSF, Transmitter

__all__ = [
    "AUDIENCE",
    "CAEP",
    "PUSH_TOKEN",
    "RISC",
    "SSF",
    "denied",
    "push",
    "samples",
    "ssf_state",
]

PUSH_TOKEN = "push-token-for-tests-0123456789"
AUDIENCE = "revoker-receiver"


def ssf_state(
    factory: TokenFactory,
    transmitter: Transmitter,
    tmp_path: Path,
    store: SwitchableStore | None = None,
    **overrides: Any,
) -> ServiceState:
    """A state trusting the factory's issuer for tokens and ``transmitter`` for SETs."""
    options: dict[str, Any] = {
        "ssf_transmitters": (transmitter.issuer,),
        "ssf_audience": (AUDIENCE,),
        "ssf_push_token": PUSH_TOKEN,
        "ssf_streams_file": str(tmp_path / "ssf-streams.json"),
    }
    options.update(overrides)
    return make_state(factory, store, **options)


def push(client: httpx.Client, set_token: str, *, token: str | None = PUSH_TOKEN,
         content_type: str = "application/secevent+jwt") -> httpx.Response:  # fmt: skip
    """POST a SET to /ssf/events as a transmitter does (RFC 8935 §2)."""
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/ssf/events", content=set_token.encode(), headers=headers)


def denied(client: httpx.Client, token: str) -> str | None:
    """The reason /auth denies ``token`` with, or None when it allows it."""
    response = client.get("/auth", headers=bearer(token))
    if response.status_code == 200:
        return None
    reason: str = response.json()["reason"]
    return reason


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
