"""The `revoker` command as a user types it: exit codes, one-line errors, every subcommand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner, Result

from revoker.cli import main
from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RuleKind, open_store
from revoker.core.tokens import parse_unverified
from revoker.devissuer import DevIssuerServer

Login = Callable[[], dict[str, str]]


@pytest.fixture(autouse=True)
def _working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test in a fresh directory: the default store (sqlite:///revoker.db) lands there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/rules.db"


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def issuer_args(server: DevIssuerServer) -> list[str]:
    return ["--issuer", server.issuer, "--audience", server.issuer_obj.client_id]


def assert_one_line_error(result: Result, exit_code: int = 2) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- check ------------------------------------------------------------------------


def test_check_allows_a_fresh_token_and_prints_its_claims(
    login: Login, dev_issuer: DevIssuerServer
) -> None:
    """`check` exits 0, says allowed, and lists the verified claims (issuer found by discovery)."""
    token = login()["IdToken"]
    result = run("check", token, *issuer_args(dev_issuer))
    assert result.exit_code == 0, result.output
    assert "decision: allowed" in result.stdout
    assert 'token_use: "id"' in result.stdout


def test_check_with_an_explicit_jwks_url_and_json_output(
    login: Login, dev_issuer: DevIssuerServer
) -> None:
    """`--jwks-url` skips discovery; `--json` prints the decision as one object."""
    token = login()["AccessToken"]
    result = run("check", token, *issuer_args(dev_issuer), "--jwks-url", dev_issuer.jwks_url,
                 "--token-use", "access", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["allowed"] is True
    assert payload["reason"] == "allowed"
    assert payload["claims"]["token_use"] == "access"


def test_check_denies_a_tampered_token_with_exit_code_1(
    login: Login, dev_issuer: DevIssuerServer
) -> None:
    """A token whose signature does not verify: exit 1 and reason bad_signature."""
    header, payload, signature = login()["IdToken"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    result = run("check", f"{header}.{payload}.{flipped}", *issuer_args(dev_issuer))
    assert result.exit_code == 1
    assert "reason:   bad_signature" in result.stdout


def test_check_refuses_the_wrong_token_use(login: Login, dev_issuer: DevIssuerServer) -> None:
    """An ID token where only access tokens are accepted is denied with wrong_token_use."""
    token = login()["IdToken"]
    result = run("check", token, *issuer_args(dev_issuer), "--token-use", "access")
    assert result.exit_code == 1
    assert "wrong_token_use" in result.stdout


def test_check_reads_a_bearer_header_from_stdin(login: Login, dev_issuer: DevIssuerServer) -> None:
    """`check -` reads the token from stdin, with or without a `Bearer ` prefix."""
    token = login()["IdToken"]
    result = run("check", "-", *issuer_args(dev_issuer), stdin=f"Bearer {token}\n")
    assert result.exit_code == 0, result.output


def test_check_needs_an_audience_and_says_so_in_one_line(
    login: Login, dev_issuer: DevIssuerServer
) -> None:
    """Without --audience the check refuses to run: the audience check has no silent default."""
    token = login()["IdToken"]
    result = run("check", token, "--issuer", dev_issuer.issuer)
    assert_one_line_error(result)
    assert "--audience" in result.stderr


def test_check_without_an_issuer_is_a_usage_error() -> None:
    """No issuer, no pool id: exit 2 with one line, not a traceback."""
    result = run("check", "abc", "--audience", "x", env={"REVOKER_ISSUER": ""})
    assert_one_line_error(result)


def test_check_with_a_bad_pool_id_is_a_usage_error() -> None:
    """A malformed Cognito pool id is refused before any network call."""
    result = run("check", "abc", "--cognito-user-pool-id", "nonsense", "--region", "us-east-1",
                 "--audience", "x")  # fmt: skip
    assert_one_line_error(result)


def test_check_reports_a_revocation_from_the_store(
    login: Login, dev_issuer: DevIssuerServer, store: str
) -> None:
    """With --store, a revoked family is denied with revoked_family and the rule is named."""
    tokens = login()
    origin = _claims(tokens["IdToken"])["origin_jti"]
    assert run("revoke", "family", origin, "--store", store).exit_code == 0
    result = run("check", tokens["IdToken"], *issuer_args(dev_issuer), "--store", store)
    assert result.exit_code == 1
    assert "reason:   revoked_family" in result.stdout
    assert "rule:" in result.stdout


def test_revoke_then_check_share_the_default_store(
    login: Login, dev_issuer: DevIssuerServer, tmp_path: Path
) -> None:
    """Without --store both use sqlite:///revoker.db, so `check` sees what `revoke` did."""
    tokens = login()
    origin = str(_claims(tokens["IdToken"])["origin_jti"])
    assert run("revoke", "family", origin).exit_code == 0
    denied = run("check", tokens["IdToken"], *issuer_args(dev_issuer))
    stateless = run("check", tokens["IdToken"], *issuer_args(dev_issuer), "--no-revocation")
    assert (tmp_path / "revoker.db").exists()
    assert denied.exit_code == 1
    assert "revoked_family" in denied.stdout
    assert stateless.exit_code == 0, stateless.output


