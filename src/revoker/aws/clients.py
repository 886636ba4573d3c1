"""boto3 clients, made on first use and kept for the container's life.

boto3 costs over 100 ms to import and a client tens more to build, so nothing
here runs until a pass-through call, a username look-up or a secret read
needs it. Tests hand ``AwsClients`` ready clients (moto, or a botocore
``Stubber``) instead.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["AwsClients", "aws_error_code", "aws_errors"]


def aws_errors() -> tuple[type[Exception], ...]:
    """botocore's two error roots: a service's answer, and a client-side failure."""
    exceptions = importlib.import_module("botocore.exceptions")
    return (exceptions.ClientError, exceptions.BotoCoreError)


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code (``UserNotFoundException`` …), or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


class AwsClients:
    """One low-level client per service (and endpoint), created lazily and shared (clients
    are thread-safe). A ``ready`` client serves every endpoint of its service (tests)."""

    def __init__(
        self, *, region: str | None = None, ready: Mapping[str, Any] | None = None
    ) -> None:
        self._region = region
        # service name ("cognito-idp", "apigateway", …), or "service endpoint" -> client
        self._clients: dict[str, Any] = dict(ready or {})
        self._ready = frozenset(ready or ())
        self._lock = threading.Lock()

    def get(
        self, service: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> Any:
        """The client of ``service``; ``endpoint_url`` (and its ``region``) for the per-API
        ones: the API Gateway Management API answers at each WebSocket stage's own URL."""
        if endpoint_url is None or service in self._ready:
            key = service
        else:
            key = f"{service} {endpoint_url}"
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                boto3 = importlib.import_module("boto3")
                config = importlib.import_module("botocore.config").Config(
                    retries={"mode": "standard", "max_attempts": 4},
                    connect_timeout=2,
                    read_timeout=5,
                )
                session = boto3.session.Session()
                client = session.client(
                    service,
                    region_name=region or self._region,
                    endpoint_url=endpoint_url,
                    config=config,
                )
                self._clients[key] = client
        return client
