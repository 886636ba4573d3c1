"""The one settings declaration and its loader: every source parses a value the same way,
precedence is flag > environment > revoker.toml > default, unknown names are errors that
name the closest one, and a bad value is one ConfigurationError line."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from revoker.app.settings import GROUPS, Settings, redacted_url, spec, specs
from revoker.app.sources import load_settings
from revoker.core.errors import ConfigurationError

BASE = {"REVOKER_ISSUER": "https://issuer.example", "REVOKER_AUDIENCE": "app"}


def from_env(**env: str) -> Settings:
    return load_settings(environ={**BASE, **env}, config=None)


def toml(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "revoker.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- the declaration ------------------------------------------------------------------


def test_every_field_is_declared_once_with_a_unique_env_flag_and_toml_key() -> None:
    """Each Settings field has one declaration; no two share a variable, a flag or a key."""
    declared = list(specs())
    assert [found.name for found in declared] == [f.name for f in dataclasses.fields(Settings)]
    envs = [env for found in declared for env in found.env]
    flags = [found.flag for found in declared if found.flag]
    assert len(envs) == len(set(envs))
    assert len(flags) == len(set(flags))
    assert all(found.group in GROUPS for found in declared)
    assert all(found.help.endswith((".", ")")) for found in declared)


def test_every_default_passes_its_own_validation() -> None:
    """Settings() with only the required audience is valid, and round-trips through JSON."""
    settings = Settings(audience=("app",))
    assert Settings.from_json(settings.to_json()) == settings


# --- one parser for every source --------------------------------------------------------


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on", "On"])
def test_true_is_spelled_the_same_everywhere(word: str, tmp_path: Path) -> None:
    """REVOKER_FAIL_OPEN=on fails open, and so does fail_open = "on" in revoker.toml."""
    assert from_env(REVOKER_FAIL_OPEN=word).fail_open is True
    path = toml(tmp_path, f'fail_open = "{word}"\n')
    assert load_settings(environ=BASE, config=path).fail_open is True


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "OFF"])
def test_false_is_spelled_the_same_everywhere(word: str) -> None:
    """Every false word is false; none falls back to the default."""
    assert from_env(REVOKER_RESOLVE_USERNAMES=word).resolve_usernames is False


@pytest.mark.parametrize("word", ["maybe", "2", "enabled", "yes please"])
def test_a_word_that_is_not_a_boolean_is_an_error(word: str) -> None:
    """No silent default for a misspelt switch."""
    with pytest.raises(ConfigurationError, match="REVOKER_FAIL_OPEN must be true or false"):
        from_env(REVOKER_FAIL_OPEN=word)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("1.5", 1.5), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0),
     ("2d", 172_800.0), (" 45 s ", 45.0)],
)  # fmt: skip
def test_durations_read_the_same_everywhere(text: str, seconds: float, tmp_path: Path) -> None:
    """A duration means the same from the environment, the toml file and a flag."""
    assert from_env(REVOKER_MAX_STALENESS=text).max_staleness_seconds == seconds
    path = toml(tmp_path, f'max_staleness_seconds = "{text}"\n')
    assert load_settings(environ=BASE, config=path).max_staleness_seconds == seconds
    flagged = load_settings(environ=BASE, config=None, flags={"max_staleness_seconds": text})
    assert flagged.max_staleness_seconds == seconds


def test_a_toml_number_is_seconds() -> None:
    """TOML's native numbers are seconds (and integers for counts)."""
    settings = Settings(audience=("a",), max_staleness_seconds=12)
    assert settings.max_staleness_seconds == 12


def test_lists_come_comma_separated_repeated_or_as_toml_lists(tmp_path: Path) -> None:
    """Comma-separated in the environment, a list in toml, repeated flags: the same tuple."""
    assert from_env(REVOKER_ISSUER="https://a, https://b").issuers == ("https://a", "https://b")
    path = toml(tmp_path, 'issuers = ["https://a", "https://b"]\naudience = "x"\n')
    assert load_settings(environ={}, config=path).issuers == ("https://a", "https://b")
    flagged = load_settings(environ={}, config=None, flags={"issuers": ("https://a,https://b",)})
    assert flagged.issuers == ("https://a", "https://b")


def test_audience_star_turns_the_check_off_and_none_given_fails_at_the_verifier() -> None:
    """'*' is the explicit way to skip the audience check; no audience is an error later."""
    assert from_env(REVOKER_AUDIENCE="*").audience is None
    unset = load_settings(environ={"REVOKER_ISSUER": "https://a"}, config=None)
    assert unset.audience == ()
    with pytest.raises(ConfigurationError, match="--audience"):
        unset.policy()
    with pytest.raises(ConfigurationError, match="stands alone"):
        from_env(REVOKER_AUDIENCE="*,app")


