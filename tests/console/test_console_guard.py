"""The console's defences: every change needs the same origin and the session's CSRF token; a
viewer changes nothing, whatever it sends; every response has the strict headers, and no
page has inline script or style for the CSP to block."""

from __future__ import annotations

import re

import httpx
import pytest
from console_support import Signed, origin, post

from revoker.service.console.guard import CONTENT_SECURITY_POLICY
from revoker.service.state import ServiceState
from revoker.testing import TokenFactory

#: Every change the console can make, as (path, form); {rule} is an existing rule's id.
CHANGES = [
    ("/console/revoke", {"what": "user", "value": "victim", "step": "preview"}),
    ("/console/revoke", {"what": "user", "value": "victim", "step": "confirm"}),
    ("/console/revoke", {"what": "session", "value": "sid-1", "step": "confirm"}),
    ("/console/revoke", {"what": "client", "value": "app-1", "step": "confirm"}),
    ("/console/revoke", {"what": "key", "value": "kid-1", "step": "confirm"}),
    ("/console/revoke", {"what": "issuer", "issuer": "{issuer}", "typed": "{issuer}",
                         "step": "confirm"}),
    ("/console/revoke", {"what": "token", "token": "{token}", "step": "confirm"}),
    ("/console/rules/{rule}/lift", {"reason": "because"}),
]  # fmt: skip
CHANGE_IDS = ["preview", "user", "session", "client", "key", "issuer", "token", "lift"]


def _filled(
    path: str, form: dict[str, str], *, rule: str, issuer: str, token: str
) -> tuple[str, dict[str, str]]:
    values = {"{rule}": rule, "{issuer}": issuer, "{token}": token}
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    return path, {k: values.get(v, v) for k, v in form.items()}


def _audit_size(state: ServiceState) -> int:
    return len(state.registry.audit(limit=1000))


@pytest.fixture
def existing_rule(state: ServiceState) -> str:
    return state.registry.revoke("subject", "someone", actor="admin").id


@pytest.mark.parametrize("change", CHANGES, ids=CHANGE_IDS)
def test_a_viewer_is_refused_every_change(
    viewer: Signed,
    state: ServiceState,
    factory: TokenFactory,
    existing_rule: str,
    change: tuple[str, dict[str, str]],
) -> None:
    """Same origin and a valid CSRF token: still 403 for the viewer, and nothing changes."""
    before = _audit_size(state)
    path, form = _filled(
        *change, rule=existing_rule, issuer=factory.issuer, token=factory.access_token()
    )
    response = viewer.post(path, form)
    assert response.status_code == 403
    assert "Viewers cannot change anything" in response.text
    assert _audit_size(state) == before
    assert state.registry.get(existing_rule) is not None


def test_the_same_changes_work_for_the_admin(
    admin: Signed, state: ServiceState, factory: TokenFactory, existing_rule: str
) -> None:
    """The forms the viewer was refused do change things for the admin (the test can fail)."""
    for change in CHANGES:
        path, form = _filled(
            *change, rule=existing_rule, issuer=factory.issuer, token=factory.access_token()
        )
        response = admin.post(path, form)
        assert response.status_code in (200, 303), (path, form, response.text[:300])
    actions = [(entry.action, entry.actor) for entry in state.registry.audit(limit=1000)]
    assert actions.count(("revoke", "console:admin")) == 6
    assert ("lift", "console:admin") in actions


def test_a_viewer_can_look_at_every_page(viewer: Signed, existing_rule: str) -> None:
    """Read-only pages are open to the viewer; the revoke form is shown disabled."""
    for path in ("/console", "/console/rules", f"/console/rules/{existing_rule}",
                 "/console/revoke", "/console/check", "/console/audit", "/console/audit.csv",
                 "/console/audit.json"):  # fmt: skip
        assert viewer.client.get(path).status_code == 200, path
    assert "<fieldset disabled>" in viewer.client.get("/console/revoke").text
    assert "Lift the rule" not in viewer.client.get(f"/console/rules/{existing_rule}").text


def test_a_viewer_may_check_a_token(viewer: Signed, factory: TokenFactory) -> None:
    """Checking changes nothing, so a viewer may do it."""
    response = viewer.post("/console/check", {"token": factory.access_token()})
    assert response.status_code == 200
    assert "Allowed" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": ""},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "none"},
    ],
    ids=[
        "other-port",
        "other-site",
        "null-origin-unvouched",
        "same-site",
        "cross-site",
        "no-initiator",
    ],
)
def test_a_change_from_another_origin_is_refused(
    admin: Signed, state: ServiceState, headers: dict[str, str]
) -> None:
    """Even with the session's cookie and CSRF token, a POST from elsewhere is 403."""
    before = _audit_size(state)
    form = {"what": "user", "value": "victim", "step": "confirm"}
    response = admin.post("/console/revoke", form, **headers)
    assert response.status_code == 403
    assert "Refused: not from this console" in response.text
    assert _audit_size(state) == before


