"""moto's DynamoDB from several threads: calls that take turns, as the service's do."""

from __future__ import annotations

import threading
from typing import Any


class OneCallAtATime:
    """A client whose calls take turns. moto's backend is not thread-safe (a transaction's
    condition checks race its writes, two ``if_not_exists`` updates can both win; DynamoDB's
    do not): each call holds one lock, as if the service took requests one by one. A
    store's head read and its transaction are still two calls, which other writers come
    between."""

    def __init__(self, inner: Any, lock: threading.Lock | None = None) -> None:
        self._inner = inner
        self._lock = lock or threading.Lock()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return call
