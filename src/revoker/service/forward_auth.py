"""``/auth``: forward-auth for nginx ``auth_request``, Traefik ForwardAuth and Envoy ext_authz.

This is the hot path, written as a raw ASGI callable: it reads the token from
the scope's headers (``Authorization: Bearer`` first, then the configured
cookie), calls the synchronous ``Authorizer.check`` (microseconds once the
token is in the verified cache) and answers with header lists built up front.

- Allowed: 200 with ``X-Auth-Subject``, ``-Username``, ``-Groups``, ``-Scope``,
  ``-Client-Id`` and ``-Token-Use``. All six are always sent (empty when the
  token lacks the claim), so a gateway that copies them replaces whatever the
  client sent under those names.
- Denied: 401 with ``WWW-Authenticate: Bearer error="invalid_token",
  error_description="<reason>: <detail>"`` (RFC 6750 §3.1): the reason code first,
  then what failed in words (the claim, the expected and the received value); no
  token at all gets ``Bearer realm="..."`` without an error.
- DPoP (RFC 9449): ``Authorization: DPoP <token>`` with one ``DPoP`` proof header is
  checked against the client's original request, which the gateway names in
  ``X-Original-Method``/``X-Forwarded-Method`` and ``X-Original-URI``/``X-Forwarded-Uri``
  (with ``X-Forwarded-Proto`` and ``X-Forwarded-Host``, else ``Host``); a bad proof
  gets ``WWW-Authenticate: DPoP error="invalid_dpop_proof"``. A DPoP-bound token sent
  as a Bearer is refused (``sender_constrained``). An mTLS-bound token (``cnf.x5t#S256``)
  is checked against the certificate the gateway passes in ``--client-cert-header``.
- Only 200 and 401, whatever the input: nginx turns any other status of an
  auth subrequest into a 500 of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from functools import partial
from typing import Any
from urllib.parse import quote, unquote

from anyio import to_thread

from revoker.app.identity import IDENTITY_HEADERS, Identity
from revoker.app.logfields import fields
from revoker.core.authorizer import Authorizer
from revoker.core.binding import ProofContext, certificate_thumbprint
from revoker.core.tokens import token_fingerprint
from revoker.service.metrics import MISSING_TOKEN, ServiceMetrics

__all__ = ["IDENTITY_HEADERS", "INTERNAL_ERROR", "ForwardAuth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("revoker.service.auth")

#: The reason /auth gives when the check itself failed (a bug): it denies, never a 500.
INTERNAL_ERROR = "internal_error"
_IDENTITY_NAMES = tuple(name.lower().encode("ascii") for name in IDENTITY_HEADERS)
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
# Printable ASCII stays as it is; '%' and anything else is percent-encoded (UTF-8).
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")
_HEADER_CACHE_SIZE = 10_000
_DENIAL_CACHE_SIZE = 4_096
_MAX_DESCRIPTION = 240


def _header_value(text: str) -> bytes:
    # uvicorn refuses control characters in a header (a 500): encode rather than pass them.
    if text.isascii() and text.isprintable() and "%" not in text:
        return text.encode("ascii")
    return quote(text, safe=_SAFE).encode("ascii")


def _body(allowed: bool, reason: str) -> bytes:
    return json.dumps({"allowed": allowed, "reason": reason}, separators=(",", ":")).encode()


# A response as the two ASGI messages that send it, built once and sent as they are
# (servers copy the header list, never edit a message).
_Reply = tuple[Message, Message]


def _reply(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> _Reply:
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class ForwardAuth:
    """The ``/auth`` ASGI callable; any method, any path under ``/auth``."""

    def __init__(
        self,
        authorizer: Authorizer,
        metrics: ServiceMetrics,
        *,
        cookie_name: str | None = None,
        realm: str = "revoker",
        client_cert_header: str | None = None,
    ) -> None:
        self._check = authorizer.check
        self._cert_header = (
            client_cert_header.lower().encode("ascii") if client_cert_header else None
        )
        self._may_block = authorizer.may_block
        self._counts = metrics.decision_counts("auth")
        self._metrics = metrics
        self._observe = metrics.latency.observe
        self._cookie = cookie_name.encode("ascii") + b"=" if cookie_name else None
        # token -> its whole 200 start message (identity headers included)
        self._allowed_cache: dict[str, Message] = {}
        allowed_body = _body(True, "allowed")
        self._allowed_headers = [
            _JSON,
            _NO_STORE,
            (b"content-length", b"%d" % len(allowed_body)),
        ]
        self._allowed_body: Message = {"type": "http.response.body", "body": allowed_body}
        missing_body = _body(False, MISSING_TOKEN)
        self._missing = _reply(
            401,
            [
                (b"www-authenticate", f'Bearer realm="{realm}"'.encode("ascii")),
                _JSON,
                _NO_STORE,
                (b"content-length", b"%d" % len(missing_body)),
            ],
            missing_body,
        )
        # (reason, detail) -> the 401 messages; bounded, as details carry token values
        self._denials: dict[tuple[str, str], _Reply] = {}
        self._realm = realm

    def _denial(self, reason: str, detail: str, *, dpop: bool) -> _Reply:
        key = (reason, detail)
        denial = self._denials.get(key)
        if denial is None:
            body = _body(False, reason)
            description = _quoted(f"{reason}: {detail}" if detail else reason)
            if dpop and reason == "invalid_dpop_proof":
                challenge = f'DPoP error="invalid_dpop_proof", error_description="{description}"'
            else:
                challenge = f'Bearer error="invalid_token", error_description="{description}"'
            headers = [
                (b"www-authenticate", challenge.encode("ascii")),
                _JSON,
                _NO_STORE,
                (b"content-length", b"%d" % len(body)),
            ]
            denial = _reply(401, headers, body)
            if len(self._denials) >= _DENIAL_CACHE_SIZE:
                self._denials.clear()  # details vary with the tokens: a clean slate bounds it
            self._denials[key] = denial
        return denial

    def _token(self, headers: list[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
        """The token, and whether it came with the DPoP scheme."""
        cookie_header: bytes | None = None
        for name, value in headers:
            if name == b"authorization":
                scheme = value[:7].lower()
                if scheme == b"bearer ":
                    return value[7:].strip().decode("latin-1"), False
                if scheme[:5] == b"dpop ":
                    return value[5:].strip().decode("latin-1"), True
            elif name == b"cookie" and cookie_header is None:
                cookie_header = value
        if cookie_header is not None and self._cookie is not None:
            return self._from_cookie(cookie_header), False
        return None, False

    def _proof(self, headers: list[tuple[bytes, bytes]], *, dpop: bool) -> ProofContext:
        """What the request proves besides the token: its DPoP proof (exactly one header),
        the client's original method and URI, the client certificate's thumbprint."""
        proofs = [value for name, value in headers if name == b"dpop"] if dpop else []
        seen = _original_request(headers)
        certificate = None
        if self._cert_header is not None:
            certificate = next((v for n, v in headers if n == self._cert_header), None)
        return ProofContext(
            dpop=proofs[0].decode("latin-1") if len(proofs) == 1 else ("" if dpop else None),
            method=seen.get("method"),
            uri=_original_uri(headers, seen.get("uri")),
            cert_thumbprint=_thumbprint(certificate) if certificate else None,
        )

    def _from_cookie(self, header: bytes) -> str | None:
        prefix = self._cookie
        assert prefix is not None  # noqa: S101 - only called when a cookie is configured
        for raw in header.split(b";"):
            part = raw.strip()
            if part.startswith(prefix):
                value = part[len(prefix) :].strip()
                if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                return value.decode("latin-1")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        token, dpop = self._token(headers)
        if token is None:
            self._counts[MISSING_TOKEN] += 1
            await send(self._missing[0])
            await send(self._missing[1])
            return
        started = time.perf_counter()
        detail = ""
        try:
            proof = self._proof(headers, dpop=dpop) if dpop or self._cert_header else None
            if self._may_block(token):
                # A JWKS fetch may be due: wait for it in a thread, not on the loop.
                decision = await to_thread.run_sync(partial(self._check, token, proof=proof))
            else:
                decision = self._check(token, proof=proof)
            reason = decision.reason
            allowed = decision.allowed
            detail = decision.detail
        except Exception:  # a bug must still deny, never answer 500 to the gateway
            log.exception("the check failed", extra=fields(token=token_fingerprint(token)))
            allowed, reason = False, INTERNAL_ERROR
        self._observe(time.perf_counter() - started)
        try:
            self._counts[reason] += 1
        except KeyError:  # a reason code added later: counted from now on
            self._metrics.count_decision("auth", reason)
        if allowed:
            start = self._allowed_cache.get(token)
            if start is None:
                kind = decision.token.kind if decision.token is not None else None
                start = self._allowed_start(token, decision.claims or {}, kind)
            await send(start)
            await send(self._allowed_body)
            return
        if log.isEnabledFor(logging.DEBUG):
            original = _original_request(headers)
            if "uri" in original:
                original["uri"] = logged_uri(original["uri"])
            client = scope.get("client")  # the proxy's word for it with --forwarded-allow-ips
            log.debug(
                "denied",
                extra=fields(
                    reason=reason,
                    detail=detail,
                    token=token_fingerprint(token),
                    client=client[0] if client else None,
                    **original,
                ),
            )
        start, body = self._denials.get((reason, detail)) or self._denial(reason, detail, dpop=dpop)
        await send(start)
        await send(body)

    def _allowed_start(self, token: str, claims: Mapping[str, Any], kind: str | None) -> Message:
        values = Identity.from_claims(claims, kind=kind).values()
        identity = [
            (name, _header_value(value))
            for name, value in zip(_IDENTITY_NAMES, values, strict=True)
        ]
        start = {"type": "http.response.start", "status": 200,
                 "headers": self._allowed_headers + identity}  # fmt: skip
        cache = self._allowed_cache
        if len(cache) >= _HEADER_CACHE_SIZE:
            cache.clear()  # tokens expire; a periodic clean slate bounds the memory simply
        cache[token] = start
        return start


_ORIGINAL = {
    b"x-original-method": "method",
    b"x-forwarded-method": "method",
    b"x-original-uri": "uri",
    b"x-forwarded-uri": "uri",
}


def _original_request(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """What the gateway says it is asking about: the client's method and path (nginx's
    X-Original-*, Traefik's X-Forwarded-Method/-Uri), the first of each."""
    found: dict[str, str] = {}
    for name, value in headers:
        field_name = _ORIGINAL.get(name)
        if field_name is not None:
            found.setdefault(field_name, value.decode("latin-1")[:2048])
    return found