def test_settings_come_from_the_environment(login: Login, dev_issuer: DevIssuerServer) -> None:
    """REVOKER_ISSUER and REVOKER_AUDIENCE stand in for the flags."""
    token = login()["IdToken"]
    env = {"REVOKER_ISSUER": dev_issuer.issuer, "REVOKER_AUDIENCE": dev_issuer.issuer_obj.client_id}
    assert run("check", token, env=env).exit_code == 0


def test_flags_win_over_the_environment_which_wins_over_the_file(
    login: Login, dev_issuer: DevIssuerServer, tmp_path: Path
) -> None:
    """revoker.toml < REVOKER_* < command-line flags."""
    token = login()["IdToken"]
    config = tmp_path / "revoker.toml"
    config.write_text(
        f'issuers = ["{dev_issuer.issuer}"]\naudience = ["from-file"]\n', encoding="utf-8"
    )
    client_id = dev_issuer.issuer_obj.client_id
    from_file = run("--config", str(config), "check", token)
    assert "wrong_audience" in from_file.stdout
    from_env = run("--config", str(config), "check", token, env={"REVOKER_AUDIENCE": client_id})
    assert from_env.exit_code == 0, from_env.output
    from_flag = run("--config", str(config), "check", token, "--audience", "from-flag",
                    env={"REVOKER_AUDIENCE": client_id})  # fmt: skip
    assert "wrong_audience" in from_flag.stdout


def test_a_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    """--config naming a file that does not exist: exit 2."""
    result = run("--config", str(tmp_path / "nope.toml"), "rules")
    assert result.exit_code == 2


# --- revoke, lift, rules, audit, prune --------------------------------------------------


