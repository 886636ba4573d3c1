"""Where settings come from, in rising precedence: the defaults, ``revoker.toml``, the
environment, the command line, and values a caller passes itself.

``load_settings`` is the one loader: ``revoker serve``, every CLI command, the
Lambda handlers (``environ`` only) and the in-app integrations call it. Every
value goes through its declaration's parser (``app.setting_types``), so a
setting reads the same everywhere. An unknown ``REVOKER_*`` variable or toml key
is an error that names the closest valid one: a misspelt ``REVOKER_FAIL_OPNE``
must not silently leave a default in place.

``revoker.toml`` (``--config`` / ``REVOKER_CONFIG``, else ``./revoker.toml`` when
present) may hold its keys at the top level or under a ``[revoker]`` table. A
file that others could write is refused, and so is one holding a secret that
others can read; ``./revoker.toml`` is not picked up from a directory anyone can
write (pass it explicitly to use it).
"""

from __future__ import annotations

import difflib
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from revoker.app.settings import Settings, Spec, by_env, specs
from revoker.core.errors import ConfigurationError

__all__ = ["AUTO", "RESERVED_ENV", "SETTINGS_ENV", "config_path", "load_settings", "read_toml"]

log = logging.getLogger("revoker.settings")

AUTO: Final = "auto"
DEFAULT_CONFIG = "revoker.toml"
#: ``REVOKER_*`` names that are not settings: the config file, the worker hand-off, and the
#: test suite's own switches (``REVOKER_TEST_*``, ``REVOKER_REQUIRE_SERVICES``).
#: The environment variable that hands the settings to each worker process.
SETTINGS_ENV = "REVOKER_SETTINGS_JSON"
RESERVED_ENV = frozenset({"REVOKER_CONFIG", SETTINGS_ENV, "REVOKER_REQUIRE_SERVICES"})
_RESERVED_PREFIX = "REVOKER_TEST_"


def load_settings(
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config: str | Path | None = AUTO,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from every source; ``flags`` maps setting names to what click gave (None:
    not given); ``config`` is a toml path, ``AUTO`` (``REVOKER_CONFIG`` or ./revoker.toml)
    or None (no file); ``overrides`` are typed values that win over everything."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_path(config, env)
    if path is not None:
        values.update(read_toml(path))
    values.update(_from_env(env))
    values.update(_from_flags(flags or {}))
    values.update(overrides or {})
    return Settings(**values)


def config_path(config: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The toml file to read, or None."""
    if config is None:
        return None
    if config != AUTO:
        return Path(config)
    named = environ.get("REVOKER_CONFIG")
    if named:
        return Path(named)
    default = Path(DEFAULT_CONFIG)
    if not default.is_file():
        return None
    here = Path.cwd().stat()
    if here.st_mode & stat.S_IWOTH and not here.st_mode & stat.S_ISVTX:
        raise ConfigurationError(
            f"not reading ./{DEFAULT_CONFIG}: its directory is writable by anyone; "
            f"pass --config {DEFAULT_CONFIG} to use it anyway"
        )
    return default


def read_toml(path: Path) -> dict[str, Any]:
    """A toml file's settings, parsed; refused when others may write it, or read its secrets."""
    try:
        text = path.read_text(encoding="utf-8")
        info = path.stat()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigurationError(f"the config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    section = data.get("revoker", data)
    if not isinstance(section, dict) or ("revoker" in data and len(data) > 1):
        raise ConfigurationError(f"{path}: put the settings at the top level or under [revoker]")
    known = {found.toml_key: found for found in specs()}
    values: dict[str, Any] = {}
    for key, raw in section.items():
        found = known.get(key)
        if found is None:
            raise ConfigurationError(f"{path}: unknown setting {key!r}{_closest(key, known)}")
        values[found.name] = found.parser.toml(raw, f"{key} in {path}")
    _check_file_mode(path, info.st_mode, has_secrets=any(known[k].secret for k in section))
    return values


def _check_file_mode(path: Path, mode: int, *, has_secrets: bool) -> None:
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigurationError(
            f"{path} is writable by others: anyone who can edit it controls what is trusted "
            f"(chmod go-w {path})"
        )
    if has_secrets and mode & stat.S_IROTH:
        raise ConfigurationError(
            f"{path} holds a secret and is readable by everyone (chmod 600 {path}, or move the "
            "secret to the environment)"
        )
    if has_secrets and mode & stat.S_IRGRP:
        log.warning("%s holds a secret and is readable by its group", path)


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    names = by_env()
    values: dict[str, Any] = {}
    for name in environ:
        if not name.startswith("REVOKER_"):
            continue
        if name in RESERVED_ENV or name.startswith(_RESERVED_PREFIX):
            continue
        if name not in names:
            raise ConfigurationError(f"unknown environment variable {name}{_closest(name, names)}")
    for found in specs():
        given = next((environ[env] for env in found.env if environ.get(env, "").strip()), None)
        if given is not None:  # an empty variable counts as unset, as in most tools
            values[found.name] = found.parser.text(given, found.env[0])
    return values


def _from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    known = {found.name: found for found in specs()}
    values: dict[str, Any] = {}
    for name, raw in flags.items():
        if raw is None or raw == ():
            continue  # not given on the command line
        found = known.get(name)
        if found is None:
            raise ConfigurationError(f"unknown setting {name!r}")
        values[name] = found.parser.flags(raw, _flag_name(found))
    return values


def _flag_name(found: Spec) -> str:
    return found.flag or found.name


def _closest(name: str, candidates: Mapping[str, Any]) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""
