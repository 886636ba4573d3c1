"""A browser at the OpenID provider peer: its own cookie jar, its login, consent and logout.

Every step is an HTTP request a browser would make: the authorization request with PKCE, the
provider's login and consent forms (filled as a user would), the redirect with the ``code``
(read from the Location header: the callback is never contacted), and RP-initiated logout
confirmed on the provider's page.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Self
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from oidc_peer_tokens import DpopKey, PeerError, Tokens, b64url, error_detail, unverified_claims

if TYPE_CHECKING:
    from oidc_peer import OidcProvider
    from oidc_peer_tokens import Client

REDIRECT_URI = "http://127.0.0.1/callback"  # never contacted: the code is read from the Location
MAX_BROWSER_STEPS = 12  # authorization, login, resume, consent, resume, callback: six at most


@dataclass
class _Form:
    action: str
    method: str
    form_id: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The forms of a page, their inputs, and named submit buttons (inside or ``form=``-linked)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.buttons: list[tuple[str | None, str, str]] = []  # (form id, name, value)
        self._open: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = _Form(a.get("action", ""), a.get("method", "get").lower(), a.get("id"))
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and "name" in a:
            self._open.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and "name" in a:
            owner = a.get("form") or (self._open.form_id if self._open else None)
            self.buttons.append((owner, a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def _forms(response: httpx.Response) -> _Forms:
    parser = _Forms()
    parser.feed(response.text)
    parser.close()
    return parser


def _submit(
    browser: httpx.Client, page: httpx.Response, form: _Form, data: dict[str, str]
) -> httpx.Response:
    """Submit ``form`` of ``page`` with ``data`` as a browser would: its method, its action."""
    action = urljoin(str(page.url), form.action)
    if form.method == "post":
        return browser.post(action, data=data)
    return browser.get(action, params=data)


class Session:
    """One browser at the provider: its own cookie jar, hence its own session and its own sids."""

    def __init__(self, provider: OidcProvider) -> None:
        self._provider = provider
        self._browser = httpx.Client(follow_redirects=False, timeout=10.0)

    def close(self) -> None:
        self._browser.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(
        self,
        username: str,
        *,
        client: Client | None = None,
        scope: str = "openid offline_access",
        resource: str | None = None,
        dpop: DpopKey | bool = False,
    ) -> Tokens:
        """Sign ``username`` in (any password), consent, and redeem the code for tokens.

        With ``resource`` the access token is an RFC 9068 JWT for that resource server (ask for
        its scopes too, e.g. ``api:read``); without, it is the provider's opaque userinfo token.
        With ``dpop`` the token request carries a DPoP proof, so the access token is bound to
        that key (``cnf.jkt``) and its type is ``DPoP``.
        """
        provider = self._provider
        client = client or provider.client("RS256")
        verifier = secrets.token_urlsafe(48)
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        if "offline_access" in scope.split():
            params["prompt"] = "consent"  # OIDC Core 11: offline_access needs a consent prompt
        if resource is not None:
            params["resource"] = resource
        authorize = f"{provider.metadata['authorization_endpoint']}?{urlencode(params)}"
        callback = self._browse(self._browser.get(authorize), username)

        answer = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}
        if "error" in answer:
            raise PeerError(f"authorization: {answer['error']}: {answer.get('error_description')}")
        if answer.get("state") != state:
            raise PeerError("authorization: the state came back changed")
        if answer.get("iss") != provider.issuer:
            raise PeerError("authorization: the iss parameter names another issuer (RFC 9207)")

        form = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        if resource is not None:
            form["resource"] = resource
        key = DpopKey() if dpop is True else (dpop or None)
        tokens = provider.token_request(client, form, dpop_key=key)
        if tokens.id_token is not None and unverified_claims(tokens.id_token).get("nonce") != nonce:
            raise PeerError("token: the ID token's nonce is not the one sent")
        return tokens

    def _browse(self, response: httpx.Response, username: str) -> str:
        """Follow redirects and fill the provider's forms until it redirects to the client."""
        for _ in range(MAX_BROWSER_STEPS):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.split("?", 1)[0] == REDIRECT_URI:
                    return location
                response = self._browser.get(location)
            elif response.status_code == 200 and "html" in response.headers.get("content-type", ""):
                response = self._submit_interaction(response, username)
            else:
                raise PeerError(f"sign-in: {error_detail(response)} at {response.url.path}")
        raise PeerError(f"sign-in: no redirect to the client after {MAX_BROWSER_STEPS} steps")

    def _submit_interaction(self, page: httpx.Response, username: str) -> httpx.Response:
        forms = _forms(page).forms
        if len(forms) != 1:
            raise PeerError(f"sign-in: expected one form at {page.url.path}, found {len(forms)}")
        (form,) = forms
        data = dict(form.fields)
        prompt = data.get("prompt")
        if prompt == "login":
            # devInteractions: the login is the subject, any password is accepted.
            data["login"] = username
            data["password"] = "any-password"
        elif prompt != "consent":
            raise PeerError(f"sign-in: a {prompt!r} prompt this harness does not answer")
        return _submit(self._browser, page, form, data)

    def logout(self, tokens: Tokens, *, everywhere: bool = True) -> None:
        """RP-initiated logout with ``id_token_hint``, confirmed on the provider's page.

        ``everywhere`` presses "Yes, sign me out": the provider ends this browser's session and
        POSTs a logout token to every client of it that has a ``backchannel_logout_uri`` (before
        this returns). Otherwise only ``tokens.client`` is signed out of the session.
        """
        if tokens.id_token is None:
            raise PeerError("logout: an id_token_hint is needed (was openid requested?)")
        params = {"id_token_hint": tokens.id_token, "client_id": tokens.client.client_id}
        end_session = self._provider.metadata["end_session_endpoint"]
        page = self._browser.get(f"{end_session}?{urlencode(params)}")
        if page.status_code != 200:
            raise PeerError(f"logout: {error_detail(page)} at the end-session endpoint")
        parsed = _forms(page)
        form = next((f for f in parsed.forms if "xsrf" in f.fields), None)
        if form is None:
            raise PeerError("logout: no confirmation form on the end-session page")
        data = dict(form.fields)
        if everywhere:
            for owner, name, value in parsed.buttons:
                if owner == form.form_id and name == "logout":
                    data[name] = value
        done = _submit(self._browser, page, form, data)
        if done.status_code != 303:
            raise PeerError(f"logout: {error_detail(done)} from the confirmation")
        success = self._browser.get(urljoin(str(done.url), done.headers["location"]))
        if success.status_code != 200:
            raise PeerError(f"logout: {error_detail(success)} after the confirmation")
