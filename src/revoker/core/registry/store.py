"""The rule store protocol, and ``open_store(url)`` to pick a backend by URL.

A store keeps three things: the rules, a change log numbered by a sequence
(``seq``) that replicas follow, and an audit trail. What every backend must
guarantee (``tests/registry/test_store_contract.py`` checks it):

- ``add`` and ``lift`` are durable before they return, and each appends one
  change and one audit entry carrying the same ``seq``.
- ``seq`` only grows, and changes become visible in ``seq`` order: once a
  reader has seen ``seq`` n, no change below n appears later.
- ``changes_since(seq)`` returns the changes after ``seq``, oldest first, or
  None when the log no longer reaches back that far (it was trimmed) or ``seq``
  is ahead of the store (the store was replaced); the reader then takes a
  ``snapshot``.
- A rule is *active* until it is lifted (lifting deletes it) or until
  ``expires_at``; ``prune`` deletes expired rules and may trim old changes.
- ``claim_setting(name, value)`` records a value every process using the store
  must agree on, unless one is recorded already, and returns the recorded one
  (atomically: two processes claiming at once see the same winner). The
  registry records the maximum token lifetime its rules are written for.

Optional, not part of the protocol (callers look them up with ``getattr``):

- ``add_many(rules) -> int``: ``add`` for many rules in bulk, each with its own
  change and audit entry; the last seq written (for seeding and benchmarks).
- ``snapshot_rows(now) -> (seq, rows)``: ``snapshot`` as plain tuples in
  ``Rule`` field order, kind as its string (``rules.StoredRow``), trusted and
  not validated again; a replica loads from it without building a ``Rule``
  per rule (SQLite, Redis and PostgreSQL have both).
- ``save_index(seq, data, *, written_at)``, ``saved_index() -> SavedIndex | None`` and
  ``saved_index_info() -> (seq, written_at) | None``: a built compact index saved
  whole (``index_snapshot.py``), so the next replica loads it rather than building
  it. Saving writes a new one beside the old and switches to it at once: a reader
  gets the old one whole, the new one whole, or None; never a mix (SQLite,
  PostgreSQL, Redis and memory have them).

- ``reader()``: a reader of the change log of its own (``changes_since`` and
  ``snapshot``), for a store whose seqs mean something only to the reader that was
  given them (sharded DynamoDB, ``stores/_dynamodb_shards.py``): a replica reads
  through one. There, seqs are not one order of every write: the contract tests
  marked ``global_order`` do not apply, ``tests/aws/test_dynamodb_shards.py`` says
  what does.

Backends are found by URL scheme in ``_BACKENDS`` and imported only when asked
for, so the core never loads a driver it does not use.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from revoker.core.errors import ConfigurationError
from revoker.core.registry.rules import InvalidRule, Rule, RuleKind

__all__ = [
    "DEFAULT_CHANGE_RETENTION_SECONDS",
    "AuditEntry",
    "Change",
    "RuleFilter",
    "RuleStore",
    "SavedIndex",
    "open_store",
    "split_parts",
]

#: How long ``prune`` keeps change-log entries; a replica further behind reloads a snapshot.
DEFAULT_CHANGE_RETENTION_SECONDS = 3600.0

_MAX_PAGE = 10_000
#: The most bytes of a saved index one row, key or request carries. Small, because the
#: drivers keep a buffer the size of the largest value a connection read (libpq, hiredis):
#: 32 MB parts left 34 MB resident after a load, 4 MB parts 4-8 MB.
INDEX_PART_BYTES = 4 << 20

# scheme -> "module:function(url) -> RuleStore". Adding a backend is one line here.
_BACKENDS: dict[str, str] = {
    "memory": "revoker.core.registry.stores.memory:open_memory_store",
    "sqlite": "revoker.core.registry.stores.sqlite:open_sqlite_store",
    "redis": "revoker.core.registry.stores.redis:open_redis_store",
    "rediss": "revoker.core.registry.stores.redis:open_redis_store",
    "postgresql": "revoker.core.registry.stores.postgres:open_postgres_store",
    "postgres": "revoker.core.registry.stores.postgres:open_postgres_store",
    "dynamodb": "revoker.core.registry.stores.dynamodb:open_dynamodb_store",
}
_EXTRAS = {"redis": "redis", "rediss": "redis", "postgresql": "postgres", "postgres": "postgres",
           "dynamodb": "aws"}  # fmt: skip
_SUPPORTED = (
    "memory://, sqlite:///relative/path, sqlite:////absolute/path, redis://host:port/db, "
    "postgresql://user@host/db, dynamodb://TABLE?region=REGION"
)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: a rule added or lifted."""

    seq: int
    op: Literal["add", "lift"]
    rule: Rule


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """A saved compact index as a store hands it back: the seq it reflects, when it was
    written (the writer's clock) and its bytes (``index_snapshot.load_index`` reads them)."""

    seq: int
    written_at: float
    data: bytes


