"""``revoker serve`` as a subprocess, as a user runs it: shared by the service, hardening and
peer suites (this folder is on the test path, as tests/conftest.py lives here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ServeProcess"]


class ServeProcess:
    """``revoker serve`` as a subprocess, on an ephemeral port; its banner gives the URL.

    ``stop()`` sends SIGTERM and returns the exit code (bounded); the teardown kills
    it if it is still running. stdout and stderr are drained by threads into lists.
    """

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        command = [sys.executable, "-m", "revoker.cli", "serve", "--port", "0", *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._banner = threading.Event()
        self._readers = [
            threading.Thread(
                target=self._drain, args=(self.process.stdout, self.stdout), daemon=True
            ),
            threading.Thread(
                target=self._drain, args=(self.process.stderr, self.stderr), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _drain(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self._banner.set()
        stream.close()

    def wait_ready(self, timeout_seconds: float = 20) -> str:
        """Wait for the banner, then for /readyz to answer 200; the base URL."""
        deadline = time.monotonic() + timeout_seconds
        while not self._banner.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("revoker serve did not start:\n" + "\n".join(self.stderr))
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("revoker serve never became ready:\n" + "\n".join(self.stderr))

    def wait_exit(self, timeout_seconds: float = 20) -> int:
        code = self.process.wait(timeout_seconds)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it; its exit code."""
        self.process.send_signal(sig)
        return self.wait_exit()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
