"""``settings_from_mapping``: a dict of setting names, parsed by each setting's own parser and
handed to the one loader (Flask's ``app.config["REVOKER"]``, Django's ``settings.REVOKER``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revoker.app.sources import load_settings
from revoker.core.errors import ConfigurationError
from revoker.integrations.config import parse_mapping, settings_from_mapping

BASE = {"issuers": ["https://issuer.example"], "audience": ["client"]}


def test_values_parse_as_in_revoker_toml() -> None:
    """Durations with units, lists or comma-separated strings, booleans as words."""
    parsed = parse_mapping(
        {"max_staleness_seconds": "2m", "issuers": "https://a.example, https://b.example",
         "fail_open": "off", "cache_size": 10, "audience": ("x", "y")},
        where="test",
    )  # fmt: skip
    assert parsed == {
        "max_staleness_seconds": 120.0,
        "issuers": ("https://a.example", "https://b.example"),
        "fail_open": False,
        "cache_size": 10,
        "audience": ("x", "y"),
    }


@pytest.mark.parametrize("value", ["*", ["*"]], ids=["string", "list"])
def test_a_star_audience_turns_the_check_off_explicitly(value: object) -> None:
    """``"audience": "*"`` (or ``["*"]``) is None, as ``REVOKER_AUDIENCE=*`` is."""
    assert parse_mapping({"audience": value}, where="test") == {"audience": None}


def test_a_star_audience_in_revoker_toml_and_flags(tmp_path: Path) -> None:
    """Regression: ``audience = "*"`` in revoker.toml and ``--audience '*'`` raised a
    TypeError (the star was applied per item, then again to the whole list)."""
    config = tmp_path / "revoker.toml"
    config.write_text('issuers = ["https://issuer.example"]\naudience = "*"\n')
    config.chmod(0o600)
    assert load_settings(config=config, environ={}).audience is None
    flags = {"issuers": ("https://issuer.example",), "audience": ("*",)}
    assert load_settings(config=None, environ={}, flags=flags).audience is None


def test_the_mapping_wins_over_the_environment_which_fills_the_rest() -> None:
    """Precedence: the mapping, then REVOKER_* variables, then revoker.toml, then defaults."""
    environ = {"REVOKER_MAX_STALENESS": "10", "REVOKER_LEEWAY_SECONDS": "1"}
    settings = settings_from_mapping(
        {**BASE, "max_staleness_seconds": 20}, where="test", environ=environ, config=None
    )
    assert (settings.max_staleness_seconds, settings.leeway_seconds) == (20.0, 1.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"store": "memory://"}, r"unknown setting 'store' \(did you mean store_url\?\)"),
        ({"cache_size": -1}, r"test\['cache_size'\] must lie between"),
        ({"fail_open": "perhaps"}, "must be true or false"),
    ],
    ids=["unknown", "out-of-range", "not-a-bool"],
)
def test_a_bad_value_names_the_setting(values: dict[str, object], message: str) -> None:
    """An unknown or unparsable value is one ConfigurationError naming where it came from."""
    with pytest.raises(ConfigurationError, match=message):
        parse_mapping(values, where="test")


def test_none_means_not_given() -> None:
    """A ``None`` value leaves the setting to the environment, the file or the default."""
    assert parse_mapping({"jwks_url": None}, where="test") == {}
