"""What protects the console in the browser: response headers, cookies, and the checks every
state-changing request passes.

- Every response carries a strict Content-Security-Policy (scripts and styles from
  the console's own files only, nothing inline, no framing), ``nosniff``,
  ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``.
- The session cookie is ``HttpOnly`` and ``SameSite=Strict``, scoped to
  ``/console``; over TLS (the request's scheme is https, directly or through
  ``X-Forwarded-Proto`` from a proxy in ``--forwarded-allow-ips``) it is also
  ``Secure`` and carries the ``__Secure-`` prefix.
- A POST is refused unless it comes from the console's own origin: a
  ``Sec-Fetch-Site`` other than ``same-origin``, or an ``Origin`` other than the
  request's own, is cross-site (``Origin: null``, which the no-referrer policy makes
  a browser send, only passes with ``Sec-Fetch-Site: same-origin``). ``SameSite``
  alone is not enough: another port on the same host is the same *site*, and its
  pages' requests carry the cookie. On
  top of that, each form carries its session's CSRF token (``sessions``), and the
  sign-in form a token bound to a short-lived cookie of its own (double submit).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "LOGIN_COOKIE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "clear_cookie",
    "cookie_value",
    "cross_site",
    "is_secure",
    "request_origin",
    "set_cookie",
]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
}

SESSION_COOKIE = "revoker_console"
LOGIN_COOKIE = "revoker_console_login"
COOKIE_PATH = "/console"


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (uvicorn applies a trusted X-Forwarded-Proto)."""
    return request.url.scheme == "https"


def request_origin(request: Request) -> str:
    """The origin the browser sees for this request: scheme, host and port from ``Host``."""
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def cross_site(request: Request) -> str | None:
    """Why a state-changing request does not come from the console's own pages (None: it does).

    ``Sec-Fetch-Site`` (every current browser sends it) must say ``same-origin``. An
    ``Origin`` must be the request's own, except that ``null`` is what a browser sends
    for a same-origin form under ``Referrer-Policy: no-referrer``: it passes only where
    ``Sec-Fetch-Site`` vouches for it.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"the request came from another {'site' if site == 'cross-site' else 'origin'}"
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and site == "same-origin"):
        return None
    if origin.lower() != request_origin(request):
        return "the request came from another origin"
    return None


def _name(base: str, secure: bool) -> str:
    return f"__Secure-{base}" if secure else base


def cookie_value(request: Request, base: str) -> str | None:
    """A console cookie as this request's scheme names it."""
    return request.cookies.get(_name(base, is_secure(request)))


def set_cookie(
    response: Response, request: Request, base: str, value: str, *, max_age: int, path: str
) -> None:
    response.set_cookie(
        _name(base, is_secure(request)),
        value,
        max_age=max_age,
        path=path,
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, base: str, *, path: str) -> None:
    set_cookie(response, request, base, "", max_age=0, path=path)
