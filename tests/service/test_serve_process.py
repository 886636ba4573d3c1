"""`revoker serve` as a process: it serves, stops cleanly on SIGTERM (exit 0), runs several
workers, and a misconfiguration is one line on stderr and a non-zero exit before binding."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from service_support import ADMIN_TOKEN, bearer

from process_support import ServeProcess
from revoker.devissuer import DevIssuerServer

Login = Callable[[], dict[str, str]]


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    """Every process a test starts is killed at teardown if it still runs."""
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.kill()


def issuer_args(dev_issuer: DevIssuerServer, tmp_path: Path) -> list[str]:
    return [
        "--issuer", dev_issuer.issuer,
        "--audience", dev_issuer.issuer_obj.client_id,
        "--store", f"sqlite:///{tmp_path}/rules.db",
        "--admin-token", ADMIN_TOKEN,
    ]  # fmt: skip


def test_serve_answers_and_sigterm_stops_it_with_exit_0(
    dev_issuer: DevIssuerServer, login: Login, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    """A real process: /auth allows a dev-issuer token; SIGTERM shuts down gracefully, exit 0."""
    serve = ServeProcess(*issuer_args(dev_issuer, tmp_path), "--log-format", "json")
    processes.append(serve)
    url = serve.wait_ready()
    token = login()["AccessToken"]
    response = httpx.get(url + "/auth", headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["x-auth-username"] == "alice"
    assert serve.stop(signal.SIGTERM) == 0
    logs = [json.loads(line) for line in serve.stderr if line.startswith("{")]
    assert any(line["message"] == "Application shutdown complete." for line in logs)
    assert not any("Traceback" in line for line in serve.stderr)
    assert token not in "\n".join(serve.stderr)


def test_ctrl_c_also_exits_0(
    dev_issuer: DevIssuerServer, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    """SIGINT (Ctrl-C) is a clean stop too."""
    serve = ServeProcess(*issuer_args(dev_issuer, tmp_path))
    processes.append(serve)
    serve.wait_ready()
    assert serve.stop(signal.SIGINT) == 0


def _all_denied(url: str, token: str, tries: int = 10) -> bool:
    # Fresh connections land on either worker; each must deny.
    reasons = set()
    for _ in range(tries):
        with httpx.Client(base_url=url) as fresh:
            reasons.add(fresh.get("/auth", headers=bearer(token)).json()["reason"])
    return reasons == {"revoked_family"}


def test_several_workers_serve_and_stop_together(
    dev_issuer: DevIssuerServer, login: Login, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    """--workers 2: each worker builds its state from the environment; a revoke through one
    reaches the other through the shared store within its poll; SIGTERM stops all, exit 0."""
    serve = ServeProcess(*issuer_args(dev_issuer, tmp_path), "--workers", "2")
    processes.append(serve)
    url = serve.wait_ready()
    token = login()["IdToken"]
    with httpx.Client(base_url=url) as client:
        assert client.get("/auth", headers=bearer(token)).status_code == 200
        assert client.post("/revoke", data={"token": token}).status_code == 200
    deadline = time.monotonic() + 5  # the other worker polls its store every 0.5 s
    while not _all_denied(url, token):
        assert time.monotonic() < deadline, "a worker never saw the revocation"
        time.sleep(0.1)
    assert serve.stop(signal.SIGTERM) == 0


def _serve_once(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> (
    subprocess.CompletedProcess[str]
):  # fmt: skip
    # A clean environment: no REVOKER_* or AWS_REGION from the machine running the tests.
    env = env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, "-m", "revoker.cli", "serve", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issuer", "https://i.example"], "--audience"),
        (["--audience", "app"], "no trusted issuer"),
        (["--issuer", "ftp://i.example", "--audience", "app"], "http(s) URL"),
        (["--issuer", "https://i.example", "--audience", "app", "--store", "mongo://x"],
         "unsupported store URL scheme"),
        (["--issuer", "https://i.example", "--audience", "app", "--admin-token", "short"],
         "admin token"),
        (["--issuer", "https://i.example", "--audience", "app", "--introspect-client", "x"],
         "CLIENT_ID:SECRET"),
        (["--issuer", "https://i.example", "--audience", "app", "--port", "abc"], "--port"),
        (["--issuer", "https://i.example", "--audience", "app", "--token-use", "both"],
         "--token-use"),
        (["--cognito-user-pool-id", "us-east-1_abc", "--audience", "app"], "region"),
    ],
    ids=["no-audience", "no-issuer", "bad-issuer-url", "bad-store", "short-admin-token",
         "bad-client", "bad-port", "bad-token-use", "pool-without-region"],
)  # fmt: skip
def test_misconfiguration_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    """Each misconfiguration: exit 2, exactly one line on stderr naming it, no traceback."""
    result = _serve_once(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert result.stdout == ""


def test_an_environment_misconfiguration_is_one_line_too(tmp_path: Path) -> None:
    """REVOKER_* values are checked like flags: one line, exit 2."""
    env = {"PATH": "/usr/bin:/bin", "REVOKER_ISSUER": "https://i.example",
           "REVOKER_AUDIENCE": "app", "REVOKER_WORKERS": "many"}  # fmt: skip
    result = _serve_once(env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: REVOKER_WORKERS must be a whole number, not 'many'"
    ]


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The port is taken: one line naming it, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _serve_once("--issuer", "https://i.example", "--audience", "app",
                             "--port", str(port), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_flags_beat_the_environment_which_beats_revoker_toml(tmp_path: Path) -> None:
    """--check-config prints the effective settings: flag > REVOKER_* > revoker.toml."""
    (tmp_path / "revoker.toml").write_text(
        'issuers = ["https://from-file"]\naudience = ["file-app"]\nport = 7001\n'
        'workers = 3\nlog_format = "json"\n',
        encoding="utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "REVOKER_PORT": "7002", "REVOKER_WORKERS": "2"}
    result = _serve_once("--workers", "4", "--check-config", "--store", "memory://",
                         env=env, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["issuers"] == ["https://from-file"]  # file only
    assert settings["log_format"] == "json"  # file only
    assert settings["port"] == 7002  # env beats file
    assert settings["workers"] == 4  # flag beats env


def test_dev_issuer_mode_serves_its_own_issuer_and_prints_how_to_log_in(
    tmp_path: Path, processes: list[ServeProcess]
) -> None:
    """--dev-issuer: an in-process issuer is trusted, an admin token is generated and shown."""
    serve = ServeProcess("--dev-issuer", "--dev-issuer-port", "0", cwd=tmp_path)
    processes.append(serve)
    url = serve.wait_ready()
    banner = "\n".join(serve.stdout)
    assert "dev issuer (development only): http://127.0.0.1:" in banner
    assert "AWSCognitoIdentityProviderService.InitiateAuth" in banner
    admin_line = next(line for line in serve.stdout if "admin token:" in line)
    admin_token = admin_line.split("admin token:")[1].split()[0]
    issuer = banner.split("dev issuer (development only): ")[1].split()[0]
    login = httpx.post(
        issuer.rsplit("/", 1)[0] + "/",
        headers={"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
                 "Content-Type": "application/x-amz-json-1.1"},
        json={"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "revokerdemo0client0id000000",
              "AuthParameters": {"USERNAME": "alice", "PASSWORD": "alice-password"}},
    )  # fmt: skip
    token = login.json()["AuthenticationResult"]["AccessToken"]
    assert httpx.get(url + "/auth", headers=bearer(token)).status_code == 200
    rules = httpx.get(url + "/admin/rules", headers=bearer(admin_token))
    assert rules.status_code == 200
    assert (tmp_path / "revoker.db").exists()  # the embedded default store, in the cwd
    assert serve.stop() == 0
