"""A bounded schemathesis run against /openapi.json, on the ASGI app: for every operation,
generated requests (valid and invalid) never get a 5xx, and every response conforms to the
document (status code, content type, headers, body schema).

Each operation is its own test, with a fresh app, so a rule or a rate-limit count left by
one cannot change another's answers. The schema is loaded from the app's own
/openapi.json; hypothesis is derandomized, so a run is reproducible.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from service_support import ADMIN, make_state

from revoker.service.app import build_app
from revoker.service.openapi import openapi_document
from revoker.testing import TokenFactory

_PATHS = openapi_document()["paths"]
OPERATIONS = sorted(f"{method.upper()} {path}" for path, item in _PATHS.items() for method in item)
# Negative data needs something to break: a body or a parameter (any path under /auth is
# forward-auth, so /auth/{path} has no invalid input).
WITH_INPUTS = sorted(
    f"{method.upper()} {path}"
    for path, item in _PATHS.items()
    for method, operation in item.items()
    if ("requestBody" in operation or operation.get("parameters")) and path != "/auth/{path}"
)
CASES = [
    *(pytest.param(label, GenerationMode.POSITIVE, id=f"{label}-positive") for label in OPERATIONS),
    *(
        pytest.param(label, GenerationMode.NEGATIVE, id=f"{label}-negative")
        for label in WITH_INPUTS
    ),
]
MAX_EXAMPLES = 30
# Two checks judge strictness, not conformance, and are left out where they cannot hold:
# - "invalid data is rejected": every case gets working credentials added (so a case that
#   dropped Authorization on purpose is valid again), and unknown query parameters and form
#   fields are ignored, as RFC 6749 §3.1 asks of the OAuth endpoints.
# - "valid data is accepted", for rules and logout tokens only: a rule's cross-field meaning
#   (a cutoff only for subject/client/issuer, never in the future; no whole token as a value)
#   is beyond JSON Schema, and so is a logout token's signature (§2.8 answers 400), so a
#   schema-valid rule or logout token may get 400. The same holds of a pushed SET (its
#   signature) and of a Global Token Revocation subject (its format's members).
SEMANTIC_400 = {
    "POST /admin/rules",
    "POST /backchannel-logout",
    "POST /ssf/events",
    "POST /global-token-revocation",
}
GTR_TOKEN = "gtr-token-for-schemathesis-0123"


@schemathesis.serializer("application/secevent+jwt")
def _secevent_jwt(_context: Any, value: Any) -> bytes:
    """A pushed SET's body is the compact JWS itself (RFC 8935 §2.1)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else str(value).encode()


def _credentials(path: str, factory: TokenFactory) -> dict[str, str]:
    if path.startswith("/auth"):
        return {"Authorization": f"Bearer {factory.access_token()}"}
    if path.startswith(("/admin", "/introspect")):
        return dict(ADMIN)
    if path == "/global-token-revocation":
        return {"Authorization": f"Bearer {GTR_TOKEN}"}
    return {}  # /revoke: self-revocation needs none; the rest are open


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_conforms_and_never_answers_5xx(
    label: str, mode: GenerationMode, factory: TokenFactory
) -> None:
    """Generated requests for one operation: no 5xx, and every response as documented."""
    app = build_app(make_state(factory, gtr_token=GTR_TOKEN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    credentials = _credentials(operation.path, factory)
    excluded = [negative_data_rejection]
    if label in SEMANTIC_400:
        excluded.append(positive_data_acceptance)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=credentials, excluded_checks=excluded)

    try:
        run()
    finally:
        asgi.shutdown_lifespans()  # stops the replica thread the app's lifespan started
