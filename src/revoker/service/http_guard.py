"""HTTP-layer protections for ``revoker serve``: bounded request heads, a deadline for every
phase of a connection, a cap on open connections, and a quiet close when a client leaves
mid-request.

uvicorn's httptools protocol has none of the first three: llhttp takes a header of any
length (httptools joins its pieces with ``bytes +=``, so an endless header costs quadratic
time on the event loop and unbounded memory); a connection that sends nothing, half a head
or half a body is never dropped (uvicorn's one timer is keep-alive, armed after a response);
and ``limit_concurrency`` only answers 503 to a request whose head is complete.
``GuardedHttpToolsProtocol`` subclasses that protocol and adds them; ``uvicorn_options``
hands it to ``uvicorn.Config``. What bounds each phase of a connection (``HttpLimits``, in
``http_limits.py`` with its defaults and ranges):

=======  ==========================================  =====================================
phase    from .. to                                  bound
=======  ==========================================  =====================================
head     the connection's opening (its first         ``head_timeout_seconds`` (408, or a
         request) or a request's first byte          silent close when nothing came);
         (keep-alive) .. the end of the head         ``max_header_bytes`` (431; 414 for the
                                                     request line); ``max_headers`` (431)
body     the end of the head .. the end of the body  ``body_timeout_seconds`` (408, or a
                                                     close once a response has started)
write    a response the client does not read         ``body_timeout_seconds`` (a close)
idle     a response .. the next request's first      ``idle_timeout_seconds`` (a silent
         byte                                        close: uvicorn's keep-alive timer)
open     at most ``max_connections`` at once in the  past it, 503 at once and a close
         process
=======  ==========================================  =====================================

A refusal (400, 408, 414, 431) is written with ``Connection: close``; the connection then
lingers half-closed for at most ``LINGER_SECONDS``, reading and dropping what still comes,
so that the client reads the answer rather than a reset. Upgrade and CONNECT requests get
their answer and the connection closes after it (revoker serves no WebSocket).

A client that leaves mid-request makes the app fail (Starlette raises ``ClientDisconnect``
from a body read), which uvicorn logs as a 45-line "Exception in ASGI application". Here it
is a quiet close. Every early close is counted by reason (``metrics.CONNECTION_CLOSES``,
scraped as ``revoker_http_connections_closed_total``) and logged at debug level, with the
peer's address and never a header value.

The hot path pays little: a request that comes in one read (an ``/auth`` from a proxy)
arms no timer and costs one more Python call and a few attribute reads than uvicorn's own
protocol. A read larger than 8 KiB is parsed a slice of 8 KiB at a time; after each slice
(and at the end of a head) the head's size and its header count are checked, so a head is
refused within one slice of either limit. Works with uvicorn 0.29 to 0.54 (tested at both
ends) and httptools (``uvicorn[standard]``): it builds on the protocol's callbacks, its
``scope`` and ``headers`` and its ``cycle``, which have kept their shape over that range.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from revoker.service.http_limits import HttpLimits
from revoker.service.logs import fields
from revoker.service.metrics import CONNECTION_CLOSES, ConnectionCloses

__all__ = ["LINGER_SECONDS", "GuardedHttpToolsProtocol", "HttpLimits", "uvicorn_options"]

log = logging.getLogger("revoker.service.http")

#: After a refusal, how long the connection may linger half-closed, and how much it drops.
LINGER_SECONDS: Final = 2.0
LINGER_BYTES: Final = 1024 * 1024
#: Reads larger than this are parsed in slices of it (see _in_slices); a request from a
#: proxy is one slice.
_SLICE_BYTES: Final = 8 * 1024
_WARN_EVERY_SECONDS = 60.0


def uvicorn_options(limits: HttpLimits | None = None) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords that serve through ``GuardedHttpToolsProtocol``.

    ``http`` is a ``functools.partial`` of the class, not an import string: uvicorn 0.29
    only takes its own protocol names as strings, and a partial of a module-level class
    with a frozen dataclass pickles, so ``--workers`` (spawned processes) get it too.
    """
    limits = limits or HttpLimits()
    cap = limits.connection_cap()
    if cap < limits.max_connections:
        log.info(
            "connection cap lowered to fit the descriptor limit (ulimit -n)",
            extra=fields(max_connections=limits.max_connections, cap=cap),
        )
    protocol = functools.partial(GuardedHttpToolsProtocol, limits=limits, connection_cap=cap)
    return {
        "http": protocol,
        "ws": "none",  # no WebSocket route: an Upgrade is refused here, not handed on
    }


