"""A hostile run against a real `revoker serve` at debug level, then every line it wrote is
searched for every secret it was given or sent: the admin token, a client secret, a store
URL's password, tokens, a credential sent without a scheme, an OAuth code in the original
URI, a wrong Basic secret. None may appear; only fingerprints and redactions."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from hardening_support import ServeProcess, service_missing

from revoker.devissuer import DevIssuerServer

ADMIN_TOKEN = "admin-secret-that-must-not-be-logged-0123456789"
CLIENT_SECRET = "client-secret-that-must-not-be-logged"
STORE_PASSWORD = "store-password-that-must-not-be-logged"
OAUTH_CODE = "oauth-code-that-must-not-be-logged"
WRONG_SECRET = "wrong-basic-secret-that-must-not-be-logged"
POSTGRES = "postgresql://postgres:{password}@127.0.0.1:5432/test?schema={schema}"


@pytest.fixture
def schema() -> str:
    name = "revoker_test_logs_" + uuid.uuid4().hex[:12]
    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2).close()
    except psycopg.Error:
        service_missing("PostgreSQL at 127.0.0.1:5432")
    yield name
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_no_secret_reaches_the_logs_of_a_hostile_run(
    dev_issuer: DevIssuerServer, schema: str, tmp_path: Path
) -> None:
    """Everything a caller or an operator hands revoker stays out of what it prints."""
    store = POSTGRES.format(password=STORE_PASSWORD, schema=schema)
    args = ["--issuer", dev_issuer.issuer, "--audience", dev_issuer.issuer_obj.client_id,
            "--store", store, "--log-level", "debug", "--log-format", "json",
            "--cookie-name", "session"]  # fmt: skip
    env = {"REVOKER_ADMIN_TOKEN": ADMIN_TOKEN,
           "REVOKER_INTROSPECT_CLIENTS": f"gateway:{CLIENT_SECRET}"}  # fmt: skip
    tokens = dev_issuer.issuer_obj.initiate_auth(
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": dev_issuer.issuer_obj.client_id,
            "AuthParameters": {"USERNAME": "alice", "PASSWORD": "alice-password"},
        }
    )["AuthenticationResult"]
    access, id_token = tokens["AccessToken"], tokens["IdToken"]
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    serve = ServeProcess(*args, env=env, cwd=tmp_path)
    try:
        url = serve.wait_ready()
        with httpx.Client(base_url=url, timeout=10) as client:
            original = {"X-Original-URI": f"/callback?code={OAUTH_CODE}&state=s",
                        "X-Original-Method": "GET"}  # fmt: skip
            client.get("/auth", headers={"Authorization": f"Bearer {tampered}", **original})
            client.get("/auth", headers={"Authorization": f"Bearer {access}", **original})
            client.get("/auth", headers={"Cookie": f"session={id_token}"})
            client.get("/admin/rules", headers={"Authorization": ADMIN_TOKEN})  # no scheme
            client.get("/admin/rules", headers={"Authorization": f"Token {ADMIN_TOKEN}"})
            client.post("/introspect", data={"token": access},
                        headers={"Authorization": basic("gateway", WRONG_SECRET)})  # fmt: skip
            client.post("/introspect", data={"token": access},
                        headers={"Authorization": basic("gateway", CLIENT_SECRET)})  # fmt: skip
            client.post("/revoke", data={"token": tampered})
            client.post("/revoke", data={"token": access})
            client.post("/backchannel-logout", data={"logout_token": id_token})
            client.post("/admin/check", json={"token": access},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # fmt: skip
        serve.stop()
    finally:
        serve.kill()
    check_config = subprocess.run(
        [sys.executable, "-m", "revoker.cli", "serve", *args, "--check-config"],
        check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    assert check_config.returncode == 0, check_config.stderr
    printed = "\n".join([*serve.stdout, *serve.stderr, check_config.stdout, check_config.stderr])
    assert '"message": "denied"' in printed or '"message":"denied"' in printed  # debug ran
    secrets = {
        "admin token": ADMIN_TOKEN,
        "client secret": CLIENT_SECRET,
        "store password": STORE_PASSWORD,
        "oauth code": OAUTH_CODE,
        "wrong basic secret": WRONG_SECRET,
        "access token": access,
        "access token signature": access.rsplit(".", 1)[1],
        "id token": id_token,
        "tampered token": tampered,
    }
    leaked = [name for name, secret in secrets.items() if secret in printed]
    assert leaked == [], f"leaked into the logs: {leaked}"
