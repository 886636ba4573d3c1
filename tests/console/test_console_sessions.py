"""Console sessions: server-side, expiring, ended by signing out, fresh at every sign-in; the
cookie's attributes; sign-in failures spend the service's credential budget."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from console_support import ADMIN_TOKEN, VIEWER_TOKEN, Signed, post, sign_in
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from revoker.service.app import RevokerApp
from revoker.service.console.sessions import Role, SessionStore
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock


def _cookie(response_headers: list[str], name: str) -> SimpleCookie:
    for header in response_headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no {name} cookie was set")


def test_a_session_ends_when_its_lifetime_is_over() -> None:
    """A session is good until its expiry, and gone from then on."""
    clock = FrozenClock(1000)
    store = SessionStore(clock=clock, lifetime_seconds=60)
    session_id, session = store.create(Role.ADMIN)
    clock.advance(59)
    assert store.get(session_id) is session
    clock.advance(1)
    assert store.get(session_id) is None
    assert len(store) == 0


def test_ending_a_session_makes_its_cookie_worthless() -> None:
    """end() forgets the session: the same id finds nothing afterwards."""
    store = SessionStore(clock=FrozenClock(0), lifetime_seconds=60)
    session_id, _ = store.create(Role.VIEWER)
    assert store.end(session_id) is True
    assert store.get(session_id) is None
    assert store.end(session_id) is False


def test_the_store_keeps_only_the_ids_hash_and_stays_bounded() -> None:
    """No session id is kept as it is, and the oldest session goes first past the bound."""
    store = SessionStore(clock=FrozenClock(0), lifetime_seconds=60, max_sessions=3)
    ids = [store.create(Role.ADMIN)[0] for _ in range(4)]
    assert len(store) == 3
    assert store.get(ids[0]) is None
    assert all(store.get(session_id) is not None for session_id in ids[1:])
    assert not any(session_id in store._sessions for session_id in ids)


def test_a_sessions_csrf_token_matches_only_itself() -> None:
    """The CSRF check refuses a missing, empty or other session's token."""
    store = SessionStore(clock=FrozenClock(0), lifetime_seconds=60)
    _, one = store.create(Role.ADMIN)
    _, other = store.create(Role.ADMIN)
    assert one.csrf_matches(one.csrf_token)
    assert not one.csrf_matches(other.csrf_token)
    assert not one.csrf_matches("")
    assert not one.csrf_matches(None)