def split_parts(data: bytes) -> list[memoryview]:
    """``data`` in parts of at most ``INDEX_PART_BYTES`` (at least one part)."""
    view = memoryview(data)
    size = INDEX_PART_BYTES
    return [view[at : at + size] for at in range(0, max(len(data), 1), size)]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who revoked or lifted which rule, when and why; ``seq`` is the change's."""

    seq: int
    at: float
    actor: str
    action: Literal["revoke", "lift"]
    rule_id: str
    kind: str
    value: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, as the CLI, the service and the AWS handler print it."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFilter:
    """Which rules ``list_rules`` returns; in the order they were added, one page at a time.

    ``issuer`` compares with the rule's scope; ``include_expired`` also lists
    rules past ``expires_at`` that were not pruned yet.
    """

    kind: RuleKind | None = None
    value: str | None = None
    issuer: str | None = None
    include_expired: bool = False
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if self.kind is not None and not isinstance(self.kind, RuleKind):
            raise InvalidRule(f"unknown rule kind {self.kind!r}")
        if not 1 <= self.limit <= _MAX_PAGE:
            raise InvalidRule(f"limit must be between 1 and {_MAX_PAGE}")
        if self.offset < 0:
            raise InvalidRule("offset must not be negative")


class RuleStore(Protocol):
    """Durable rules, their change log and their audit trail (see the module docstring)."""

    def add(self, rule: Rule) -> int:
        """Store ``rule`` durably, log an ``add`` change and a ``revoke`` audit entry; the seq.

        A rule whose id is already stored raises ``InvalidRule``.
        """
        ...

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        """Delete an active rule, log a ``lift`` change and audit entry; None if none is active."""
        ...

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        """Up to ``limit`` changes after ``seq``, oldest first; None: take a snapshot instead."""
        ...

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        """The current seq and every active rule, read consistently."""
        ...

    def get(self, rule_id: str) -> Rule | None:
        """The stored rule with this id (expired but not pruned ones too), or None."""
        ...

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        """One page of the rules ``rule_filter`` selects, oldest first."""
        ...

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        """Up to ``limit`` audit entries after ``since_seq``, oldest first."""
        ...

    def prune(self, now: float) -> int:
        """Delete rules expired at ``now`` (and trim old changes); how many rules went."""
        ...

    def claim_setting(self, name: str, value: float) -> float:
        """Record ``value`` under ``name`` unless a value is recorded; the recorded value."""
        ...

    def record_setting(self, name: str, value: float) -> None:
        """Record ``value`` under ``name``, replacing what was there (``revoker migrate``)."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...


def open_store(url: str) -> RuleStore:
    """Open the store a URL names.

    - ``memory://``: a new in-process store (nothing shared, nothing kept).
    - ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db``: a
      file, as SQLAlchemy spells it (three slashes, then the path; an absolute
      path brings its own slash).
    """
    scheme, sep, _ = url.partition("://")
    target = _BACKENDS.get(scheme.lower()) if sep else None
    if target is None:
        # Name only the scheme: a URL may carry a password.
        shown = scheme[:32] if sep else "(none)"
        raise ConfigurationError(f"unsupported store URL scheme {shown!r}: use {_SUPPORTED}")
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The backend's driver is an optional extra (redis, postgres, aws).
        extra = _EXTRAS.get(scheme.lower(), "all")
        raise ConfigurationError(
            f"the {scheme} store needs {exc.name!r}: pip install 'revoker[{extra}]'"
        ) from exc
    opener = cast("Callable[[str], RuleStore]", getattr(module, function_name))
    return opener(url)