def test_revoke_prints_the_rule_and_json_round_trips(store: str) -> None:
    """`revoke subject` prints the created rule; with --json it is the rule's dict."""
    result = run("revoke", "subject", "user-1", "--cutoff", "2026-01-01T00:00:00Z",
                 "--reason", "password reset", "--store", store, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rule = json.loads(result.stdout)
    assert rule["kind"] == "subject"
    assert rule["value"] == "user-1"
    assert rule["cutoff"] == 1767225600.0
    assert rule["reason"] == "password reset"


@pytest.mark.parametrize(
    "kind", ["token", "family", "session", "subject", "client", "key", "issuer"]
)
def test_every_kind_can_be_revoked(kind: str, store: str) -> None:
    """Each rule kind is accepted by `revoke` and listed by `rules`."""
    result = run("revoke", kind, f"value-of-{kind}", "--store", store)
    assert result.exit_code == 0, result.output
    listed = run("rules", "--kind", kind, "--store", store, "--json")
    assert [json.loads(line)["value"] for line in listed.stdout.splitlines()] == [
        f"value-of-{kind}"
    ]


def test_an_expiry_in_the_past_is_refused(store: str) -> None:
    """A rule that would already be expired is refused rather than silently pruned."""
    result = run("revoke", "token", "old", "--expires-at", "1000", "--store", store)
    assert_one_line_error(result)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["revoke", "planet", "x"], "planet"),
        (["revoke", "token", "jti-1", "--cutoff", "now"], "cutoff"),
        (["revoke", "subject", "u", "--cutoff", "yesterday-ish"], "ISO 8601"),
        (["revoke", "subject", ""], ""),
    ],
    ids=["unknown-kind", "cutoff-on-token", "bad-time", "empty-value"],
)
def test_bad_revoke_input_gets_one_clear_line(args: list[str], needle: str, store: str) -> None:
    """Bad input: exit 2, one line on stderr, no traceback."""
    result = run(*args, "--store", store)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert needle in result.stderr


def test_an_unknown_store_scheme_is_one_line(tmp_path: Path) -> None:
    """A store URL revoker cannot open names the schemes it can."""
    result = run("rules", "--store", "mongodb://localhost/x")
    assert_one_line_error(result)
    assert "sqlite" in result.stderr


def test_lift_removes_the_rule_and_audit_shows_both(store: str) -> None:
    """`lift` ends a rule; `audit` lists the revoke and the lift with their actors and reasons."""
    created = json.loads(
        run("revoke", "session", "sid-1", "--store", store, "--actor", "ops", "--json").stdout
    )
    lifted = run("lift", created["id"], "--reason", "mistake", "--actor", "ops2", "--store", store)
    assert lifted.exit_code == 0, lifted.output
    assert run("rules", "--store", store, "--json").stdout == ""
    entries = [
        json.loads(line) for line in run("audit", "--store", store, "--json").stdout.splitlines()
    ]
    assert [(e["action"], e["actor"]) for e in entries] == [("revoke", "ops"), ("lift", "ops2")]
    assert entries[1]["reason"] == "mistake"


def test_lifting_an_unknown_rule_fails_in_one_line(store: str) -> None:
    """An id that names no rule: non-zero exit and one line."""
    result = run("lift", "no-such-rule", "--store", store)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_rules_filters_by_value_and_issuer(store: str) -> None:
    """Filters combine: kind, value, issuer."""
    run("revoke", "token", "jti-a", "--issuer", "https://a.example", "--store", store)
    run("revoke", "token", "jti-a", "--issuer", "https://b.example", "--store", store)
    run("revoke", "token", "jti-b", "--issuer", "https://a.example", "--store", store)
    result = run("rules", "--value", "jti-a", "--issuer", "https://b.example", "--store", store,
                 "--json")  # fmt: skip
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["value"], r["issuer"]) for r in found] == [("jti-a", "https://b.example")]


def test_prune_reports_a_count(store: str) -> None:
    """`prune` drops expired rules and says how many."""
    with Registry(open_store(store), clock=FrozenClock(1_000_000)) as long_ago:
        long_ago.revoke(RuleKind.TOKEN, "old")  # expired a day after 1970-01-12
    assert run("revoke", "token", "fresh", "--store", store).exit_code == 0
    result = run("prune", "--store", store)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "pruned 1 rule(s)"


# --- issuer and demo ------------------------------------------------------------------


def test_issuer_command_serves_jwks_and_stops_on_sigterm() -> None:
    """`revoker issuer --port 0` prints its URLs, serves the JWKS, and exits 0 on SIGTERM."""
    with subprocess.Popen(
        [sys.executable, "-m", "revoker.cli", "issuer", "--port", "0", "--user", "bob:pw"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3)]
            jwks_url = next(line.split()[-1] for line in lines if "jwks:" in line)
            keys = httpx.get(jwks_url, timeout=5).json()["keys"]
            assert keys
            assert keys[0]["kty"] == "RSA"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


