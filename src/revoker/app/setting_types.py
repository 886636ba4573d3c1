"""How a setting's value is read: one parser per kind, used by every source.

The environment, ``revoker.toml``, command-line flags and the worker hand-off all
go through these, so ``REVOKER_FAIL_OPEN=on`` means the same to ``revoker serve``
and to the Lambda, and ``30``, ``"30s"`` and ``"0.5m"`` are the same duration
everywhere. A value that does not parse is one ``ConfigurationError`` line naming
the setting's source (the variable, the key or the flag), never a traceback.

Each parser turns text (environment, flags) or a TOML value into the setting's
value, turns the value into JSON and back (the worker hand-off), and shows it
for the docs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from revoker.core.errors import ConfigurationError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "Audience",
    "Choice",
    "Flag",
    "Integer",
    "Pairs",
    "Parser",
    "Seconds",
    "Text",
    "Texts",
    "parse_bool",
    "parse_seconds",
]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|m|h|d)?")


def parse_bool(text: str, where: str) -> bool:
    """``true/false``, ``1/0``, ``yes/no``, ``on/off`` in any case; anything else is an error."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigurationError(
        f"{where} must be true or false (or on/off, yes/no, 1/0), not {_shown(text)}"
    )


def parse_seconds(text: str, where: str) -> float:
    """Seconds as a plain number, or with a unit: ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ConfigurationError(
            f"{where} must be a duration such as 30, 30s, 500ms, 5m, 1h or 1d, not {_shown(text)}"
        )
    return float(match["number"]) * _UNITS[match["unit"] or "s"]


def _shown(text: object) -> str:
    # A value may be a secret in the wrong place: show only its start.
    shown = repr(str(text)[:32])
    return shown + "…" if len(str(text)) > 32 else shown


@dataclass(frozen=True, slots=True)
class Parser:
    """Reads one kind of value. Subclasses override ``text`` (and ``toml`` where TOML has
    a native type for it)."""

    #: What ``--help`` and the docs call the value.
    metavar: str = "TEXT"
    #: Repeatable on the command line; comma-separated in the environment; a list in TOML.
    many: bool = False

    def text(self, raw: str, where: str) -> Any:
        return raw

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, str):
            return self.text(raw, where)
        raise ConfigurationError(f"{where} must be a string")

    def flags(self, raw: Any, where: str) -> Any:
        """What click hands over: a string, a tuple of them for ``many``, a bool for flags."""
        return self.text(raw, where)

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, raw: Any) -> Any:
        return raw

    def show(self, value: Any) -> str:
        return "—" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Text(Parser):
    """A string; ``pattern`` (a regular expression) must match all of it when given."""

    pattern: str | None = None
    explain: str = ""

    def text(self, raw: str, where: str) -> Any:
        value = raw.strip()
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ConfigurationError(f"{where} must be {self.explain}, not {_shown(raw)}")
        return value


@dataclass(frozen=True, slots=True)
class Texts(Parser):
    """A tuple of strings: repeated flags, comma-separated text, or a TOML list."""

    many: bool = True
    item: Text = Text()

    def text(self, raw: str, where: str) -> Any:
        return tuple(self.item.text(part, where) for part in raw.split(",") if part.strip())

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, str):
            return self.text(raw, where)
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return tuple(value for item in raw for value in self.text(item, where))
        raise ConfigurationError(f"{where} must be a list of strings")

    def flags(self, raw: Any, where: str) -> Any:
        return tuple(value for item in raw for value in self.text(item, where))

    def to_json(self, value: Any) -> Any:
        return None if value is None else list(value)

    def from_json(self, raw: Any) -> Any:
        return None if raw is None else tuple(raw)

    def show(self, value: Any) -> str:
        if value is None:
            return "—"
        return ", ".join(value) if value else "(none)"


@dataclass(frozen=True, slots=True)
class Audience(Texts):
    """Accepted audiences; ``*`` alone turns the check off (None), explicitly."""

    def text(self, raw: str, where: str) -> Any:
        return self._star(Texts.text(self, raw, where), where)

    # Texts.toml/flags call ``self.text`` per item: give them a plain Texts, so "*" is
    # turned into None once, over the whole list (a star per item crashed: None is no list).
    def toml(self, raw: Any, where: str) -> Any:
        return self._star(Texts.toml(Texts(item=self.item), raw, where), where)

    def flags(self, raw: Any, where: str) -> Any:
        return self._star(Texts.flags(Texts(item=self.item), raw, where), where)

    @staticmethod
    def _star(values: tuple[str, ...], where: str) -> tuple[str, ...] | None:
        if "*" not in values:
            return values
        if values != ("*",):
            raise ConfigurationError(f"{where}: '*' (no audience check) stands alone")
        return None

    def show(self, value: Any) -> str:
        return "'*' (no check)" if value is None else Texts.show(self, value)


@dataclass(frozen=True, slots=True)
class Flag(Parser):
    """A boolean: ``--name/--no-name`` on the command line."""

    metavar: str = "BOOL"

    def text(self, raw: str, where: str) -> Any:
        return parse_bool(raw, where)

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, bool):
            return raw
        return self.text(raw, where) if isinstance(raw, str) else Parser.toml(self, raw, where)

    def flags(self, raw: Any, where: str) -> Any:
        return bool(raw)

    def show(self, value: Any) -> str:
        return "true" if value else "false"


def _number(raw: Any, where: str, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigurationError(f"{where} must be {what}")
    return float(raw)


@dataclass(frozen=True, slots=True)
class Integer(Parser):
    metavar: str = "N"
    low: int = 0
    high: int = 2**31

    def text(self, raw: str, where: str) -> Any:
        text = raw.strip()
        # isdigit() alone takes "²"; int() takes "1_000" and " 1": ASCII digits only.
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            raise ConfigurationError(f"{where} must be a whole number, not {_shown(raw)}")
        return self._checked(int(text), where)

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, str):
            return self.text(raw, where)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigurationError(f"{where} must be a whole number")
        return self._checked(raw, where)

    def _checked(self, value: int, where: str) -> int:
        if not self.low <= value <= self.high:
            raise ConfigurationError(f"{where} must lie between {self.low} and {self.high}")
        return value


@dataclass(frozen=True, slots=True)
class Seconds(Parser):
    """A duration in seconds (``30``, ``30s``, ``500ms``, ``5m``, ``1h``, ``1d``)."""

    metavar: str = "DURATION"
    low: float = 0.0
    high: float = math.inf
    low_open: bool = False  # True: the value must be strictly above ``low``

    def text(self, raw: str, where: str) -> Any:
        return self._checked(parse_seconds(raw, where), where)

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, str):
            return self.text(raw, where)
        return self._checked(_number(raw, where, "a number of seconds"), where)

    def _checked(self, value: float, where: str) -> float:
        too_low = value <= self.low if self.low_open else value < self.low
        if not math.isfinite(value) or too_low or value > self.high:
            low = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
            high = "" if math.isinf(self.high) else f" and at most {self.high:g}"
            raise ConfigurationError(f"{where} must be {low}{high} seconds")
        return value

    def show(self, value: Any) -> str:
        return show_seconds(value)


@dataclass(frozen=True, slots=True)
class Choice(Parser):
    choices: tuple[str, ...] = ()

    def text(self, raw: str, where: str) -> Any:
        value = raw.strip().lower()
        if value not in self.choices:
            raise ConfigurationError(
                f"{where} must be one of {', '.join(self.choices)}, not {_shown(raw)}"
            )
        return value


@dataclass(frozen=True, slots=True)
class Pairs(Parser):
    """Tuples of ``LEFT<sep>RIGHT`` (introspection clients ``ID:SECRET``, stages ``API/STAGE``),
    checked by ``split`` (which raises ``ConfigurationError`` for a bad one)."""

    many: bool = True
    split: Callable[[str, str], tuple[str, str]] = lambda raw, where: (raw, "")

    def text(self, raw: str, where: str) -> Any:
        return tuple(self.split(part.strip(), where) for part in raw.split(",") if part.strip())

    def toml(self, raw: Any, where: str) -> Any:
        if isinstance(raw, str):
            return self.text(raw, where)
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return tuple(pair for item in raw for pair in self.text(item, where))
        raise ConfigurationError(f"{where} must be a list of strings")

    def flags(self, raw: Any, where: str) -> Any:
        return tuple(pair for item in raw for pair in self.text(item, where))

    def to_json(self, value: Any) -> Any:
        return [list(pair) for pair in value]

    def from_json(self, raw: Any) -> Any:
        return tuple((str(left), str(right)) for left, right in raw)

    def show(self, value: Any) -> str:
        return "(none)" if not value else ", ".join("/".join(pair) for pair in value)


def show_seconds(value: float) -> str:
    """A duration the way the parser reads it back: ``30s``, ``5m``, ``1d``, ``0.5s``."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def first_present(values: Sequence[Any]) -> Any:
    """The first value that is not None (several sources for one setting)."""
    return next((value for value in values if value is not None), None)
