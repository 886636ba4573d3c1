"""The HTTP client of a Shared Signals transmitter: its configuration, stream management,
verification (SSF 1.0 §7, §8) and RFC 8936 polls.

Every request carries ``Authorization: Bearer <--ssf-transmitter-token>`` (when one is
configured; how a receiver gets it is out of SSF's scope, §7.1.1), has a total
deadline, follows no redirect, and reads at most 1 MiB. Every URL the transmitter
names must be ``https``, or ``http`` on loopback (``core.transmitter_keys``). A failure
is a ``TransmitterError`` whose message names the endpoint and the HTTP status, never a
token, a SET or a URL's query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revoker.core.errors import RevokerError
from revoker.core.transmitter_keys import ssf_configuration_url, usable_transmitter_url

if TYPE_CHECKING:
    import httpx

__all__ = ["PollAnswer", "TransmitterClient", "TransmitterError"]

MAX_ANSWER_BYTES = 1024 * 1024
_JSON = "application/json"


class TransmitterError(RevokerError):
    """The transmitter could not be reached, or answered what SSF does not allow."""

    reason = "transmitter_error"
    http_status = 502


@dataclass(frozen=True, slots=True)
class PollAnswer:
    """One RFC 8936 answer: the SETs by ``jti``, and whether more are waiting."""

    sets: Mapping[str, str]
    more_available: bool


def _endpoint(configuration: Mapping[str, Any], name: str) -> str:
    url = configuration.get(name)
    if not usable_transmitter_url(url):
        raise TransmitterError(f"the transmitter's configuration has no usable {name}")
    assert isinstance(url, str)  # noqa: S101 - checked above
    return url


class TransmitterClient:
    """Requests to one transmitter (``issuer``)."""

    def __init__(
        self,
        issuer: str,
        *,
        token: str | None,
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx  # noqa: PLC0415 - imported here so `import revoker` stays light

        self._httpx = httpx
        self.issuer = issuer
        self._token = token
        self._timeout = timeout_seconds
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._configuration: Mapping[str, Any] | None = None

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- the transport --------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        timeout_seconds: float | None = None,
    ) -> tuple[int, Any]:
        """One request; the status and the JSON answer (None for an empty one)."""
        if not usable_transmitter_url(url):
            raise TransmitterError(f"the {what} URL is not https (nor http on loopback)")
        headers = {"Accept": _JSON, "Accept-Encoding": "identity"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        content = None
        if body is not None:
            headers["Content-Type"] = _JSON
            content = json.dumps(body).encode()
        timeout = timeout_seconds or self._timeout
        httpx = self._httpx
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream(
                method, url, headers=headers, content=content, params=query,
                timeout=httpx.Timeout(timeout),
            ) as response:  # fmt: skip
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                        raise TransmitterError(f"the {what} answered too much, or too slowly")
                status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransmitterError(
                f"the {what} could not be reached: {type(exc).__name__}"
            ) from exc
        if status not in expect:
            raise TransmitterError(f"the {what} answered HTTP {status}")
        if not data.strip():
            return status, None
        try:
            return status, json.loads(data)
        except (ValueError, RecursionError):
            raise TransmitterError(f"the {what} did not answer JSON") from None

    # -- configuration (§7) ---------------------------------------------------------

    def configuration(self) -> Mapping[str, Any]:
        """The transmitter's metadata, checked: its ``issuer`` is exactly ours (§7.2.3)."""
        if self._configuration is None:
            _, document = self.request(
                "GET", ssf_configuration_url(self.issuer), what="SSF configuration"
            )
            if not isinstance(document, dict):
                raise TransmitterError("the SSF configuration is not a JSON object")
            if document.get("issuer") != self.issuer:
                raise TransmitterError(
                    "the SSF configuration names a different issuer than the transmitter"
                )
            self._configuration = document
        return self._configuration

    # -- streams (§8.1.1) -----------------------------------------------------------

    def create_stream(self, request: Mapping[str, Any]) -> dict[str, Any]:
        url = _endpoint(self.configuration(), "configuration_endpoint")
        _, stream = self.request(
            "POST", url, what="configuration endpoint", body=request, expect=(200, 201)
        )
        return self._checked_stream(stream)

    def read_stream(self, stream_id: str) -> dict[str, Any]:
        url = _endpoint(self.configuration(), "configuration_endpoint")
        _, stream = self.request(
            "GET", url, what="configuration endpoint", query={"stream_id": stream_id}
        )
        if isinstance(stream, list) and len(stream) == 1:
            stream = stream[0]  # a transmitter that lists instead of answering one
        return self._checked_stream(stream)

    def delete_stream(self, stream_id: str) -> None:
        url = _endpoint(self.configuration(), "configuration_endpoint")
        self.request(
            "DELETE", url, what="configuration endpoint", query={"stream_id": stream_id},
            expect=(200, 204),
        )  # fmt: skip

    def stream_status(self, stream_id: str) -> dict[str, Any]:
        url = _endpoint(self.configuration(), "status_endpoint")
        _, status = self.request("GET", url, what="status endpoint", query={"stream_id": stream_id})
        if not isinstance(status, dict):
            raise TransmitterError("the status endpoint did not answer a JSON object")
        return status

    def verify(self, stream_id: str, state: str) -> None:
        """Ask for a verification event echoing ``state`` (§8.1.4.2)."""
        url = _endpoint(self.configuration(), "verification_endpoint")
        self.request(
            "POST", url, what="verification endpoint",
            body={"stream_id": stream_id, "state": state}, expect=(200, 202, 204),
        )  # fmt: skip

    def _checked_stream(self, stream: object) -> dict[str, Any]:
        """§8.1.1.1: the stream's ``iss`` must be the transmitter we asked."""
        if not isinstance(stream, dict) or not isinstance(stream.get("stream_id"), str):
            raise TransmitterError("the transmitter did not answer a stream configuration")
        if stream.get("iss") != self.issuer:
            raise TransmitterError("the stream's iss is not the transmitter's issuer")
        return stream

    # -- RFC 8936 polls -------------------------------------------------------------

    def poll(
        self,
        endpoint_url: str,
        *,
        ack: list[str],
        errors: Mapping[str, Mapping[str, str]],
        max_events: int = 100,
        return_immediately: bool = True,
        timeout_seconds: float | None = None,
    ) -> PollAnswer:
        """One poll: acknowledge ``ack``, report ``errors`` (``setErrs``), take new SETs."""
        body: dict[str, Any] = {
            "ack": ack,
            "maxEvents": max_events,
            "returnImmediately": return_immediately,
        }
        if errors:
            body["setErrs"] = {jti: dict(error) for jti, error in errors.items()}
        _, answer = self.request(
            "POST", endpoint_url, what="poll endpoint", body=body, timeout_seconds=timeout_seconds
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("sets", {}), dict):
            raise TransmitterError("the poll endpoint did not answer a 'sets' object")
        sets = answer.get("sets", {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in sets.items()):
            raise TransmitterError("the poll endpoint's 'sets' are not jti -> SET strings")
        return PollAnswer(sets=sets, more_available=answer.get("moreAvailable") is True)
