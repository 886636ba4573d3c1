"""The examples, each under its framework's real server, against the dev issuer: a sign-in,
the protected endpoint, the admin endpoint by group, logout revoking the family; and the
docs' code, which must be exactly an example that runs here."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from integrations_support import (
    EXAMPLES,
    REPO,
    ServerProcess,
    assert_missing,
    assert_refused,
    bearer,
    free_port,
    python_tool,
    wait_until,
)

from revoker.devissuer import DevIssuerServer, DevUser

USERS = [
    DevUser(username="alice", password="alice-password", email="alice@example.com"),
    DevUser(username="carol", password="carol-password", email="carol@example.com",
            groups=("admin",)),
]  # fmt: skip


def _command(framework: str, port: int) -> tuple[list[str], Path]:
    """How each example's README runs it, on a loopback port, and the directory it runs from."""
    bind = f"127.0.0.1:{port}"
    if framework in ("fastapi", "starlette"):
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        return [*uvicorn, f"{framework}_app:app"], EXAMPLES / framework
    if framework == "flask":
        return [python_tool("gunicorn"), "--workers", "2", "--bind", bind,
                "flask_app:app"], EXAMPLES / "flask"  # fmt: skip
    return [python_tool("waitress-serve"), f"--listen={bind}",
            "example_project.wsgi:application"], EXAMPLES / "django"  # fmt: skip


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuerServer]:
    with DevIssuerServer(users=USERS) as server:
        yield server


def _sign_in(issuer: DevIssuerServer, username: str) -> dict[str, str]:
    result = issuer.issuer_obj.initiate_auth(
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": issuer.issuer_obj.client_id,
            "AuthParameters": {"USERNAME": username, "PASSWORD": f"{username}-password"},
        }
    )
    tokens: dict[str, str] = result["AuthenticationResult"]
    return tokens


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask", "django"])
def test_the_example_under_its_server(
    issuer: DevIssuerServer, tmp_path: Path, framework: str
) -> None:
    """Sign in, call the protected and admin endpoints, log out: the family is refused."""
    port = free_port()
    command, app_dir = _command(framework, port)
    env = {
        "REVOKER_ISSUER": issuer.issuer,
        "REVOKER_AUDIENCE": issuer.issuer_obj.client_id,
        "REVOKER_POLL_INTERVAL": "0.05",
        "PYTHONPATH": str(app_dir),
    }
    url = f"http://127.0.0.1:{port}"
    alice, carol = _sign_in(issuer, "alice"), _sign_in(issuer, "carol")
    with (  # the store is ./revoker.db in the working directory, as the examples say
        ServerProcess(command, env=env, cwd=tmp_path, ready_url=f"{url}/me") as server,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        me = http.get("/me", headers=bearer(alice["AccessToken"]))
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "alice"
        assert http.get("/me", headers=bearer(alice["IdToken"])).status_code == 200
        assert http.get("/admin", headers=bearer(alice["AccessToken"])).status_code == 403
        admin = http.get("/admin", headers=bearer(carol["IdToken"]))
        assert admin.json() == {"hello": "carol"}
        assert_missing(http.get("/me").status_code, http.get("/me").headers)

        assert http.post("/logout", headers=bearer(alice["AccessToken"])).status_code == 204

        def refused(token: str) -> bool:
            # gunicorn's two workers take connections as they come, and each follows the
            # store on its own poll (50 ms): ten refusals over at least 200 ms, not six in a
            # row that may all have reached the worker that wrote the rule.
            for _ in range(10):
                if http.get("/me", headers=bearer(token)).status_code != 401:
                    return False
                time.sleep(0.02)
            return True

        assert wait_until(lambda: refused(alice["IdToken"]), seconds=10)
        response = http.get("/me", headers=bearer(alice["IdToken"]))
        assert_refused(response.status_code, response.headers, response.json(), "revoked_family")
        assert http.get("/me", headers=bearer(carol["AccessToken"])).status_code == 200
        server.stop()
    assert "Traceback" not in server.output, server.output
    assert (tmp_path / "revoker.db").exists()


def test_the_django_example_passes_its_system_check(issuer: DevIssuerServer) -> None:
    """``manage.py check`` on the example: revoker's check finds nothing to report; and
    without an audience it reports revoker.E002."""
    base = {"REVOKER_ISSUER": issuer.issuer, "PYTHONPATH": str(EXAMPLES / "django")}
    env = {**base, "REVOKER_AUDIENCE": issuer.issuer_obj.client_id}
    command = [sys.executable, "manage.py", "check", "--tag", "revoker"]
    cwd = EXAMPLES / "django"

    def check(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, check=False
        )

    ok = check(env)
    assert ok.returncode == 0, ok.stderr
    bad = check(base)
    assert bad.returncode != 0
    assert "revoker.E002" in bad.stderr


def _python_blocks(markdown: str, heading: str) -> list[str]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_docs_in_your_app_code_is_each_frameworks_example() -> None:
    """docs/integrations.md's "In your app" code (for the README) is, per framework, the
    example the tests above run, character for character: the code a reader copies runs."""
    blocks = _python_blocks((REPO / "docs" / "integrations.md").read_text(), "In your app")
    examples = [
        "fastapi/fastapi_app.py",
        "starlette/starlette_app.py",
        "flask/flask_app.py",
        "django/example_project/settings.py",
        "django/example_project/views.py",
    ]
    assert blocks == [(EXAMPLES / path).read_text() for path in examples]


def test_the_readme_in_your_app_section_is_the_docs_section() -> None:
    """The README's "In your app" section is docs/integrations.md's, word for word."""

    def section(text: str) -> str:
        return text.split("## In your app\n", 1)[1].split("\n## ", 1)[0].strip()

    readme = section((REPO / "README.md").read_text())
    assert readme == section((REPO / "docs" / "integrations.md").read_text())


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask", "django"])
def test_each_example_has_a_readme_with_the_command_the_test_runs(framework: str) -> None:
    """Each example's README says how to run it, with the server the test above uses."""
    readme = (EXAMPLES / framework / "README.md").read_text()
    server = {"fastapi": "uvicorn", "starlette": "uvicorn", "flask": "gunicorn",
              "django": "waitress-serve"}[framework]  # fmt: skip
    assert server in readme
    assert "/logout" in readme
    assert "/admin" in readme