def test_demo_runs_the_whole_scenario_and_exits_0() -> None:
    """`revoker demo` prints the seed's scenario and every step holds."""
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "revoked_family" in result.stdout
    assert "revoked_subject" in result.stdout
    assert " NO" not in result.stdout


def _claims(token: str) -> dict[str, object]:
    return parse_unverified(token).claims


def test_migrate_on_sqlite_says_there_is_nothing_to_do(store: str) -> None:
    """`migrate` on a store that sets itself up says so and exits 0."""
    result = run("migrate", "--store", store)
    assert result.exit_code == 0, result.output
    assert "no schema to migrate" in result.stdout


def test_migrate_on_an_unreachable_postgres_is_one_line() -> None:
    """A PostgreSQL that cannot be reached: exit 1 and one line, no driver log spew."""
    result = run("migrate", "--store", "postgresql://nobody@127.0.0.1:1/none?pool_timeout=1")
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "PostgreSQL" in result.stderr


def test_migrate_creates_the_postgres_schema_once() -> None:
    """`migrate` applies the schema, then says it is up to date (PostgreSQL here)."""
    base = os.environ.get("REVOKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        psycopg.connect(base, connect_timeout=2).close()
    except psycopg.Error:
        if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail("PostgreSQL is required (REVOKER_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip("PostgreSQL is not running here")
    schema = f"revoker_cli_{uuid.uuid4().hex[:12]}"
    try:
        first = run("migrate", "--store", f"{base}?schema={schema}")
        again = run("migrate", "--store", f"{base}?schema={schema}")
        assert first.exit_code == 0, first.output
        assert "applied" in first.stdout
        assert "already up to date" in again.stdout
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_rules_and_audit_escape_what_they_print(store: str) -> None:
    """A newline or an escape sequence in a value, actor or reason cannot forge an audit line
    or reach the terminal: `rules` and `audit` print them escaped (JSON output is JSON)."""
    forged = "x\n    99  2026-01-01T00:00:00Z  lift    subject  alice  by root"
    result = run("revoke", "subject", "bob", "--reason", forged, "--actor", "ops\x1b[2J",
                 "--store", store)  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = run("rules", "--store", store).stdout
    logged = run("audit", "--store", store).stdout
    for text in (listed, logged):
        assert "\x1b" not in text
        assert len(text.strip().splitlines()) == 1, text
        assert "\\n" in text
        assert "\\x1b" in text
    entries = [
        json.loads(line) for line in run("audit", "--store", store, "--json").stdout.splitlines()
    ]
    assert entries[0]["reason"] == forged


def test_save_index_on_a_small_store_says_there_is_nothing_to_save(store: str) -> None:
    """Below the compact index's bound the replica keeps dictionaries, which are not saved."""
    assert run("revoke", "subject", "user-1", "--store", store).exit_code == 0
    result = run("save-index", "--store", store)
    assert result.exit_code == 0, result.output
    assert "nothing to save: 1 active rule(s)" in result.stdout


def test_save_index_saves_what_the_next_replica_loads(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`save-index` builds the compact index and saves it in the store, at the store's seq
    (what a replica's first sync loads: tests/registry/test_saved_index_replica.py)."""
    from revoker.core.registry.replica import Replica  # noqa: PLC0415

    monkeypatch.setitem(Replica.__init__.__kwdefaults__, "compact_above", 2)
    for n in range(3):
        assert run("revoke", "subject", f"user-{n}", "--store", store).exit_code == 0
    result = run("save-index", "--store", store)
    assert result.exit_code == 0, result.output
    assert "saved the index of 3 rule(s) at seq 3" in result.stdout
    opened = open_store(store)
    try:
        info = opened.saved_index_info()  # type: ignore[attr-defined]
    finally:
        opened.close()
    assert info is not None
    assert info[0] == 3