def test_the_lambda_and_the_service_read_one_environment_the_same_way() -> None:
    """The AWS runtime's settings are exactly what load_settings gives for its environment."""
    from revoker.aws.runtime import build_runtime  # noqa: PLC0415 - the AWS transport

    env = {**BASE, "REVOKER_STORE": "memory://", "REVOKER_FAIL_OPEN": "on",
           "REVOKER_POLL_INTERVAL": "2s", "REVOKER_CACHE_SIZE": "7"}  # fmt: skip
    runtime = build_runtime(env)
    try:
        assert runtime.settings == load_settings(environ=env, config=None)
        assert runtime.settings.fail_open is True
        assert runtime.registry.replica._fail_open is True
        assert runtime.authorizer._cache_size == 7
    finally:
        runtime.close()


# --- precedence -----------------------------------------------------------------------


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    """revoker.toml < REVOKER_* < flags < a caller's own overrides."""
    path = toml(tmp_path, 'port = 7001\nworkers = 3\nlog_format = "json"\n')
    env = {**BASE, "REVOKER_PORT": "7002", "REVOKER_WORKERS": "2"}
    settings = load_settings(environ=env, config=path, flags={"workers": "4", "port": None})
    assert (settings.log_format, settings.port, settings.workers) == ("json", 7002, 4)
    overridden = load_settings(environ=env, config=path, overrides={"port": 9})
    assert overridden.port == 9


def test_an_empty_variable_counts_as_unset() -> None:
    """REVOKER_STORE= (as container tools write it) leaves the default."""
    assert from_env(REVOKER_STORE="").store_url == spec("store_url").default


def test_aws_region_is_the_fallback_for_the_region() -> None:
    """REVOKER_REGION wins; AWS_REGION (the Lambda runtime sets it) stands in."""
    assert from_env(AWS_REGION="eu-west-1").region == "eu-west-1"
    assert from_env(AWS_REGION="eu-west-1", REVOKER_REGION="us-east-1").region == "us-east-1"


# --- unknown names ----------------------------------------------------------------------


def test_an_unknown_variable_names_the_closest_one() -> None:
    """A typo in a REVOKER_* name is an error, not a silently kept default."""
    with pytest.raises(ConfigurationError, match="did you mean REVOKER_FAIL_OPEN"):
        from_env(REVOKER_FAIL_OPNE="true")


def test_the_test_suites_own_variables_are_not_settings() -> None:
    """REVOKER_TEST_* and REVOKER_REQUIRE_SERVICES belong to the test suite."""
    settings = from_env(REVOKER_REQUIRE_SERVICES="1", REVOKER_TEST_REDIS_URL="redis://x")
    assert settings.issuers == ("https://issuer.example",)


def test_an_unknown_toml_key_names_the_closest_one(tmp_path: Path) -> None:
    """audiences (the old spelling) points to audience."""
    path = toml(tmp_path, 'audiences = ["app"]\n')
    with pytest.raises(ConfigurationError, match="did you mean audience"):
        load_settings(environ={}, config=path)


def test_a_revoker_table_holds_the_keys_too(tmp_path: Path) -> None:
    """[revoker] or the top level; not both."""
    path = toml(tmp_path, '[revoker]\nissuers = ["https://a"]\n')
    assert load_settings(environ={}, config=path).issuers == ("https://a",)
    mixed = toml(tmp_path, 'port = 1\n[revoker]\nissuers = ["https://a"]\n')
    with pytest.raises(ConfigurationError, match="top level or under"):
        load_settings(environ={}, config=mixed)


# --- files ------------------------------------------------------------------------------


def test_a_config_file_others_can_write_is_refused(tmp_path: Path) -> None:
    """Whoever can edit revoker.toml controls what is trusted."""
    path = toml(tmp_path, 'issuers = ["https://a"]\n', mode=0o666)
    with pytest.raises(ConfigurationError, match="writable by others"):
        load_settings(environ={}, config=path)