def logged_uri(uri: str) -> str:
    """A URI fit for a log: its query string and fragment replaced by ``?…`` (they carry OAuth
    codes, tokens and session ids)."""
    path, sep, _rest = uri.partition("?")
    path, hash_sep, _fragment = path.partition("#")
    return path + ("?…" if sep or hash_sep else "")


def _original_uri(headers: list[tuple[bytes, bytes]], path: str | None) -> str | None:
    """The client's absolute URI, for a DPoP proof's htu: scheme and host as forwarded."""
    if path is None:
        return None
    if "://" in path:
        return path
    parts: dict[bytes, str] = {}
    for name, value in headers:
        if name in (b"x-forwarded-proto", b"x-forwarded-host", b"host"):
            parts.setdefault(name, value.decode("latin-1").split(",")[0].strip())
    host = parts.get(b"x-forwarded-host") or parts.get(b"host")
    proto = parts.get(b"x-forwarded-proto", "https")
    return f"{proto}://{host}{path}" if host else None


def _quoted(text: str) -> str:
    """``text`` safe inside a header's quoted-string: printable ASCII, quotes escaped."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in text[:_MAX_DESCRIPTION])
    return safe.replace("\\", "\\\\").replace('"', '\\"')


def _thumbprint(header: bytes) -> str | None:
    """The x5t#S256 of the certificate a gateway passed (URL-encoded PEM); None if unusable."""
    from cryptography import x509  # noqa: PLC0415 - only for mTLS-bound deployments
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    try:
        pem = unquote(header.decode("latin-1")).encode("ascii")
        der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    except (ValueError, UnicodeError):
        return None
    return certificate_thumbprint(der)
