"""The README's Python is code that runs: its "In Python" blocks, as a reader copies them."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from devissuer_support import ALICE, login
from revoker import Revoker, Settings, load_settings
from revoker.devissuer import DevIssuerServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(heading: str) -> list[str]:
    section = README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def run(code: str, **names: Any) -> tuple[dict[str, Any], str]:
    namespace: dict[str, Any] = dict(names)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace, printed.getvalue()


def test_the_readme_has_the_two_python_blocks() -> None:
    assert len(python_blocks("In Python")) == 2


def test_the_in_python_example_checks_and_revokes_against_a_real_issuer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the environment the comment names, the block checks a genuine token (allowed:
    nothing printed), revokes its sign-in, and run again prints the reason and its detail."""
    example = python_blocks("In Python")[0]
    with DevIssuerServer(users=[ALICE]) as server:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("REVOKER_ISSUER", server.issuer)
        monkeypatch.setenv("REVOKER_AUDIENCE", server.issuer_obj.client_id)
        monkeypatch.setenv("REVOKER_STORE", f"sqlite:///{tmp_path / 'revoker.db'}")
        token = login(server.issuer_obj)["IdToken"]

        _, printed = run(example, token=token)
        assert printed == ""  # allowed the first time
        _, printed = run(example, token=token)
        assert printed.startswith("revoked_family - ")
        assert "(rule " in printed

        with Revoker.from_settings(load_settings()) as revoker:
            revoker.start(follow=False)
            kinds = sorted(str(rule.kind) for rule in revoker.registry.rules())
            assert kinds == ["family", "subject", "subject"]
            assert revoker.operations.check(token).reason == "revoked_family"


def test_the_settings_example_builds_settings_a_verifier_accepts() -> None:
    namespace, _ = run(python_blocks("In Python")[1])
    settings = namespace["settings"]
    assert isinstance(settings, Settings)
    assert settings.trusted_issuers() == ("https://idp.example.com/realms/app",)
    assert settings.store_url == "redis://127.0.0.1:6379/0"
