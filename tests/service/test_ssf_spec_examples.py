"""Every SET example of the SSF 1.0, CAEP 1.0 and RISC 1.0 final specifications, as published
(``ssf_spec_examples``), signed by its issuer and pushed to /ssf/events: accepted (202), and
ending in the rule, or the outcome, that ``events`` assigns it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from service_support import SwitchableStore, service_settings
from ssf_spec_examples import EXAMPLES, Example
from ssf_support import PUSH_TOKEN

from revoker.app.http_api import ApiRequest
from revoker.app.signals.receiver import ssf_rule_id
from revoker.core.authorizer import Authorizer
from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry
from revoker.core.signing import PrivateKey, generate_key, public_jwk, sign_compact
from revoker.core.transmitter_keys import ssf_configuration_url
from revoker.service.state import ServiceState
from revoker.testing import TokenFactory

KID = "spec-example-key"
# The one published text that is not JSON: a comma after the last member of sub_id.
TRAILING_COMMA = ('"sub": "7375626A656374",\n  },', '"sub": "7375626A656374"\n  },')


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_key("RS256")


class SpecTransmitterFetcher:
    """Serves an example issuer's SSF configuration and JWKS, as its well-known URLs would."""

    def __init__(self, issuer: str, key: PrivateKey) -> None:
        parts = urlsplit(issuer)
        self.jwks_uri = f"{parts.scheme}://{parts.netloc}/jwks.json"
        self.documents = {
            ssf_configuration_url(issuer): {"issuer": issuer, "jwks_uri": self.jwks_uri},
            self.jwks_uri: {"keys": [public_jwk(key, kid=KID, alg="RS256")]},
        }

    def fetch_json(self, url: str) -> dict[str, Any]:
        from revoker.core.errors import JwksUnavailable  # noqa: PLC0415

        if url not in self.documents:
            raise JwksUnavailable(f"no document at {url}")
        return dict(self.documents[url])


def claims_of(example: Example) -> dict[str, Any]:
    """The example's claims; RISC's Account Disabled needs its one stray comma removed."""
    text = example.text
    if example.anchor == "account-disabled-example":
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        assert text.count(TRAILING_COMMA[0]) == 1
        text = text.replace(*TRAILING_COMMA)
    claims: dict[str, Any] = json.loads(text)
    return claims


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.source.split('-')[1]}-{e.anchor}")
def test_each_published_example_is_accepted_and_applied_as_its_event_says(
    factory: TokenFactory, key: PrivateKey, tmp_path: Path, example: Example
) -> None:
    """202 for every example; the rule it names, or none for the events that make none."""
    claims = claims_of(example)
    issuer, aud = claims["iss"], claims["aud"]
    clock = FrozenClock(claims["iat"] + 1)  # each example lives at its own iat
    factory.clock = clock
    settings = service_settings(
        factory,
        ssf_transmitters=(issuer,),
        ssf_audience=tuple(aud) if isinstance(aud, list) else (aud,),
        ssf_push_token=PUSH_TOKEN,
        ssf_streams_file=str(tmp_path / "ssf-streams.json"),
    )
    registry = Registry(SwitchableStore(), clock=clock)
    state = ServiceState.assemble(
        settings,
        Authorizer(factory.verifier(), registry),
        ssf_fetcher=SpecTransmitterFetcher(issuer, key),
    )
    set_token = sign_compact({"alg": "RS256", "kid": KID, "typ": "secevent+jwt"}, claims, key)
    answer = state.api.handle(
        ApiRequest(
            method="POST",
            path="/ssf/events",
            headers={
                "content-type": "application/secevent+jwt",
                "authorization": f"Bearer {PUSH_TOKEN}",
            },
            body=set_token.encode(),
        )
    )
    assert (answer.status, answer.body) == (202, None)
    rules = [(str(rule.kind), rule.value) for rule in registry.rules()]
    if isinstance(example.expected, tuple):
        assert rules == [example.expected]
        (rule,) = registry.rules()
        assert rule.actor == issuer
        assert rule.id == ssf_rule_id(issuer, claims["jti"])  # one rule per (iss, jti)
    else:
        assert rules == []
    assert state.ssf is not None
    (source,) = state.ssf.health.snapshot()
    assert source.events == 1
    expected = "applied" if isinstance(example.expected, tuple) else example.expected
    assert ssf_outcomes(state) == {expected: 1.0}
    state.close()


def ssf_outcomes(state: ServiceState) -> dict[str, float]:
    """revoker_signals_total{source="ssf"} by outcome."""
    found: dict[str, float] = {}
    for family in state.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "revoker_signals_total" and sample.labels["source"] == "ssf":
                found[sample.labels["outcome"]] = sample.value
    return found
