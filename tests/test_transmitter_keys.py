"""A transmitter's keys come from its SSF configuration's jwks_uri (SSF 1.0 §7.2), through the
same JwksCache as an issuer's: the well-known path, the issuer check, https (http only on
loopback), one refetch per cooldown for an unknown kid, cached keys serving when it fails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError, JwksUnavailable, UnknownKid
from revoker.core.jwks import JwksCache
from revoker.core.signing import generate_key, public_jwk
from revoker.core.transmitter_keys import (
    TransmitterKeySource,
    is_loopback_url,
    ssf_configuration_url,
    usable_transmitter_url,
)

TRANSMITTER = "https://tr.example.com/issuer1"
CONFIGURATION = "https://tr.example.com/.well-known/ssf-configuration/issuer1"
JWKS = "https://tr.example.com/jwks.json"


class Documents:
    """A fetcher over fixed documents that counts what it was asked for."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.calls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        document = self.documents.get(url)
        if document is None:
            raise JwksUnavailable(f"nothing at {url}")
        return dict(document)


def jwks(kid: str) -> dict[str, Any]:
    return {"keys": [public_jwk(generate_key("ES256"), kid=kid, alg="ES256")]}


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://tr.example.com", "https://tr.example.com/.well-known/ssf-configuration"),
        ("https://tr.example.com/", "https://tr.example.com/.well-known/ssf-configuration"),
        ("https://tr.example.com/issuer1", CONFIGURATION),
        ("https://tr.example.com/issuer1/", CONFIGURATION),
        ("http://127.0.0.1:8443/a/b", "http://127.0.0.1:8443/.well-known/ssf-configuration/a/b"),
    ],
)
def test_the_well_known_path_goes_between_host_and_path(issuer: str, url: str) -> None:
    """§7.2's examples: /.well-known/ssf-configuration, then the issuer's path (no final /)."""
    assert ssf_configuration_url(issuer) == url


@pytest.mark.parametrize(
    ("url", "usable"),
    [
        ("https://tr.example.com", True),
        ("https://tr.example.com/issuer1", True),
        ("http://127.0.0.1:8080", True),
        ("http://[::1]:8080/x", True),
        ("http://localhost:8080", True),
        ("http://tr.example.com", False),
        ("http://10.0.0.1", False),
        ("https://tr.example.com/?tenant=1", False),
        ("https://tr.example.com/#frag", False),
        ("https://user@tr.example.com", False),
        ("ftp://tr.example.com", False),
        ("https://", False),
        ("https://tr.example.com/a b", False),
        (None, False),
    ],
)
def test_https_everywhere_and_http_on_loopback_only(url: Any, usable: bool) -> None:
    """A SET's signature is only as good as the channel its keys came over."""
    assert usable_transmitter_url(url) is usable


def test_a_transmitter_url_is_checked_when_the_source_is_made() -> None:
    """A plain-http transmitter elsewhere than loopback is a configuration error."""
    with pytest.raises(ConfigurationError, match="http only on a loopback host"):
        TransmitterKeySource.of("http://tr.example.com")
    assert is_loopback_url("http://127.0.0.2:1")


def test_keys_resolve_through_the_configuration_and_report_it() -> None:
    """The configuration's jwks_uri is fetched; the document is handed on (critical members)."""
    seen: list[Mapping[str, Any]] = []
    fetcher = Documents({
        CONFIGURATION: {"issuer": TRANSMITTER, "jwks_uri": JWKS,
                        "critical_subject_members": ["tenant"]},
        JWKS: jwks("k-1"),
    })  # fmt: skip
    cache = JwksCache(TransmitterKeySource.of(TRANSMITTER, on_configuration=seen.append),
                      fetcher=fetcher, clock=FrozenClock(0))  # fmt: skip
    assert cache.get("k-1").kid == "k-1"
    assert fetcher.calls == [CONFIGURATION, JWKS]
    assert seen[0]["critical_subject_members"] == ["tenant"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"issuer": "https://tr.example.com", "jwks_uri": JWKS}, id="another-issuer"),
        pytest.param({"issuer": TRANSMITTER}, id="no-jwks-uri"),
        pytest.param({"issuer": TRANSMITTER, "jwks_uri": "http://tr.example.com/jwks.json"},
                     id="plain-http-jwks-uri"),
        pytest.param({"issuer": TRANSMITTER, "jwks_uri": 7}, id="jwks-uri-not-a-string"),
    ],
)  # fmt: skip
def test_a_configuration_that_fails_its_checks_gives_no_keys(document: dict[str, Any]) -> None:
    """§7.2.3: the issuer must be identical; the jwks_uri https: else "cannot decide"."""
    fetcher = Documents({CONFIGURATION: document, JWKS: jwks("k-1")})
    cache = JwksCache(TransmitterKeySource.of(TRANSMITTER), fetcher=fetcher, clock=FrozenClock(0))
    with pytest.raises(JwksUnavailable):
        cache.get("k-1")
    assert JWKS not in fetcher.calls


def test_an_unknown_kid_refetches_once_per_cooldown_and_a_rotation_is_picked_up() -> None:
    """The issuers' rules: a new kid refetches at most once per cooldown; cached keys serve."""
    clock = FrozenClock(0)
    fetcher = Documents({CONFIGURATION: {"issuer": TRANSMITTER, "jwks_uri": JWKS},
                         JWKS: jwks("k-1")})  # fmt: skip
    cache = JwksCache(TransmitterKeySource.of(TRANSMITTER), fetcher=fetcher, clock=clock,
                      cooldown_seconds=10)  # fmt: skip
    cache.warm()
    for _ in range(5):
        with pytest.raises(UnknownKid):
            cache.get("k-2")
    assert cache.fetch_count == 1  # the warm-up; every unknown kid inside the cooldown waits
    fetcher.documents[JWKS] = jwks("k-2")
    clock.advance(10)
    assert cache.get("k-2").kid == "k-2"
    assert cache.fetch_count == 2
    fetcher.documents.clear()  # the transmitter goes away: the cached keys keep serving
    clock.advance(3600)  # past the TTL: a refetch is tried, and fails
    assert cache.get("k-2").kid == "k-2"
    assert (cache.fetch_count, cache.failure_count) == (3, 1)
