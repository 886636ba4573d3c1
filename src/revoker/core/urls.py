"""URLs shown to a person or a log: their credentials hidden."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redacted_url"]

_SECRET_QUERY_NAMES = frozenset({"password", "pass", "secret", "token", "key", "credential"})


def redacted_url(url: str) -> str:
    """``url`` with its password and any secret-bearing query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.partition("://")[0] + "://***"
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        username = userinfo.partition(":")[0]
        netloc = f"{username}:***@{hostport}" if ":" in userinfo else f"{username}@{hostport}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        hidden = [(k, "***" if _secret_name(k) else v) for k, v in pairs]
        query = urlencode(hidden, safe="*") if hidden != pairs else query
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide (and urlunsplit would drop sqlite:///'s empty host)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_QUERY_NAMES)
