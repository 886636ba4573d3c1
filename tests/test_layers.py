"""The architecture, held to the code: core <- application <- transports, one way only.

The core (``revoker.core``) imports neither the application layer nor a transport, nor a
store's client library outside that store's own module; the application layer
(``revoker.app``) imports no transport but the AWS effects it installs by name; and the
transports (service, aws, cli, integrations) never import each other's modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "revoker"
TRANSPORTS = ("service", "aws", "cli", "integrations")
DRIVERS = {"redis": "redis", "psycopg": "postgres", "psycopg_pool": "postgres",
           "boto3": "dynamodb", "botocore": "dynamodb"}  # fmt: skip


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: str(p.relative_to(SRC)))
def test_the_core_imports_no_application_transport_or_foreign_driver(path: Path) -> None:
    """A core module imports only the core (and a store only its own driver)."""
    for name in imports(path):
        top = name.split(".")
        if top[0] == "revoker":
            assert len(top) > 1, name
            assert top[1] in ("core",), f"{path.name} imports {name}"
        driver = DRIVERS.get(top[0])
        if driver is not None:
            where = f"{path.name} imports the {top[0]} driver"
            assert path.parent.name == "stores", where
            assert path.stem.lstrip("_").startswith(driver), where


@pytest.mark.parametrize("path", modules("app"), ids=lambda p: str(p.relative_to(SRC)))
def test_the_application_layer_imports_no_transport(path: Path) -> None:
    """app imports the core and itself; AWS effects only by the one lazy import in compose."""
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "revoker" and len(parts) > 1 and parts[1] in TRANSPORTS:
            assert (path.name, name) == ("compose.py", "revoker.aws"), f"{path.name}: {name}"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transports_do_not_reach_into_each_other(transport: str) -> None:
    """A transport uses the application layer, never another transport (the CLI starts the
    service's runner, and the Lambda's runtime installs AWS effects: those two are named)."""
    allowed = {("cli", "service"), ("service", "devissuer")}
    for path in modules(transport) if (SRC / transport).is_dir() else []:
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "revoker" and len(parts) > 1 and parts[1] in TRANSPORTS:
                other = parts[1]
                assert other == transport or (transport, other) in allowed, f"{path}: {name}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("revoker", {"cryptography", "jwt", "httpx", "click", "starlette", "numpy"}),
        ("revoker.aws.lambda_authorizer",
         {"cryptography", "jwt", "httpx", "click", "starlette", "uvicorn", "boto3", "numpy"}),
        ("revoker.aws.revoke_handler",
         {"cryptography", "jwt", "httpx", "click", "starlette", "uvicorn", "boto3", "numpy"}),
        ("revoker.core.registry", {"redis", "psycopg", "boto3", "httpx", "starlette", "click"}),
        ("revoker.app.settings", {"httpx", "starlette", "uvicorn", "click", "boto3", "redis"}),
        ("revoker.cli", {"starlette", "uvicorn", "prometheus_client", "boto3", "redis"}),
    ],
    ids=["front-door", "lambda-authorizer", "revoke-function", "registry", "settings", "cli"],
)  # fmt: skip
def test_importing_a_module_loads_only_what_it_says(module: str, forbidden: set[str]) -> None:
    """The docstrings' "importing X loads no Y" claims, measured in a fresh interpreter."""
    code = (
        f"import sys, {module};"
        f"print(sorted(set({sorted(forbidden)!r}) & {{m.split('.')[0] for m in sys.modules}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "[]", f"importing {module} loaded {out}"
