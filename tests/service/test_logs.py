"""Structured logs: one JSON object per line, or key=value text; tokens only as fingerprints."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from service_support import Serve, make_state

from revoker.core.tokens import token_fingerprint
from revoker.service.app import build_app
from revoker.service.logs import JsonFormatter, TextFormatter, configure_logging, fields
from revoker.testing import TokenFactory


def _record(message: str, **values: object) -> logging.LogRecord:
    return logging.getLogger("revoker.test").makeRecord(
        "revoker.test", logging.INFO, __file__, 1, message, (), None, extra=fields(**values)
    )


def test_json_lines_carry_the_fields() -> None:
    """The JSON formatter writes ts, level, logger, message and each field, on one line."""
    line = JsonFormatter().format(_record("token revoked", rule="r1", actor="admin"))
    document = json.loads(line)
    assert "\n" not in line
    assert document["message"] == "token revoked"
    assert (document["level"], document["logger"]) == ("info", "revoker.test")
    assert (document["rule"], document["actor"]) == ("r1", "admin")
    assert document["ts"].endswith("Z")


def test_text_lines_quote_values_with_spaces() -> None:
    """The text formatter writes key=value, quoting values with spaces or quotes."""
    line = TextFormatter().format(_record("rule created", kind="subject", reason="a b"))
    assert line.split(" ", 1)[1].startswith("info revoker.test rule created")
    assert line.endswith('kind=subject reason="a b"')


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """configure_logging into a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_a_revocation_logs_the_fingerprint_never_the_token(
    factory: TokenFactory, serve: Serve, captured: io.StringIO
) -> None:
    """Revoking and denying a token log its SHA-256 prefix; the token itself appears nowhere."""
    token = factory.access_token()
    with serve(build_app(make_state(factory))) as client:
        assert client.post("/revoke", data={"token": token}).status_code == 200
        assert client.get("/auth", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        wrong = httpx.BasicAuth("resource-server", "a-wrong-client-secret")
        assert client.post("/introspect", data={"token": token}, auth=wrong).status_code == 401
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    revoked = next(line for line in lines if line["message"] == "token revoked")
    assert revoked["token"] == token_fingerprint(token)
    assert revoked["actor"] == "self:user-1"
    assert any(line["message"] == "denied" for line in lines)
    assert any(line["message"] == "wrong credentials" for line in lines)
    assert token not in text
    assert token.split(".")[2] not in text
    assert "a-wrong-client-secret" not in text
