"""URL options shared by the server-backed stores: own query options, names, redaction."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from revoker.core.errors import ConfigurationError

__all__ = ["option_int", "redact", "split_options", "valid_name"]

_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def split_options(url: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """The URL without the query options in ``names``, and those options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {name: value for name, value in query if name in names}
    rest = [(name, value) for name, value in query if name not in names]
    return urlunsplit(parts._replace(query=urlencode(rest))), own


def option_int(
    options: dict[str, str], name: str, default: int, *, low: int, high: int = 2**31
) -> int:
    """An integer option in [low, high], or ``default`` when absent."""
    text = options.get(name)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ConfigurationError(f"the store URL option {name} must be an integer {low}..{high}")
    return number


def valid_name(name: str, *, extra: str = "") -> bool:
    """1-64 letters, digits and underscores (plus the characters in ``extra``)."""
    return bool(_NAME.fullmatch(name.translate({ord(c): "_" for c in extra})))


def redact(text: str, secret: str | None) -> str:
    """``text`` with the URL's password masked, should a driver ever echo it."""
    return text.replace(secret, "***") if secret else text