@dataclass(frozen=True)
class _Refusal:
    """An answer written on the raw transport, then the connection closes."""

    reason: str
    status: int
    text: str

    @functools.cached_property
    def response(self) -> bytes:
        body = self.text.encode("ascii") + b"\n"
        phrase = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
                  431: "Request Header Fields Too Large", 501: "Not Implemented",
                  503: "Service Unavailable"}[self.status]  # fmt: skip
        head = (
            f"HTTP/1.1 {self.status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n"
        )
        if self.status == 503:
            head += "retry-after: 1\r\n"
        return head.encode("ascii") + b"\r\n" + body


_BAD_REQUEST = _Refusal("bad_request", 400, "invalid HTTP request")
_HEAD_TIMEOUT = _Refusal("head_timeout", 408, "the request head did not arrive in time")
_BODY_TIMEOUT = _Refusal("body_timeout", 408, "the request body did not arrive in time")
_URL_TOO_LONG = _Refusal("url_too_long", 414, "the request line is too long")
_HEADERS_TOO_LARGE = _Refusal("headers_too_large", 431, "the request headers are too large")
_TOO_MANY_HEADERS = _Refusal("too_many_headers", 431, "the request has too many headers")
_UPGRADE = _Refusal("upgrade_refused", 501, "upgrades are not supported")
_OVER_CAPACITY = _Refusal("connection_limit", 503, "too many connections; retry")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; httptools re-raises it wrapped."""


_HEAD, _BODY, _IDLE = 1, 2, 3  # where the parser is: in a head, in a body, between requests
_on_headers_complete = HttpToolsProtocol.on_headers_complete
_last_cap_warning = -_WARN_EVERY_SECONDS


class _ConnectionLog:
    """uvicorn's error logger as one connection's request cycles see it.

    uvicorn logs an app's exception with its traceback ("Exception in ASGI application").
    When the client has already left (or was dropped by this module), the exception is
    the app failing to read a body nobody will send: one debug line, no traceback. The
    exception is still handled as uvicorn handles it; only its log line changes. Costs
    nothing per request (a wrapper around the app would cost a coroutine each).
    """

    __slots__ = ("_logger", "_protocol")

    def __init__(self, protocol: GuardedHttpToolsProtocol, logger: logging.Logger) -> None:
        self._protocol = protocol
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        failure = kwargs.get("exc_info")
        if isinstance(failure, BaseException) and self._protocol.client_gone():
            log.debug(
                "request abandoned",
                extra=fields(client=self._protocol.peer(), error=type(failure).__name__),
            )
            return
        self._logger.error(msg, *args, **kwargs)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``HttpLimits`` (see the module)."""

    # Slots, not the instance dict: uvicorn's protocol keeps 28 attributes there, and past
    # 30 CPython stops sharing the dict's keys, which slows every attribute uvicorn reads.
    __slots__ = (
        "_body_timeout",
        "_cap",
        "_closed_as",
        "_closes",
        "_dropped",
        "_head_most",
        "_head_rest",
        "_head_timeout",
        "_headed",
        "_lingering",
        "_lost",
        "_max_head",
        "_max_headers",
        "_phase",
        "_read_size",
        "_refusal",
        "_timer",
        "_timer_refusal",
    )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits | None = None,
        connection_cap: int | None = None,
        closes: ConnectionCloses = CONNECTION_CLOSES,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = limits or HttpLimits()
        self._max_head = limits.max_header_bytes
        self._max_headers = limits.max_headers
        self._head_timeout = limits.head_timeout_seconds
        self._body_timeout = limits.body_timeout_seconds
        self._cap = connection_cap or limits.connection_cap()
        # uvicorn annotates it int, but only hands it to loop.call_later, which takes a float.
        self.timeout_keep_alive = limits.idle_timeout_seconds  # type: ignore[assignment]
        self._closes = closes
        # The request cycles log through the protocol's logger: see _ConnectionLog.
        self.logger = _ConnectionLog(self, self.logger)  # type: ignore[assignment]
        self._phase = _IDLE
        self._headed: object = None  # the scope of the last request whose head was whole
        self._read_size = 0  # of the read being parsed
        self._head_most = 0  # the current head's size at most: the reads it spans
        self._head_rest = 0  # the current head's size at least: its reads after the first
        self._refusal: _Refusal | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_refusal: _Refusal | None = None
        self._closed_as: str | None = None  # why this side closed, once it did
        self._lingering = False
        self._dropped = 0
        self._lost = False

    # -- the connection -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._cap:
            self._over_capacity()
            return
        self._arm(self._head_timeout, _HEAD_TIMEOUT)  # the first head, counted from now

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_timer()
        if self._closed_as is None and self._mid_request():
            self._closes.count("client_disconnect")
            log.debug("the client left mid-request", extra=fields(client=self.peer()))
        super().connection_lost(exc)

    def _mid_request(self) -> bool:
        if self._phase != _IDLE:  # part of a head or of a body came
            return True
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def data_received(self, data: bytes | memoryview) -> None:
        if self._lingering:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        self._read_size = size = len(data)
        if size > _SLICE_BYTES:
            self._in_slices(data)
            return
        self._unset_keepalive_if_required()
        scope = self.scope  # uvicorn makes a new one for each request the parser begins
        if self._phase == _HEAD:
            self._head_most += size
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse_upgrade()
            return
        except httptools.HttpParserError:
            self._refuse(self._refusal or _BAD_REQUEST)
            return
        if self.scope is not scope and self._headed is not self.scope:
            self._head_began(size)  # a request began in this read; its head is not whole
        elif self._phase != _IDLE:  # a head or a body goes on past this read
            self._incomplete(size)
        elif (
            self.timeout_keep_alive_task is None
            and (cycle := self.cycle) is not None
            and cycle.response_complete
        ):
            self._idle_again()

    def _in_slices(self, data: bytes | memoryview) -> None:
        # A large read is parsed a slice at a time, each checked as a read of its own: a
        # read full of tiny headers stops within a slice of the header limit, and a
        # head is refused within a slice of the size limit.
        view = memoryview(data)
        for start in range(0, len(view), _SLICE_BYTES):  # bounded by the read's size
            if self.transport.is_closing():
                return
            self.data_received(view[start : start + _SLICE_BYTES])

    def _head_began(self, size: int) -> None:
        self._phase = _HEAD
        self._head_most = size
        self._head_rest = 0
        if len(self.headers) > self._max_headers:
            self._refuse(_TOO_MANY_HEADERS)
            return
        if self._timer is None:
            self._arm(self._head_timeout, _HEAD_TIMEOUT)

    def _incomplete(self, size: int) -> None:
        if self._phase == _HEAD:
            # The head began in an earlier read, so all of this one is head. The parser
            # holds a header until it is whole: what it holds is bounded by these reads
            # (a head may run the slice it began in over the limit, and no more).
            self._head_rest += size
            if self._head_rest > self._max_head:
                long_url = len(self.url) > self._max_head
                self._refuse(_URL_TOO_LONG if long_url else _HEADERS_TOO_LARGE)
                return
            if len(self.headers) > self._max_headers:
                self._refuse(_TOO_MANY_HEADERS)
                return
            if self._timer is None:
                self._arm(self._head_timeout, _HEAD_TIMEOUT)
        elif self._timer is None:
            self._arm(self._body_timeout, _BODY_TIMEOUT)

    def _idle_again(self) -> None:
        # A body that ended after its response (an app that answered without reading it):
        # uvicorn armed its keep-alive timer at the response, this read cancelled it, and
        # nothing would arm it again.
        if not self.pipeline and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # closed now: not the client leaving
            self._closed_as = self._closed_as or "shutdown"
        super().shutdown()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self._closed_as = "idle_timeout"
            self._closes.count("idle_timeout")
        super().timeout_keep_alive_handler()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._timer is None and not self.transport.is_closing():
            self._arm(self._body_timeout, None)  # the client stopped reading its responses

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._timer is not None and self._timer_refusal is None:
            self._cancel_timer()

    # -- parser callbacks -----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        # The head's size at most: the reads it spans, or this one when it began in it.
        most = self._head_most if self._phase == _HEAD else self._read_size
        self._phase = _BODY
        self._headed = self.scope
        if self._timer is not None:
            self._cancel_timer()
        if len(self.headers) > self._max_headers:
            self._refusal = _TOO_MANY_HEADERS
            raise _Refused
        if most > self._max_head:  # it may be over the limit: measure it
            self._measure_head()
        _on_headers_complete(self)  # the parent's, called directly (not super()): hot path

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        if self._timer is not None:
            self._cancel_timer()
        # uvicorn's own lines (unchanged since 0.29), inline: one call less per request.
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()

    def _measure_head(self) -> None:
        url = len(self.url)
        size = url + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if url > self._max_head:
            self._refusal = _URL_TOO_LONG
            raise _Refused
        if size > self._max_head:
            self._refusal = _HEADERS_TOO_LARGE
            raise _Refused

    def client_gone(self) -> bool:
        """The client left, or this side closed the connection."""
        return self._lost or self._closed_as is not None

    # -- refusals and timers --------------------------------------------------------------

    def _arm(self, seconds: float, refusal: _Refusal | None) -> None:
        self._cancel_timer()
        self._timer_refusal = refusal
        self._timer = self.loop.call_later(seconds, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        refusal = self._timer_refusal
        if self.transport.is_closing():
            return
        if self._lingering:
            self.transport.close()
            return
        if refusal is None:  # a response the client never read
            self._close_as("write_timeout")
            return
        if refusal is _HEAD_TIMEOUT and self._phase != _HEAD:
            self._close_as("head_timeout")  # a connection that never sent a byte
            return
        cycle = self.cycle
        if refusal is _BODY_TIMEOUT and cycle is not None and not cycle.response_complete:
            # The app may be waiting for the body: it now hears "disconnected" and stops.
            cycle.disconnected = True
            cycle.message_event.set()
            if not cycle.response_started:
                self._refuse(refusal, answering=True)
                return
        if refusal is _BODY_TIMEOUT:
            self._close_as(refusal.reason)  # an answer went out already: no second one
            return
        self._refuse(refusal)

    def _close_as(self, reason: str) -> None:
        self._cancel_timer()
        self._closed_as = reason
        self._closes.count(reason)
        log.debug("connection closed", extra=fields(reason=reason, client=self.peer()))
        self.transport.close()

    def _refuse(self, refusal: _Refusal, *, answering: bool = False) -> None:
        """Answer ``refusal`` and close; ``answering``: the current request owns the line."""
        cycle = self.cycle
        if not answering and cycle is not None and not cycle.response_complete:
            self._close_as(refusal.reason)  # a pipelined answer is under way: no room for ours
            return
        self._cancel_timer()
        self._closed_as = refusal.reason
        self._closes.count(refusal.reason)
        log.debug(
            "request refused",
            extra=fields(reason=refusal.reason, status=refusal.status, client=self.peer()),
        )
        if cycle is None or cycle.scope is not self.scope:  # the refused head is no one's
            self.headers.clear()  # not kept while the connection lingers
            self.url = b""
        transport = self.transport
        transport.write(refusal.response)
        self._lingering = True
        self.flow.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self._arm(LINGER_SECONDS, refusal)

    def _refuse_upgrade(self) -> None:
        # The request itself reached the app; whatever follows its head is another
        # protocol. Let the answer go out, then close.
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            self._closed_as = _UPGRADE.reason
            self._closes.count(_UPGRADE.reason)
            self._lingering = True  # drop the upgraded bytes
            return
        self._refuse(_UPGRADE)

    def _over_capacity(self) -> None:
        global _last_cap_warning  # noqa: PLW0603 - one rate limit for the process's warnings
        self._closed_as = _OVER_CAPACITY.reason
        self._closes.count(_OVER_CAPACITY.reason)
        now = time.monotonic()
        if now - _last_cap_warning >= _WARN_EVERY_SECONDS:
            _last_cap_warning = now
            log.warning(
                "connection cap reached: new connections get 503",
                extra=fields(max_connections=self._cap),
            )
        self.transport.write(_OVER_CAPACITY.response)
        self.transport.close()

    def peer(self) -> str:
        """The address of the connection's peer (a proxy's, behind one), for the log."""
        return self.client[0] if self.client else "?"