@pytest.mark.parametrize(
    "csrf", [None, "", "a-guess-0000000000000000"], ids=["none", "empty", "guess"]
)
def test_a_change_without_the_sessions_csrf_token_is_refused(
    admin: Signed, state: ServiceState, csrf: str | None
) -> None:
    """Same origin and a live session are not enough: the form must carry its token."""
    before = _audit_size(state)
    form = {"what": "user", "value": "victim", "step": "confirm"}
    response = post(admin.client, "/console/revoke", form, csrf=csrf)
    assert response.status_code == 403
    assert "not this session" in response.text
    assert _audit_size(state) == before


def test_another_sessions_csrf_token_is_refused(
    admin: Signed, viewer: Signed, state: ServiceState
) -> None:
    """A CSRF token is bound to its session: the viewer's does not work in the admin's."""
    before = _audit_size(state)
    form = {"what": "user", "value": "victim", "step": "confirm"}
    response = post(admin.client, "/console/revoke", form, csrf=viewer.csrf)
    assert response.status_code == 403
    assert _audit_size(state) == before


def test_a_change_without_a_session_signs_in_first(
    client: httpx.Client, state: ServiceState
) -> None:
    """No session: the POST changes nothing and sends the browser to the sign-in form."""
    response = post(client, "/console/revoke", {"what": "user", "value": "v", "step": "confirm"},
                    csrf="x")  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert _audit_size(state) == 0


def test_every_response_has_the_strict_headers(admin: Signed, client: httpx.Client) -> None:
    """CSP without inline script, no framing, nosniff, no referrer: pages, errors, files."""
    responses = [
        client.get("/console/login"),
        client.get("/console"),  # the redirect to sign in
        admin.client.get("/console"),
        admin.client.get("/console/rules/no-such-rule"),  # a 404 page
        admin.client.get("/console/audit.csv"),
        admin.client.get("/console/static/console.js"),
        admin.post("/console/revoke", {"what": "user"}, Origin="https://evil.example"),
    ]
    for response in responses:
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, response.url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
    policy = CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


_INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),  # onclick= and friends
    re.compile(r"javascript:", re.I),
]


def test_no_page_has_inline_script_or_style(
    admin: Signed, client: httpx.Client, existing_rule: str, factory: TokenFactory
) -> None:
    """What the CSP would block is not there to block: every page uses the files only."""
    pages = [
        client.get("/console/login").text,
        *(admin.client.get(path).text for path in (
            "/console", "/console/overview/live", "/console/rules",
            f"/console/rules/{existing_rule}", "/console/revoke", "/console/revoke?what=token",
            "/console/revoke?what=issuer", "/console/check", "/console/audit")),
        admin.post("/console/revoke", {"what": "issuer", "issuer": factory.issuer,
                                       "step": "preview"}).text,
        admin.post("/console/check", {"token": factory.access_token()}).text,
    ]  # fmt: skip
    for html in pages:
        for pattern in _INLINE:
            assert not pattern.search(html), pattern.pattern


def test_static_files_are_served_from_the_package(client: httpx.Client) -> None:
    """The stylesheet and the script come with the package, with their media types."""
    css = client.get("/console/static/console.css")
    script = client.get("/console/static/console.js")
    assert css.headers["content-type"].startswith("text/css")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "refreshLive" in script.text
    assert client.get("/console/static/../app.py").status_code == 404
    assert client.get("/console/static/missing.js").status_code == 404


MIB = 1024 * 1024
#: Every console route that reads a form (tests/hardening's route guard lists the same).
FORMS = ["/console/login", "/console/logout", "/console/revoke", "/console/check",
         "/console/rules/{rule}/lift"]  # fmt: skip


@pytest.mark.parametrize("path", FORMS, ids=["login", "logout", "revoke", "check", "lift"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_every_console_form_has_a_size_limit(
    admin: Signed, state: ServiceState, existing_rule: str, path: str, streamed: bool
) -> None:
    """A 1 MiB form from a signed-in admin is 413, declared or streamed; nothing changes."""
    body = (b"a" * 65536 for _ in range(16)) if streamed else b"a" * MIB
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin(admin.client),
               "Sec-Fetch-Site": "same-origin"}  # fmt: skip
    response = admin.client.post(path.replace("{rule}", existing_rule), content=body,
                                 headers=headers)  # fmt: skip
    assert response.status_code == 413
    assert [rule.id for rule in state.registry.rules()] == [existing_rule]
