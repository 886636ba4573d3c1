"""One regression test per security bug the hardening work found, named after it.

Fixed here: numbers in a query string or a Content-Length that ``str.isdigit`` takes but
``int`` refuses ("²", "٣", 4300+ digits) made the admin API answer 500 with a traceback.
Open (fix proposed to the owner; the test flips to a failure once it lands, so the marker
goes with it): the parser's header cache handed one dict to every token with that header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hardening_attacks import Kit
from hardening_support import ADMIN, Serve
from starlette.requests import Request

from revoker.core.errors import RequestRefused
from revoker.service.app import RevokerApp
from revoker.service.bodies import read_body


@pytest.mark.parametrize(
    "query",
    [
        "/admin/rules?limit=%C2%B2",  # superscript two
        "/admin/rules?offset=%D9%A3",  # Arabic-Indic three
        "/admin/audit?since_seq=%C2%B9",
        "/admin/audit?limit=1%E2%82%82",  # subscript two after a real digit
        "/admin/rules?limit=" + "9" * 5000,  # past int()'s 4300-digit limit
        "/admin/audit?since_seq=" + "9" * 5000,
    ],
    ids=[
        "superscript",
        "arabic-indic",
        "since-superscript",
        "subscript",
        "5000-digits",
        "since-5000",
    ],
)
def test_unicode_or_huge_digits_in_an_admin_query_were_a_500(
    make_app: Callable[..., RevokerApp], serve: Serve, query: str
) -> None:
    """isdigit() accepted what int() refused: now a 400 invalid_request, never a 500."""
    with serve(make_app()) as client:
        response = client.get(query, headers=ADMIN)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert client.get("/admin/rules?limit=5", headers=ADMIN).status_code == 200


def _request(content_length: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/admin/check",
        "headers": [(b"content-length", content_length.encode("utf-8"))],
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


@pytest.mark.parametrize(
    ("declared", "status"),
    [("\u00b2", 400), ("\u0663", 400), ("9" * 5000, 413)],
    ids=["superscript", "arabic-indic", "5000-digits"],
)
def test_a_unicode_or_huge_content_length_was_a_500(declared: str, status: int) -> None:
    """A Content-Length of "²" (a server stack that lets it through) is a 400, not a 500."""
    with pytest.raises(RequestRefused) as info:
        asyncio.run(read_body(_request(declared), 64 * 1024))
    assert info.value.http_status == status
    assert asyncio.run(read_body(_request("0"), 64 * 1024)) == b""


def test_mutating_a_verified_header_poisoned_the_parser_cache(kit: Kit) -> None:
    """A caller that edits ``VerifiedToken.header`` must not change the next token's header."""
    verifier = kit.rs.verifier()
    # A header no other test uses: the cache is process-wide, and this edit would poison it.
    header = {"alg": "RS256", "kid": kit.rs.kid, "typ": "regression-probe"}
    first = verifier.verify(kit.rs.sign(kit.rs.base_claims("access"), header=header))
    first.header["kid"] = "edited-by-the-caller"
    try:
        second = verifier.verify(kit.rs.sign(kit.rs.base_claims("access"), header=header))
        assert second.header["kid"] == kit.rs.kid
    finally:
        first.header["kid"] = kit.rs.kid
