"""The console in a real browser: Debian's Chromium (headless, driven by playwright) against a
real `revoker serve --dev-issuer` on loopback.

The path end to end (sign in, revoke a user, see the rule, /auth denies that user's token,
lift it, /auth allows the token again, the audit shows both changes); a wrong credential;
a viewer refused every change; a forged cross-site POST from another loopback origin
refused; the CSP on every page, its script running, and no error in the browser's console.

Each view is saved as a screenshot: to a temporary folder, or to the folder named by
``REVOKER_TEST_CONSOLE_SCREENSHOTS`` (``REVOKER_TEST_CONSOLE_SCREENSHOTS=docs/console``
refreshes the docs' pictures; the ``REVOKER_TEST_`` prefix keeps it out of the settings).
Without Chromium or playwright these tests skip, and under ``REVOKER_REQUIRE_SERVICES=1``
they fail.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_support import ADMIN_TOKEN, VIEWER_TOKEN, ServeProcess, service_missing

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SCREENSHOTS_ENV = "REVOKER_TEST_CONSOLE_SCREENSHOTS"
Shot = Callable[[Any, str], None]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if found is None:
        service_missing("Chromium (Debian's chromium package)")
    return str(found)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`revoker serve --dev-issuer` with an admin and a viewer credential; its URLs."""
    folder = tmp_path_factory.mktemp("console-serve")
    serve = ServeProcess(
        "--dev-issuer",
        "--dev-issuer-port", "0",
        "--store", "sqlite:///rules.db",  # in its working folder
        env={"REVOKER_ADMIN_TOKEN": ADMIN_TOKEN, "REVOKER_VIEWER_TOKEN": VIEWER_TOKEN},
        cwd=folder,
    )  # fmt: skip
    try:
        url = serve.wait_ready()
        banner = "\n".join(serve.stdout)
        issuer = banner.split("dev issuer (development only): ")[1].split()[0]
        yield {"url": url, "issuer": issuer, "banner": banner}
        assert serve.stop() == 0
        logs = "\n".join(serve.stderr + serve.stdout)
        assert ADMIN_TOKEN not in logs
        assert VIEWER_TOKEN not in logs
    finally:
        serve.kill()


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile (user data dir) for the module."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional test tool
    except ImportError:
        service_missing("the playwright package (pip install playwright)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 860},
            timeout=30_000,
        )
        browser.set_default_timeout(10_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A new tab without cookies; at the end, nothing may have reached the browser's console
    as an error (a CSP violation, a failed script, a failed load)."""
    context.clear_cookies()
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    yield tab
    tab.close()
    # A refused request shows as "Failed to load resource: … 403": the tests expect those.
    unexpected = [p for p in problems if "the server responded with a status of" not in p]
    assert unexpected == [], unexpected


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Shot:
    named = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(named) if named else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(tab: Any, name: str) -> None:
        tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take


def _sign_in(page: Any, url: str, credential: str) -> Any:
    page.goto(url + "/console")
    assert page.url.endswith("/console/login")
    page.fill("#credential", credential)
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    return navigation.value


def _login_alice(issuer: str) -> dict[str, str]:
    answer = httpx.post(
        issuer.rsplit("/", 1)[0] + "/",
        headers={"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
                 "Content-Type": "application/x-amz-json-1.1"},
        json={"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "revokerdemo0client0id000000",
              "AuthParameters": {"USERNAME": "alice", "PASSWORD": "alice-password"}},
    )  # fmt: skip
    tokens: dict[str, str] = answer.json()["AuthenticationResult"]
    return tokens


def _auth(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/auth", headers={"Authorization": f"Bearer {token}"})


def _rules(url: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = httpx.get(url + "/admin/rules", headers=ADMIN).json()["rules"]
    return rules


def _audit(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(url + "/admin/audit", headers=ADMIN).json()["entries"]
    return entries


def test_the_banner_prints_the_consoles_address(served: dict[str, str]) -> None:
    """`revoker serve` (and so `make serve`) says where the console is."""
    assert f"  console:   {served['url']}/console" in served["banner"]


def test_revoke_a_user_then_lift_it_end_to_end(
    page: Any, served: dict[str, str], shot: Shot
) -> None:
    """Sign in; revoke alice; see the rule; /auth denies her token; lift; /auth allows it;
    the audit shows both changes."""
    url = served["url"]
    tokens = _login_alice(served["issuer"])
    token = tokens["AccessToken"]
    allowed = _auth(url, token)
    assert allowed.status_code == 200
    sub = allowed.headers["x-auth-subject"]
    _auth(url, "not-a-jwt")  # a refusal for the chart
    page.goto(url + "/console")
    shot(page, "login")
    _sign_in(page, url, ADMIN_TOKEN)
    assert page.url == url + "/console"
    assert page.locator(".legend").inner_text().count("allowed") == 1
    shot(page, "overview")

    page.click("nav.nav >> text=Revoke")
    page.fill("#value", sub)
    page.fill("#reason", "password reset")
    shot(page, "revoke")
    page.click("text=Review…")
    assert f"every token of subject {sub}" in page.locator(".lead").inner_text()
    shot(page, "confirm")
    with page.expect_navigation():
        page.click("#confirm")
    assert page.locator(".flash").inner_text() == "Revoked: /auth denies these tokens now."
    assert f"every token of subject {sub}" in page.locator("h1").inner_text()
    shot(page, "rule")

    denied = _auth(url, token)
    assert denied.status_code == 401
    assert 'error_description="revoked_subject: ' in denied.headers["www-authenticate"]

    with page.expect_navigation():
        page.click("nav.nav >> text=Rules")
    row = page.locator("table.rules tbody tr", has_text=sub)
    assert row.count() == 1
    assert "console:admin" in row.inner_text()
    page.fill("input[name=reason]", "password")  # the search form's reason filter
    with page.expect_navigation():
        page.click("text=Search")
    assert page.locator("table.rules tbody tr").count() == 1
    shot(page, "rules")

    page.goto(url + "/console/check")
    page.fill("#token", token)
    page.click("button:has-text('Check')")
    assert page.locator(".decision h2").inner_text() == "Denied"
    assert page.locator("code.reason").inner_text() == "revoked_subject"
    shot(page, "check")

    page.click(".decision a")  # the matched rule
    page.fill("#lift-reason", "reset undone")
    with page.expect_navigation():
        page.click("text=Lift the rule")
    assert "Lifted:" in page.locator(".flash").inner_text()
    assert _auth(url, token).status_code == 200

    with page.expect_navigation():
        page.click("nav.nav >> text=Audit")
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 2
    assert "lift" in rows.nth(0).inner_text()
    assert "reset undone" in rows.nth(0).inner_text()
    assert "revoke" in rows.nth(1).inner_text()
    assert "console:admin" in rows.nth(1).inner_text()
    shot(page, "audit")
    with page.expect_navigation():
        page.click("nav.nav >> text=Overview")
    shot(page, "overview")  # now with the revoked_subject decision in the chart


def test_a_wrong_credential_is_refused(page: Any, served: dict[str, str]) -> None:
    """401, the form again with a message, and no session."""
    response = _sign_in(page, served["url"], "certainly-not-the-credential")
    assert response.status == 401
    assert page.url.endswith("/console/login")
    assert page.locator(".error").inner_text() == "That credential is not accepted here."
    page.goto(served["url"] + "/console/rules")
    assert page.url.endswith("/console/login")


def test_a_viewer_is_refused_every_change(page: Any, served: dict[str, str], shot: Shot) -> None:
    """The forms are disabled; a form re-enabled by hand, and every change POSTed with the
    session's own CSRF token, are refused; nothing changes in the store."""
    url = served["url"]
    rule = httpx.post(url + "/admin/rules", headers=ADMIN,
                      json={"kind": "subject", "value": "kept-user"}).json()["rule"]  # fmt: skip
    before = (_rules(url), _audit(url))
    _sign_in(page, url, VIEWER_TOKEN)
    assert page.locator(".role").inner_text().lower() == "viewer"
    page.goto(url + "/console/revoke")
    assert page.locator("button:has-text('Review')").is_disabled()
    shot(page, "viewer")
    page.evaluate("document.querySelector('fieldset').disabled = false")  # a tampering viewer
    page.fill("#value", "someone")
    with page.expect_navigation() as navigation:
        page.click("text=Review…")
    assert navigation.value.status == 403
    assert "Viewers cannot change anything" in page.content()
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    changes = [
        ("/console/revoke", {"what": "user", "value": "victim", "step": "confirm"}),
        ("/console/revoke", {"what": "token", "token": _login_alice(served["issuer"])["IdToken"],
                             "step": "confirm"}),
        ("/console/revoke", {"what": "issuer", "issuer": served["issuer"],
                             "typed": served["issuer"], "step": "confirm"}),
        (f"/console/rules/{rule['id']}/lift", {"reason": "viewer tries"}),
    ]  # fmt: skip
    for path, form in changes:
        answer = page.request.post(url + path, form={**form, "csrf": csrf},
                                   headers={"Origin": url}, max_redirects=0)  # fmt: skip
        assert answer.status == 403, path
    assert (_rules(url), _audit(url)) == before
    httpx.delete(f"{url}/admin/rules/{rule['id']}", headers=ADMIN, params={"reason": "cleanup"})


class _Attacker(BaseHTTPRequestHandler):
    """A page on another loopback origin that posts a form to the console as soon as it loads."""

    form = ""

    def do_GET(self) -> None:
        body = self.form.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[Callable[[str], str]]:
    """Serves the given HTML on 127.0.0.1 and another port: same site, another origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serving(html: str) -> str:
        _Attacker.form = html
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serving
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("leaked", [False, True], ids=["guessed-token", "leaked-token"])
def test_a_forged_cross_site_post_is_refused(
    page: Any, served: dict[str, str], attacker: Callable[[str], str], leaked: bool
) -> None:
    """A page on another port of the same host (same site: the Strict cookie is sent) submits
    a revoke form to the console: 403, even with the session's real CSRF token."""
    url = served["url"]
    _sign_in(page, url, ADMIN_TOKEN)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") if leaked else "guess"
    victim = f"csrf-victim-{'leaked' if leaked else 'guessed'}"
    forged = attacker(
        f'<form id="f" method="post" action="{url}/console/revoke">'
        f'<input name="what" value="user"><input name="value" value="{victim}">'
        f'<input name="step" value="confirm"><input name="csrf" value="{csrf}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    with page.expect_navigation(url=url + "/console/revoke") as navigation:
        page.goto(forged)
    assert navigation.value.status == 403
    assert "Refused: not from this console" in page.content()
    assert not [rule for rule in _rules(url) if rule["value"] == victim]


def test_every_page_has_the_csp_and_its_script_runs(page: Any, served: dict[str, str]) -> None:
    """Each page's answer carries the strict CSP; the console's own script runs under it (the
    issuer-wide confirmation's button waits for the typed URL); no console error at all."""
    url = served["url"]
    response = _sign_in(page, url, ADMIN_TOKEN)
    answers = [response]
    for path in ("/console/rules", "/console/revoke", "/console/revoke?what=token",
                 "/console/check", "/console/audit", "/console/revoke?what=issuer"):  # fmt: skip
        answers.append(page.goto(url + path))
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    page.click("text=Review…")
    confirm = page.locator("#confirm")
    assert confirm.is_disabled()  # set by console.js: the script ran under the CSP
    page.fill("#typed", served["issuer"])
    assert confirm.is_enabled()
    assert all(rule["kind"] != "issuer" for rule in _rules(url))  # not confirmed
