"""The Shared Signals and Global Token Revocation settings: read from flags, the environment
and revoker.toml like every setting; URLs https (http on loopback); secrets hidden."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from revoker.app.settings import Settings
from revoker.app.sources import load_settings
from revoker.core.errors import ConfigurationError

BASE: dict[str, Any] = {"issuers": ("https://login.example.com",), "audience": ("app",)}


def test_the_environment_and_the_toml_file_give_the_same_settings(tmp_path: Path) -> None:
    """REVOKER_SSF_TRANSMITTER is comma-separated; the toml key is the field name."""
    environ = {
        "REVOKER_SSF_TRANSMITTER": "https://a.example,http://127.0.0.1:9000/t",
        "REVOKER_SSF_PUSH_TOKEN": "push-token-0123456789",
        "REVOKER_SSF_MAX_AGE": "2h",
        "REVOKER_GTR_ISSUER": "https://example.okta.com",
        "REVOKER_GTR_AUDIENCE": "https://api.example.com/global-token-revocation",
    }
    from_env = load_settings(environ=environ, config=None)
    toml = tmp_path / "revoker.toml"
    toml.write_text(
        'ssf_transmitters = ["https://a.example", "http://127.0.0.1:9000/t"]\n'
        'ssf_push_token = "push-token-0123456789"\nssf_max_age_seconds = "2h"\n'
        'gtr_issuers = ["https://example.okta.com"]\n'
        'gtr_audience = ["https://api.example.com/global-token-revocation"]\n'
    )
    os.chmod(toml, 0o600)
    from_file = load_settings(environ={}, config=toml)
    for settings in (from_env, from_file):
        assert settings.ssf_transmitters == ("https://a.example", "http://127.0.0.1:9000/t")
        assert settings.ssf_max_age_seconds == 7200
        assert settings.gtr_enabled
    assert from_env.describe()["ssf_push_token"] == "***"
    assert "push-token" not in repr(from_env)


def test_the_defaults() -> None:
    """Off until a transmitter is named; a day of SET age; every credential type counts."""
    settings = Settings(**BASE)
    assert (settings.ssf_enabled, settings.gtr_enabled) == (False, False)
    assert settings.ssf_max_age_seconds == 86400
    assert settings.ssf_credential_types == ()
    assert settings.ssf_receiver_audience() == ("app",)
    assert settings.replace(ssf_audience=("receiver",)).ssf_receiver_audience() == ("receiver",)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param({"ssf_transmitters": ("http://tr.example.com",)}, "loopback",
                     id="plain-http-elsewhere"),
        pytest.param({"ssf_transmitters": ("https://tr.example.com/?t=1",)}, "query",
                     id="a-query"),
        pytest.param({"ssf_transmitters": ("https://a.example", "https://a.example")}, "twice",
                     id="twice"),
        pytest.param({"ssf_push_token": "short"}, "16 printable", id="short-push-token"),
        pytest.param({"gtr_token": "has a space in it 0123"}, "16 printable", id="gtr-token"),
        pytest.param({"gtr_issuers": ("https://example.okta.com",)}, "--gtr-audience",
                     id="gtr-issuer-without-audience"),
        pytest.param({"gtr_issuers": ("http://example.okta.com",), "gtr_audience": ("x",)},
                     "loopback", id="gtr-issuer-plain-http"),
        pytest.param({"ssf_transmitters": ("https://a.example",), "audience": None},
                     "--ssf-audience", id="no-audience-for-sets"),
        pytest.param({"ssf_max_age_seconds": 0}, "positive", id="no-max-age"),
    ],
)  # fmt: skip
def test_each_bad_value_is_one_configuration_error(changes: dict[str, Any], fragment: str) -> None:
    """Refused when the settings are made, before any port is bound."""
    with pytest.raises(ConfigurationError, match=fragment):
        Settings(**{**BASE, **changes})
