"""Click options generated from the settings declaration, and their way back into ``Settings``.

``setting_options("verification", "registry")`` adds one option per setting of
those groups (or of the names given), each named after its setting, with the
declaration's flag, help and metavar; ``--help`` shows the environment variable
and the default. The options carry raw text (click parses nothing): every value
goes through ``load_settings``, which parses flags, the environment and
``revoker.toml`` with the same parser, in that order of precedence.

Imports only click and revoker's light modules (no web framework).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from revoker.app.setting_types import Flag
from revoker.app.settings import Settings, Spec, spec, specs
from revoker.app.sources import AUTO, load_settings

__all__ = ["CONFIG_KEY", "setting_options", "settings_from"]

F = TypeVar("F", bound=Callable[..., Any])

#: Where the group's ``--config`` leaves the file for its commands (``ctx.meta``).
CONFIG_KEY = "revoker.config"


def _option(found: Spec) -> Callable[[F], F]:
    assert found.flag is not None  # noqa: S101 - only specs with a flag get here
    default = "(secret)" if found.secret and found.default else found.parser.show(found.default)
    shown = f"[env: {found.env[0]}; default: {default}]"
    help_text = f"{found.help} {shown}"
    if isinstance(found.parser, Flag):
        name = found.flag.removeprefix("--")
        return click.option(f"{found.flag}/--no-{name}", found.name, default=None, help=help_text)
    return click.option(
        found.flag,
        found.name,
        multiple=found.parser.many,
        default=None,
        metavar=found.parser.metavar,
        help=help_text,
    )


def setting_options(*groups: str, names: Iterable[str] = ()) -> Callable[[F], F]:
    """Add the options of these setting groups (and of these setting names)."""
    chosen = [found for found in specs() if found.group in groups and found.flag is not None]
    chosen += [spec(name) for name in names if spec(name) not in chosen]

    def decorate(func: F) -> F:
        for found in reversed(chosen):
            func = _option(found)(func)
        return func

    return decorate


def settings_from(options: dict[str, Any], **overrides: Any) -> Settings:
    """Settings from a command's setting options (popped from ``options``), the environment
    and ``revoker.toml`` (``--config``, ``REVOKER_CONFIG`` or ./revoker.toml)."""
    declared = {found.name for found in specs()}
    flags = {name: options.pop(name) for name in list(options) if name in declared}
    ctx = click.get_current_context(silent=True)
    config: str | Path | None = AUTO
    if ctx is not None:
        config = ctx.find_root().meta.get(CONFIG_KEY, AUTO)
    return load_settings(flags=flags, config=config, overrides=overrides)
