"""Times one in-app benchmark app in-process: each request handed straight to the ASGI or
WSGI callable (no server, no socket), best of several runs of a rotating token pool.

``python inapp_harness.py MODULE TOKENS_FILE`` prints the microseconds per request; the
variant and the settings come from the environment, as for the served apps.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS, CALLS = 7, 3000


def best_of(call: Callable[[int], Any]) -> float:
    for index in range(CALLS):  # warm: every token verified and cached once
        call(index)
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        for index in range(CALLS):
            call(index)
        best = min(best, (time.perf_counter() - started) / CALLS)
    return best * 1e6


def wsgi(app: Any, tokens: list[str]) -> float:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/me", "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr}  # fmt: skip
    environs = [{**base, "HTTP_AUTHORIZATION": f"Bearer {token}"} for token in tokens]

    def call(index: int) -> None:
        environ = dict(environs[index % len(environs)])
        environ["wsgi.input"] = io.BytesIO(b"")
        body = app(environ, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()

    return best_of(call)


def asgi(app: Any, tokens: list[str]) -> float:
    import uvloop

    base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/me", "raw_path": b"/me", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
    scopes = [
        {**base, "headers": [(b"host", b"x"), (b"authorization", f"Bearer {t}".encode())]}
        for t in tokens
    ]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    async def timed() -> float:
        for index in range(CALLS):  # warm: every token verified and cached once
            await app({**scopes[index % len(scopes)], "state": {}}, receive, send)
        best = float("inf")
        for _ in range(RUNS):
            started = time.perf_counter()
            for index in range(CALLS):
                await app({**scopes[index % len(scopes)], "state": {}}, receive, send)
            best = min(best, (time.perf_counter() - started) / CALLS)
        return best * 1e6

    async def run() -> float:
        messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})
        lifespan_scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        lifespan = asyncio.create_task(app(lifespan_scope, messages.get, send))
        await asyncio.sleep(0.5)  # the revoker starts (a thread): the first sync, the keys
        cost = await timed()
        await messages.put({"type": "lifespan.shutdown"})
        await lifespan
        return cost

    return uvloop.run(run())


def main() -> None:
    module_name, tokens_file = sys.argv[1], sys.argv[2]
    tokens = [line for line in Path(tokens_file).read_text().splitlines() if line]
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None) or module.application
    cost = asgi(app, tokens) if module_name == "inapp_fastapi" else wsgi(app, tokens)
    print(f"{cost:.2f}")


if __name__ == "__main__":
    main()