def test_a_secret_in_a_world_readable_file_is_refused(tmp_path: Path) -> None:
    """An admin token in a file anyone can read is refused; chmod 600 is the fix."""
    path = toml(tmp_path, 'admin_token = "an-admin-token-0123456789"\n', mode=0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_settings(environ={}, config=path)
    path.chmod(0o600)
    assert load_settings(environ={}, config=path).admin_token == "an-admin-token-0123456789"


def test_revoker_toml_is_not_picked_up_from_a_directory_anyone_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted ./revoker.toml in /tmp-like directories is not read unless named."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    toml(shared, 'issuers = ["https://planted"]\n')
    monkeypatch.chdir(shared)
    with pytest.raises(ConfigurationError, match="writable by anyone"):
        load_settings(environ={})
    named = load_settings(environ={}, config=shared / "revoker.toml")
    assert named.issuers == ("https://planted",)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o777


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """--config naming a file that is not there says so."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(environ={}, config=tmp_path / "nope.toml")


# --- bad values: one line each ---------------------------------------------------------


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
        ({"auth_header": "bad header"}, "header name"),
        ({"policy_resource": "everything"}, "method"),
        ({"sync_max_age_seconds": 3600}, "between"),
        ({"leeway_seconds": 301}, "leeway"),
    ],
    ids=["port", "workers", "short-admin-token", "spaced-admin-token", "client-id-colon",
         "empty-secret", "duplicate-client", "cookie", "realm", "log-format", "log-level",
         "body-limit", "failure-limit", "auth-header", "policy-resource", "sync-age", "leeway"],
)  # fmt: skip
def test_misconfiguration_is_one_configuration_error(
    overrides: dict[str, Any], message: str
) -> None:
    """Each bad setting raises ConfigurationError with a one-line message naming it."""
    with pytest.raises(ConfigurationError, match=message) as raised:
        Settings(audience=("app",), **overrides)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REVOKER_PORT", "eighty", "whole number"),
        ("REVOKER_PORT", "²", "whole number"),
        ("REVOKER_MAX_STALENESS", "soon", "duration"),
        ("REVOKER_MAX_STALENESS", "-1", "duration"),
        ("REVOKER_SYNC_MAX_AGE", "nan", "duration"),
        ("REVOKER_TOKEN_USE", "both", "one of"),
        ("REVOKER_INTROSPECT_CLIENTS", "no-secret", "CLIENT_ID:SECRET"),
        ("REVOKER_FLUSH_REST_STAGES", "no-slash", "apiId/stage"),
    ],
    ids=["port-word", "port-superscript", "duration-word", "duration-negative", "nan",
         "choice", "client", "stage"],
)  # fmt: skip
def test_a_bad_variable_names_itself(name: str, value: str, message: str) -> None:
    """The error names the variable, in one line, and shows no more than the value's start."""
    with pytest.raises(ConfigurationError, match=message) as raised:
        from_env(**{name: value})
    assert name in str(raised.value) or name.lower().removeprefix("revoker_") in str(raised.value)
    assert "\n" not in str(raised.value)


# --- the hand-over and the description -------------------------------------------------


def test_the_json_hand_over_round_trips_secrets_included() -> None:
    """to_json/from_json (for worker processes) give back equal settings."""
    settings = Settings(
        issuers=("https://a", "https://b"),
        audience=None,
        algorithms=("ES256",),
        admin_token="x" * 20,
        introspect_clients=(("rs", "secret"),),
        flush_rest_stages=(("api1", "prod"),),
        cookie_name="session",
        port=0,
        workers=3,
    )
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("text", ["", "[]", '{"core": {}}', '{"port": "x"}'], ids=str)
def test_a_broken_hand_over_is_a_configuration_error(text: str) -> None:
    """A malformed settings blob fails with ConfigurationError, not a traceback."""
    with pytest.raises(ConfigurationError):
        Settings.from_json(text)


def test_describe_hides_secrets() -> None:
    """The printed configuration names clients but shows no secret and no store password."""
    settings = Settings(
        issuers=("https://a",),
        audience=("app",),
        store_url="redis://:pw@h/0",
        admin_token="super-secret-admin-token",
        introspect_clients=(("rs", "client-secret"),),
        cognito_client_secret="cognito-secret-value",
    )
    text = json.dumps(settings.describe())
    for secret in ("super-secret-admin-token", "client-secret", ":pw@", "cognito-secret-value"):
        assert secret not in text
    assert settings.describe()["introspect_clients"] == ["rs"]
    assert "super-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?password=p&sslmode=require", "postgresql://h/db?password=***&sslmode=require"),
        ("sqlite:///revoker.db", "sqlite:///revoker.db"),
    ],
    ids=["redis", "postgres", "no-password", "query-password", "sqlite"],
)  # fmt: skip
def test_store_urls_are_redacted(url: str, shown: str) -> None:
    """A store URL's password, in its user part or its query, is hidden."""
    assert redacted_url(url) == shown


def test_describe_hides_credentials_in_every_url() -> None:
    """What --check-config and the console show: no password or token of any URL setting."""
    settings = Settings(
        issuers=("https://idp.example.com",),
        audience=("app",),
        jwks_url="https://keys:s3cr3t-pw@idp.example.com/jwks?access_token=abc123",
        store_url="redis://:redis-pw@127.0.0.1:6379/0",
    )
    shown = json.dumps(settings.describe())
    for secret in ("s3cr3t-pw", "abc123", "redis-pw"):
        assert secret not in shown
    assert "https://keys:***@idp.example.com/jwks?access_token=***" in shown
