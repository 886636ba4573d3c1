"""Settings for an app from a mapping of revoker setting names to values.

Flask's ``app.config["REVOKER"]`` and Django's ``settings.REVOKER`` are dicts keyed by
the setting names of ``revoker.toml`` (``issuers``, ``audience``, ``store_url`` …).
Each value goes through its setting's own parser, the one ``revoker.toml`` uses
(so ``"30s"`` and ``30`` are the same duration, ``"*"`` turns the audience check
off, a list or a comma-separated string both give a list), and the result is
handed to the one loader, ``load_settings``, as the values that win: the
environment (``REVOKER_*``) and ``revoker.toml`` fill in whatever the mapping
leaves out. An unknown name is an error that names the closest valid one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from revoker.app.settings import Settings, specs
from revoker.app.sources import AUTO, load_settings
from revoker.core.errors import ConfigurationError

__all__ = ["parse_mapping", "settings_from_mapping"]


def parse_mapping(values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Each value parsed by its setting's parser; ``None`` means "not given"."""
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{where} must be a dict of revoker setting names to values")
    known = {found.toml_key: found for found in specs()}
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        found = known.get(key) if isinstance(key, str) else None
        if found is None:
            match = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f" (did you mean {match[0]}?)" if match else ""
            raise ConfigurationError(f"{where}: unknown setting {str(key)[:64]!r}{hint}")
        if raw is None:
            continue
        value = list(raw) if isinstance(raw, tuple) else raw
        parsed[found.name] = found.parser.toml(value, f"{where}[{key!r}]")
    return parsed


def settings_from_mapping(
    values: Mapping[str, Any],
    *,
    where: str,
    environ: Mapping[str, str] | None = None,
    config: str | Path | None = AUTO,
) -> Settings:
    """``load_settings`` with ``values`` (parsed) winning over the environment and the file."""
    return load_settings(
        environ=environ, config=config, overrides=parse_mapping(values, where=where)
    )
