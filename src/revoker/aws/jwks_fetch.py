"""A JWKS fetcher on the standard library, for the Lambda cold start.

``HttpJwksFetcher`` imports httpx, which costs about 100 ms before the first
key is fetched; ``urllib.request`` costs about a third of that and is already
what a Lambda runtime has. The guarantees are the same: one total deadline
(a server trickling bytes is cut off), a size cap, no redirects, JSON objects
only, and every failure a ``JwksUnavailable``.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from revoker.core.errors import JwksUnavailable
from revoker.core.jwks import MAX_DOCUMENT_BYTES, json_document

__all__ = ["UrllibJwksFetcher"]

_CHUNK = 16_384


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError: keys come from the URL configured


class UrllibJwksFetcher:
    """A ``JwksFetcher`` over ``urllib.request``: deadline, size cap, no redirects."""

    def __init__(self, *, timeout_seconds: float = 3.0) -> None:
        self._timeout = timeout_seconds
        self._opener = urllib.request.build_opener(_NoRedirect)

    def fetch_json(self, url: str) -> dict[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise JwksUnavailable("a key URL must be http(s)")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
            url, headers={"Accept": "application/json", "Accept-Encoding": "identity"}
        )
        try:
            body = self._read_capped(request, url)
        except urllib.error.HTTPError as exc:
            raise JwksUnavailable(f"fetching {url} returned HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise JwksUnavailable(f"fetching {url} failed: {type(exc).__name__}") from exc
        return json_document(body, url)

    def _read_capped(self, request: urllib.request.Request, url: str) -> bytes:
        deadline = time.monotonic() + self._timeout
        with self._opener.open(request, timeout=self._timeout) as response:
            if response.status != 200:
                raise JwksUnavailable(f"fetching {url} returned HTTP {response.status}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
                raise JwksUnavailable(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
            body = bytearray()
            while chunk := response.read1(_CHUNK):  # one recv at a time, so the deadline bites
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksUnavailable(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise JwksUnavailable(f"fetching {url} took longer than {self._timeout}s")
        return bytes(body)
