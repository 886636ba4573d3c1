"""The dev issuer's users: a dataclass, a users file, and the ``--user`` flag."""

from __future__ import annotations

import json
import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revoker.core.errors import ConfigurationError

__all__ = ["DEFAULT_USERS", "DevUser", "load_users", "parse_user_flag"]

_FIELDS = frozenset({"username", "password", "email", "groups", "sub"})
_USER_FLAG = "NAME:PASSWORD[:EMAIL[:GROUP1,GROUP2]]"


def _is_name(value: object) -> bool:
    # Cognito user and group names are printable and carry no whitespace.
    return (
        isinstance(value, str)
        and 0 < len(value) <= 128
        and value.isprintable()
        and not any(char.isspace() for char in value)
    )


@dataclass(frozen=True)
class DevUser:
    """A user the dev issuer will sign in. ``sub`` is a fresh UUID unless given."""

    username: str
    password: str = field(repr=False)
    email: str
    groups: tuple[str, ...] = ()
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not _is_name(self.username):
            raise ConfigurationError(
                f"username {self.username!r} must be 1-128 printable characters without spaces"
            )
        if not isinstance(self.password, str) or not self.password:
            raise ConfigurationError(f"user {self.username!r} needs a non-empty password")
        if not isinstance(self.email, str) or "@" not in self.email:
            raise ConfigurationError(f"user {self.username!r} needs an e-mail address")
        if isinstance(self.groups, str) or not all(_is_name(group) for group in self.groups):
            raise ConfigurationError(
                f"the groups of user {self.username!r} must be names without spaces"
            )
        if not isinstance(self.sub, str) or not self.sub:
            raise ConfigurationError(f"user {self.username!r} needs a non-empty sub")
        object.__setattr__(self, "groups", tuple(self.groups))


#: The users a dev issuer starts with when given none (passwords are for local demos only).
DEFAULT_USERS: tuple[DevUser, ...] = (
    DevUser("alice", "alice-password", "alice@example.com", ("admin",)),
    DevUser("bob", "bob-password", "bob@example.com"),
)


def parse_user_flag(text: str) -> DevUser:
    """A user from ``NAME:PASSWORD[:EMAIL[:GROUP1,GROUP2]]`` (the password cannot hold ':')."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        raise ConfigurationError(f"--user must look like {_USER_FLAG}")
    username, password = parts[0], parts[1]
    email = parts[2] if len(parts) > 2 and parts[2] else f"{username}@example.com"
    groups = tuple(g.strip() for g in parts[3].split(",") if g.strip()) if len(parts) > 3 else ()
    return DevUser(username=username, password=password, email=email, groups=groups)


def _user_from_entry(entry: object, where: str) -> DevUser:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: each user must be an object")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigurationError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    username, password = entry.get("username"), entry.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ConfigurationError(f"{where}: 'username' and 'password' must be strings")
    email = entry.get("email", f"{username}@example.com")
    groups = entry.get("groups", [])
    if not isinstance(groups, list):
        raise ConfigurationError(f"{where}: 'groups' must be a list of names")
    fields: dict[str, Any] = {"email": email, "groups": tuple(groups)}
    if "sub" in entry:
        fields["sub"] = entry["sub"]
    try:
        return DevUser(username=username, password=password, **fields)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def load_users(path: str | os.PathLike[str]) -> list[DevUser]:
    """Users from a JSON list, or a JSON/TOML ``users`` table: ``[{"username", "password", …}]``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the users file {file}: {exc}") from exc
    try:
        document: Any = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise ConfigurationError(f"{file} is not valid {file.suffix[1:] or 'JSON'}") from exc
    entries = document.get("users") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{file} must hold a non-empty list of users")
    users = [_user_from_entry(entry, f"{file}, user {i + 1}") for i, entry in enumerate(entries)]
    names = [user.username for user in users]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{file} lists a username twice")
    return users