def test_the_console_asks_for_a_sign_in_first(client: httpx.Client) -> None:
    """Every page without a session sends the browser to the sign-in form."""
    for path in ("/console", "/console/rules", "/console/revoke", "/console/audit",
                 "/console/audit.csv", "/console/check"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/console/login"


def test_signing_in_sets_an_httponly_strict_cookie_scoped_to_the_console(
    client: httpx.Client,
) -> None:
    """Over plain HTTP: HttpOnly, SameSite=Strict, Path=/console, a max age; not Secure."""
    response = sign_in(client, ADMIN_TOKEN)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = _cookie(response.headers.get_list("set-cookie"), "revoker_console")["revoker_console"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/console"
    assert cookie["max-age"] == "3600"
    assert not cookie["secure"]
    assert ADMIN_TOKEN not in str(response.headers)


def test_behind_a_tls_proxy_the_cookie_is_secure_and_prefixed(
    app: RevokerApp, live_switch: Any
) -> None:
    """Through uvicorn's proxy headers (--forwarded-allow-ips), X-Forwarded-Proto: https makes
    the request's scheme https: the cookies are Secure and named __Secure-…."""
    switch, url = live_switch
    switch.app = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
    app.state.start()
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            forwarded = {"X-Forwarded-Proto": "https"}
            page = http.get("/console/login", headers=forwarded)
            login = _cookie(page.headers.get_list("set-cookie"), "__Secure-revoker_console_login")
            assert login["__Secure-revoker_console_login"]["secure"] is True
            token = page.text.split('name="login_token" value="')[1].split('"')[0]
            # httpx keeps Secure cookies for https: hand this one over as the browser would.
            http.cookies.clear()
            http.cookies.set(
                "__Secure-revoker_console_login", login["__Secure-revoker_console_login"].value
            )
            response = http.post(
                "/console/login",
                data={"credential": ADMIN_TOKEN, "login_token": token},
                headers={**forwarded, "Origin": url.replace("http://", "https://")},
            )
    finally:
        switch.app = None
        app.state.close()
    assert response.status_code == 303
    name = "__Secure-revoker_console"
    cookie = _cookie(response.headers.get_list("set-cookie"), name)[name]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"


def _issued(response: httpx.Response) -> str:
    return _cookie(response.headers.get_list("set-cookie"), "revoker_console")[
        "revoker_console"
    ].value


def _opens_console(client: httpx.Client, session_id: str) -> bool:
    with httpx.Client(base_url=client.base_url, cookies={"revoker_console": session_id}) as other:
        return other.get("/console").status_code == 200


def test_every_sign_in_gets_a_new_session(client: httpx.Client) -> None:
    """A cookie planted before signing in is replaced, and never signed in (no fixation)."""
    with httpx.Client(
        base_url=client.base_url, cookies={"revoker_console": "planted-by-someone-else"}
    ) as browser:
        issued = _issued(sign_in(browser, ADMIN_TOKEN))
    assert issued != "planted-by-someone-else"
    assert _opens_console(client, issued)
    assert not _opens_console(client, "planted-by-someone-else")


def test_a_second_sign_in_ends_the_first(client: httpx.Client) -> None:
    """Signing in again with the session's cookie still held replaces that session."""
    first = _issued(sign_in(client, VIEWER_TOKEN))
    with httpx.Client(base_url=client.base_url) as browser:
        page = browser.get("/console/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        browser.cookies.set("revoker_console", first)
        second = _issued(
            post(
                browser,
                "/console/login",
                {"credential": ADMIN_TOKEN, "login_token": token},
                csrf=None,
            )
        )
    assert second != first
    assert _opens_console(client, second)
    assert not _opens_console(client, first)


def test_signing_out_ends_the_session_on_the_server(admin: Signed) -> None:
    """After sign-out, a copy of the cookie (a stolen one) no longer opens the console."""
    stolen = admin.client.cookies["revoker_console"]
    with httpx.Client(base_url=admin.client.base_url, cookies={"revoker_console": stolen}) as thief:
        assert thief.get("/console").status_code == 200
        signed_out = admin.post("/console/logout", {})
        assert signed_out.headers["location"] == "/console/login?signed_out=1"
        assert thief.get("/console").status_code == 303
        assert thief.get("/console/overview/live").status_code == 401


def test_a_session_expires_after_the_configured_lifetime(
    admin: Signed, clock: FrozenClock, state: ServiceState
) -> None:
    """With the default hour, the console still opens at 59 minutes, not at 60."""
    assert state.settings.console_session_seconds == 3600
    clock.advance(3599)
    assert admin.client.get("/console").status_code == 200
    clock.advance(1)
    assert admin.client.get("/console").status_code == 303


def test_a_wrong_credential_is_refused_and_counted(
    client: httpx.Client, state: ServiceState
) -> None:
    """401 with the form again; the failure shows in the credential-failure metric as console."""
    response = sign_in(client, "not-the-credential-0000")
    assert response.status_code == 401
    assert "That credential is not accepted here." in response.text
    assert "revoker_console=" not in response.headers.get("set-cookie", "")
    metrics = state.metrics.render().decode()
    assert 'revoker_credential_failures_total{endpoint="console"} 1.0' in metrics


def test_failed_sign_ins_are_rate_limited_per_address(
    client: httpx.Client, clock: FrozenClock
) -> None:
    """Past the budget (3 a minute here) even the right credential gets 429, until it refills."""
    for _ in range(3):
        assert sign_in(client, "wrong-credential-000000").status_code == 401
    throttled = sign_in(client, ADMIN_TOKEN)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    clock.advance(61)
    assert sign_in(client, ADMIN_TOKEN).status_code == 303


def test_the_console_budget_is_its_own(client: httpx.Client) -> None:
    """Console failures do not lock the admin API, nor the reverse: each kind has its budget."""
    for _ in range(3):
        sign_in(client, "wrong-credential-000000")
    admin_api = client.get("/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin_api.status_code == 200


def test_sign_in_needs_the_forms_own_token(client: httpx.Client) -> None:
    """A sign-in posted without the form's token (login CSRF) is refused, credential or not."""
    response = post(
        client, "/console/login", {"credential": ADMIN_TOKEN, "login_token": "forged"}, csrf=None
    )
    assert response.status_code == 403
    assert "revoker_console=" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("credential", [ADMIN_TOKEN, VIEWER_TOKEN], ids=["admin", "viewer"])
def test_the_credential_is_never_in_a_url_or_a_page(client: httpx.Client, credential: str) -> None:
    """Signing in redirects to /console: no credential in the location, the cookie or the page."""
    response = sign_in(client, credential)
    assert credential not in response.headers["location"]
    assert credential not in response.headers.get("set-cookie", "")
    assert credential not in client.get("/console").text
