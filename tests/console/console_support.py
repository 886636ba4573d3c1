"""Helpers for the console tests: signing in, the forms' CSRF tokens, and POSTs that come from
the console's own origin (as a browser's would), over httpx against a real uvicorn."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from service_support import (
    ADMIN_TOKEN,
    T0,
    live_switch_server,
    make_state,
    serve_on,
    service_missing,
)

from process_support import ServeProcess

__all__ = [
    "ADMIN_TOKEN",
    "T0",
    "VIEWER_TOKEN",
    "ServeProcess",
    "Signed",
    "csrf_of",
    "live_switch_server",
    "make_state",
    "origin",
    "post",
    "serve_on",
    "service_missing",
    "sign_in",
]

VIEWER_TOKEN = "viewer-token-for-tests-0123456789"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


class Signed:
    """A client signed in to the console, with its session's CSRF token."""

    def __init__(self, client: httpx.Client, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def post(self, path: str, data: dict[str, Any], **headers: str) -> httpx.Response:
        return post(self.client, path, data, csrf=self.csrf, **headers)


def origin(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def same_origin(client: httpx.Client) -> dict[str, str]:
    """What a browser sends with a form posted from the console's own page."""
    return {"Origin": origin(client), "Sec-Fetch-Site": "same-origin"}


def csrf_of(html: str) -> str:
    """The session's CSRF token, from any page's sign-out form."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: httpx.Client, credential: str, **headers: str) -> httpx.Response:
    """The sign-in form, filled in and posted from the console's origin."""
    page = client.get("/console/login")
    found = _LOGIN.search(page.text)
    assert found is not None
    return client.post(
        "/console/login",
        data={"credential": credential, "login_token": found.group(1)},
        headers={**same_origin(client), **headers},
    )


def post(
    client: httpx.Client, path: str, data: dict[str, Any], *, csrf: str | None, **headers: str
) -> httpx.Response:
    """A form POST from the console's origin, with ``csrf`` (None: without one); a header given
    as "" is left out."""
    body = dict(data)
    if csrf is not None:
        body["csrf"] = csrf
    sent = {name: value for name, value in {**same_origin(client), **headers}.items() if value}
    return client.post(path, data=body, headers=sent)
