"""Rendering: Jinja2 templates with autoescaping on, and the static files, from the package.

Every template is escaped by default (``autoescape=True`` for all of them, not only
``.html``) and an undefined name is an error, not an empty string. The CSS and the
script are read once from the package (no CDN, no build step) and served with a
version in their URL, so a browser may keep them while a new release is fetched
fresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from revoker.service.console.export import utc

__all__ = ["Pages", "StaticFile"]

_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    version: str


def _ago(seconds: float) -> str:
    """A duration for people: ``0.3 s``, ``12 s``, ``4 min``, ``3 h``, ``2 d``."""
    if not math.isfinite(seconds):
        return "never"
    if seconds < 10:
        return f"{seconds:.1f} s"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _utc_or_dash(ts: float | None) -> str:
    return "—" if ts is None else utc(ts)


def _date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


class Pages:
    """The templates and static files of the console."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("revoker.service.console", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["utc"] = _utc_or_dash
        self.env.filters["date"] = _date
        self.env.filters["ago"] = _ago
        self.static = self._load_static()
        self.env.globals["static"] = self.static_url

    @staticmethod
    def _load_static() -> dict[str, StaticFile]:
        files: dict[str, StaticFile] = {}
        folder = resources.files("revoker.service.console") / "static"
        for entry in folder.iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if entry.is_file() and suffix in _MEDIA_TYPES:
                body = entry.read_bytes()
                version = hashlib.sha256(body).hexdigest()[:12]
                files[entry.name] = StaticFile(body, _MEDIA_TYPES[suffix], version)
        return files

    def static_url(self, name: str) -> str:
        return f"/console/static/{name}?v={self.static[name].version}"

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)
