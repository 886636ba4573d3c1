"""ServiceSettings: validation with one-line errors, the worker hand-over (JSON), and the
description with secrets hidden; the command's options turned into settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from revoker.app.settings import Settings
from revoker.cli.serve import settings_from_options
from revoker.core.errors import ConfigurationError
from revoker.service.config import ServiceSettings, parse_client, redacted_url

CORE = Settings(issuers=("https://issuer.example",), audience=("app",))


def test_defaults_are_loopback_one_worker_and_no_admin() -> None:
    """Out of the box: 127.0.0.1:8080, one worker, text logs, admin API off."""
    settings = ServiceSettings(core=CORE)
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8080, 1)
    assert settings.admin_enabled is False
    assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 70000}, "--port"),
        ({"workers": 0}, "--workers"),
        ({"admin_token": "short"}, "at least 16"),
        ({"admin_token": "has spaces in it, sixteen+"}, "printable ASCII"),
        ({"introspect_clients": (("a:b", "s"),)}, "not usable"),
        ({"introspect_clients": (("a", ""),)}, "no secret"),
        ({"introspect_clients": (("a", "s"), ("a", "t"))}, "given twice"),
        ({"cookie_name": "bad name"}, "not a cookie name"),
        ({"realm": 'a"b'}, "realm"),
        ({"log_format": "xml"}, "--log-format"),
        ({"log_level": "loud"}, "--log-level"),
        ({"max_body_bytes": 100}, "body limit"),
        ({"auth_failures_per_minute": 0}, "failed-auth limit"),
        ({"core": Settings(audience=("app",))}, "no trusted issuer"),
    ],
    ids=["port", "workers", "short-admin-token", "spaced-admin-token", "client-id-colon",
         "empty-secret", "duplicate-client", "cookie", "realm", "log-format", "log-level",
         "body-limit", "failure-limit", "no-issuer"],
)  # fmt: skip
def test_misconfiguration_is_one_configuration_error(
    overrides: dict[str, Any], message: str
) -> None:
    """Each bad setting raises ConfigurationError with a one-line message naming it."""
    options: dict[str, Any] = {"core": CORE, **overrides}
    with pytest.raises(ConfigurationError, match=message) as raised:
        ServiceSettings(**options)
    assert "\n" not in str(raised.value)


def test_the_json_hand_over_round_trips() -> None:
    """to_json/from_json (for worker processes) give back equal settings, secrets included."""
    settings = ServiceSettings(
        core=Settings(issuers=("https://a", "https://b"), audience=None, algorithms=("ES256",)),
        admin_token="x" * 20,
        introspect_clients=(("rs", "secret"),),
        cookie_name="session",
        port=0,
        workers=3,
    )
    assert ServiceSettings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("text", ["", "[]", '{"core": {}}', '{"port": 1}'], ids=str)
def test_a_broken_hand_over_is_a_configuration_error(text: str) -> None:
    """A malformed settings blob fails with ConfigurationError, not a traceback."""
    with pytest.raises(ConfigurationError):
        ServiceSettings.from_json(text)


def test_describe_hides_secrets() -> None:
    """The printed configuration names clients but shows no secret and no store password."""
    settings = ServiceSettings(
        core=Settings(issuers=("https://a",), audience=("app",), store_url="redis://:pw@h/0"),
        admin_token="super-secret-admin-token",
        introspect_clients=(("rs", "client-secret"),),
    )
    text = json.dumps(settings.describe())
    assert "super-secret-admin-token" not in text
    assert "client-secret" not in text
    assert ":pw@" not in text
    assert settings.describe()["introspect_clients"] == ["rs"]
    assert "super-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///revoker.db", "sqlite:///revoker.db"),
    ],
    ids=["redis", "postgres", "no-password", "sqlite"],
)
def test_store_urls_are_redacted(url: str, shown: str) -> None:
    """Only the password of a store URL is hidden."""
    assert redacted_url(url) == shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [("rs:secret", ("rs", "secret")), ("rs:a:b", ("rs", "a:b")), (" rs:s ", ("rs", "s"))],
    ids=["plain", "colon-in-secret", "spaces"],
)
def test_parse_client(text: str, expected: tuple[str, str]) -> None:
    """ID:SECRET splits at the first colon."""
    assert parse_client(text) == expected


@pytest.mark.parametrize("text", ["rs", ":secret", "rs:"], ids=["no-colon", "no-id", "no-secret"])
def test_parse_client_refuses_incomplete_pairs(text: str) -> None:
    """An introspection client needs both parts."""
    with pytest.raises(ConfigurationError, match="CLIENT_ID:SECRET"):
        parse_client(text)


def test_options_become_settings_with_comma_lists() -> None:
    """Repeated and comma-separated values both work (env vars are comma-separated)."""
    settings = settings_from_options(
        {
            "issuers": ("https://a,https://b",),
            "audiences": ("x", "y"),
            "introspect_clients": ("c1:s1,c2:s2",),
            "store_url": "memory://",
            "port": 0,
        }
    )
    assert settings.core.issuers == ("https://a", "https://b")
    assert settings.core.audience == ("x", "y")
    assert settings.introspect_clients == (("c1", "s1"), ("c2", "s2"))


def test_a_dev_issuer_is_trusted_and_gives_the_default_audience() -> None:
    """--dev-issuer adds its issuer, and its client id when no audience is given."""
    settings = settings_from_options(
        {"store_url": "memory://"}, dev_issuer="http://127.0.0.1:9000/pool", dev_client_id="dev"
    )
    assert settings.core.issuers == ("http://127.0.0.1:9000/pool",)
    assert settings.core.audience == ("dev",)


def test_audience_star_turns_the_check_off_and_none_is_an_error() -> None:
    """--audience '*' is the explicit way to skip the audience check; nothing is an error."""
    off = settings_from_options({"issuers": ("https://a",), "audiences": ("*",)})
    assert off.core.audience is None
    with pytest.raises(ConfigurationError, match="--audience"):
        settings_from_options({"issuers": ("https://a",)})
