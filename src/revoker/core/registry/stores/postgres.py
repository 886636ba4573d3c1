"""The PostgreSQL store: rules, a change log and an audit trail (psycopg 3 with a pool).

URL: ``postgresql://user:password@host:5432/db?schema=revoker``. Its own query
options are ``schema`` (default ``revoker``; letters, digits, ``_``),
``pool_max_size`` (default 4) and ``pool_timeout`` (seconds to wait for a
connection, default 5); the rest go to libpq (``sslmode``,
``connect_timeout``...). ``application_name`` defaults to ``revoker``, and the
LISTEN connection adds ``-push`` to it, so ``pg_stat_activity`` shows which
backend is which.

Tables, in the schema (``_postgres_sql``; created on first use or by
``migrate()``, versioned in ``schema_version``): ``rules`` (one row per active
or not yet pruned rule), ``changes`` (the log replicas follow, one row per add
or lift, with the rule's columns), ``audit`` and ``meta`` (``head``, the last
seq; ``trimmed``, the log holds nothing at or below it). Three tables, not one
with a seq column, because a lift deletes the rule yet must stay a change
replicas see, and the audit trail outlives both.

Seqs commit in order. A sequence (BIGSERIAL) numbers at ``nextval``, not at
commit: writer A takes 10, B takes 11, B commits first, and a replica that
read 11 would never look back for 10. Here the seq is the ``head`` row, bumped
by ``UPDATE ... RETURNING`` inside the write's own transaction: its row lock
makes writers take turns, and the next writer reads the number only once the
previous one committed (or rolled back, leaving no gap). So a reader that sees
seq n has seen everything below n. The cost is writers in single file for one
short transaction each; revocations are rare next to checks.

Durability: every connection runs with ``synchronous_commit = on`` whatever
the server's default, so a write returns after its WAL is flushed (and after
synchronous standbys confirm, where configured).

Push: ``pg_notify`` in the write's own transaction, delivered at commit to a
dedicated LISTEN connection per subscription; it carries only the seq.
``prune(now)`` deletes expired rules and trims old changes: call it
periodically (``Registry.prune``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import starmap
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry.push import PushListener
from revoker.core.registry.rules import (
    DuplicateRule,
    Rule,
    StoredRow,
    rule_from_row,
    stored_rule,
)
from revoker.core.registry.store import (
    DEFAULT_CHANGE_RETENTION_SECONDS,
    AuditEntry,
    Change,
    RuleFilter,
    SavedIndex,
    split_parts,
)
from revoker.core.registry.stores import _postgres_sql
from revoker.core.registry.stores._options import option_int, redact, split_options
from revoker.core.registry.stores._postgres_sql import COLUMNS, LIST_FILTERS

if TYPE_CHECKING:
    from revoker.core.registry.columns import Columns

__all__ = ["PostgresStore", "open_postgres_store"]

_COLUMN_PAGE = 131_072  # seqs per row of a columnar snapshot
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,47}")  # the channel name must stay under 64 bytes
_OWN_OPTIONS = ("schema", "pool_max_size", "pool_timeout")
_UNSEEN = object()  # no epoch read yet
# Detect a dead server or network in seconds rather than the kernel's minutes.
_LIBPQ_DEFAULTS = {
    "application_name": "revoker",
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


class PostgresStore:
    """A ``RuleStore`` and ``PushSource`` in PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "revoker",
        pool_max_size: int = 4,
        pool_timeout_seconds: float = 5.0,
        change_retention_seconds: float = DEFAULT_CHANGE_RETENTION_SECONDS,
    ) -> None:
        """``conninfo`` is a libpq URL or string without this store's own options."""
        if not _SCHEMA.fullmatch(schema):
            raise ConfigurationError("a PostgreSQL schema is 1-48 of a-z, 0-9 and '_'")
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            # libpq may quote the part it could not parse: mask a URL's password in it.
            message = redact(_one_line(exc), _url_password(conninfo))
            raise ConfigurationError(f"bad PostgreSQL store URL: {message}") from exc
        self._secret = str(params["password"]) if params.get("password") else None
        self._where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        self.conninfo = make_conninfo("", **{**_LIBPQ_DEFAULTS, **params})
        self.application_name = str(params.get("application_name", "revoker"))
        self.schema = schema
        self._sql = _postgres_sql.queries(schema)
        self.channel = f"revoker:{schema}"
        self._retention_seconds = change_retention_seconds
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._closed = False
        self._epoch: object = _UNSEEN
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=pool_max_size,
            kwargs={"autocommit": True},
            configure=_configure,
            check=ConnectionPool.check_connection,  # a killed backend is replaced, not used
            timeout=pool_timeout_seconds,
            # The pool's reconnect backoff doubles until it gives up; giving up early lets
            # the next request start afresh, so recovery after an outage takes seconds.
            reconnect_timeout=3.0,
            name=f"revoker-{schema}",
            open=False,
        )
        self._pool.open(wait=False)  # a server that is down now may be up at the first use

    def migrate(self) -> str:
        """Create or upgrade the schema (idempotent); what it did, in one line."""
        with self._errors("migrate the schema"), self._pool.connection() as conn:
            applied = _postgres_sql.apply(conn, self.schema)
        self._migrated = True
        done = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
        return f"PostgreSQL schema {self.schema!r} at version {_postgres_sql.LATEST} ({done})"

    # -- writes -------------------------------------------------------------

    def add(self, rule: Rule) -> int:
        params = {**_params(rule), "channel": self.channel}
        try:
            with self._connection("add a rule") as conn:
                row = conn.execute(self._sql["add"], params).fetchone()
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise DuplicateRule(f"a rule with id {rule.id!r} already exists") from None
            raise
        return int(row[0])

    def add_many(self, rules: Iterable[Rule]) -> int:
        """``add`` for many rules in one transaction (all or none); the last seq written."""
        params = [{**_params(rule), "channel": self.channel} for rule in rules]
        try:
            with self._connection("add rules") as conn, conn.transaction():
                if not params:
                    return int(conn.execute(self._sql["head"]).fetchone()[0])
                with conn.cursor() as cursor:
                    cursor.executemany(self._sql["add"], params, returning=True)
                    seq = 0
                    while True:  # one result per statement; the last holds the last seq
                        seq = int(cursor.fetchone()[0])
                        if not cursor.nextset():
                            return seq
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise DuplicateRule("a rule with one of these ids already exists") from None
            raise

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        with self._connection("lift a rule") as conn, conn.transaction():
            conn.execute(self._sql["lock_head"])  # first, as in add: writers take turns
            row = conn.execute(self._sql["delete_active"], {"id": rule_id, "now": now}).fetchone()
            if row is None:
                return None
            rule = _rule_from_row(row)
            params = {**_params(rule), "now": now, "who": actor, "why": reason}
            conn.execute(self._sql["log_lift"], {**params, "channel": self.channel})
        return rule

    # -- reads --------------------------------------------------------------

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        with self._connection("read the change log") as conn:
            params = {"seq": seq, "limit": max(limit, 1)}
            rows = conn.execute(self._sql["changes_since"], params).fetchall()
        head, trimmed, epoch = rows[0][:3]
        if not self._same_epoch(epoch) or seq < trimmed or seq > head:
            return None
        return [
            Change(seq=row[3], op=_op(row[4]), rule=_rule_from_row(row[5:]))
            for row in rows
            if row[3] is not None
        ]

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        seq, rows = self.snapshot_rows(now)
        try:
            return seq, list(starmap(stored_rule, rows))
        except ValueError as exc:  # InvalidRule: an unknown kind in a row edited by hand
            raise StoreError(f"the PostgreSQL store holds a malformed rule: {exc}") from exc

    def snapshot_rows(self, now: float) -> tuple[int, list[StoredRow]]:
        """``snapshot`` as plain rows in ``Rule`` field order: what a replica loads from."""
        with self._connection("read a snapshot") as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head, self._epoch = conn.execute(self._sql["head"]).fetchone()
            # A server-side cursor streams a million rules in batches, not in one reply.
            with conn.cursor(name="revoker_snapshot") as cursor:
                cursor.itersize = 50_000
                cursor.execute(self._sql["active_rules"], {"now": now})
                rows: list[StoredRow] = list(cursor)
        return int(head), rows

    def rule_count_hint(self) -> int:
        """About how many rules the store holds (expired ones not yet pruned too): how a
        replica that holds none yet picks its snapshot's shape."""
        with self._connection("count the rules") as conn:
            row = conn.execute(self._sql["rule_count"]).fetchone()
        return int(row[0]) if row else 0

    def snapshot_columns(self, now: float) -> tuple[int, Columns]:
        """``snapshot`` as columns (``registry.columns``): what a replica loads from.

        One query, in one REPEATABLE READ transaction with the seq, returns a row per
        range of seq: each column aggregated into one string (texts joined by
        separators) or one bytea (the times as float8send's 8 bytes each), taken apart
        by numpy; rows stream from a server-side cursor as they are read. A range whose
        texts hold a separator is read again as plain rows.
        """
        from revoker.core.registry.columns import Columns  # noqa: PLC0415 -- loads numpy
        from revoker.core.registry.stores._postgres_columns import (  # noqa: PLC0415
            NotColumnar,
            part_columns,
        )

        parts: list[Columns] = []
        params = {"now": now, "range": _COLUMN_PAGE}
        with self._connection("read a snapshot") as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head, self._epoch = conn.execute(self._sql["head"]).fetchone()
            with conn.cursor(name="revoker_columns", binary=True) as cursor:
                cursor.itersize = 1
                cursor.execute(self._sql["active_columns"], params)
                for row in cursor:
                    try:
                        parts.append(part_columns(row))
                    except NotColumnar:
                        query, part = self._sql["active_part"], {**params, "part": row[0]}
                        parts.append(Columns.from_rows(conn.execute(query, part).fetchall()))
        return int(head), Columns.concat(parts)

    def get(self, rule_id: str) -> Rule | None:
        with self._connection("read a rule") as conn:
            row = conn.execute(self._sql["get"], {"id": rule_id}).fetchone()
        return None if row is None else _rule_from_row(row)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        f = rule_filter
        params: dict[str, Any] = {"now": now, "limit": f.limit, "offset": f.offset}
        clauses: list[str] = []
        for column, wanted in (("kind", f.kind), ("value", f.value), ("issuer", f.issuer)):
            if wanted is not None:
                clauses.append(LIST_FILTERS[column])
                params[column] = str(wanted)
        if not f.include_expired:
            clauses.append(LIST_FILTERS["active"])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connection("list rules") as conn:
            rows = conn.execute(self._sql["list"].format(where=where), params).fetchall()
        return [_rule_from_row(row) for row in rows]

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        with self._connection("read the audit log") as conn:
            params = {"since": since_seq, "limit": max(limit, 1)}
            rows = conn.execute(self._sql["audit"], params).fetchall()
        return [AuditEntry(*row) for row in rows]

    # -- upkeep -------------------------------------------------------------

    def prune(self, now: float) -> int:
        sql = self._sql
        with self._connection("prune") as conn, conn.transaction():
            pruned = conn.execute(sql["prune_rules"], {"now": now}).rowcount
            # Trim a prefix of the log only, so "trimmed through seq n" stays true.
            horizon = {"horizon": now - self._retention_seconds}
            first_kept = conn.execute(sql["first_recent_change"], horizon).fetchone()[0]
            if first_kept is None:
                cut = conn.execute(sql["last_change"]).fetchone()[0]
            else:
                cut = first_kept - 1
            if cut:
                conn.execute(sql["trim_changes"], {"cut": cut})
                conn.execute(sql["set_trimmed"], {"cut": cut})
        return int(pruned)

    def claim_setting(self, name: str, value: float) -> float:
        params = {"name": name, "value": value}
        with self._connection("record a setting") as conn:
            row = conn.execute(self._sql["claim_setting"], params).fetchone()
            if row is None:
                # Another writer's insert committed while ours waited on it: ours did nothing,
                # and this statement's snapshot predates theirs. A new statement sees it.
                row = conn.execute(self._sql["read_setting"], params).fetchone()
            return float(row[0])

    def record_setting(self, name: str, value: float) -> None:
        with self._connection("record a setting") as conn:
            conn.execute(self._sql["record_setting"], {"name": name, "value": value})

    # -- saved indexes ----------------------------------------------------------

    def save_index(self, seq: int, data: bytes, *, written_at: float) -> None:
        """Save a built index a part per statement (bytea sent in binary), then, in one
        transaction, make it the newest and drop the older ones (``store.py``)."""
        parts = split_parts(data)
        sql = self._sql
        lock = {"lock": f"revoker-save-index:{self.schema}"}
        with self._connection("save an index") as conn:
            # One saver at a time (a session lock, released below or with the connection):
            # a second would write as much again, and leave its parts behind.
            if not conn.execute(sql["try_save_lock"], lock).fetchone()[0]:
                raise StoreError("another process is saving an index to this PostgreSQL store")
            try:
                row = conn.execute(
                    sql["new_saved_index"], {"seq": seq, "at": written_at, "parts": len(parts)}
                ).fetchone()
                generation = int(row[0])
                for number, part in enumerate(parts):
                    values = {"generation": generation, "part": number, "data": part}
                    conn.execute(sql["save_index_part"], values)
                with conn.transaction():
                    conn.execute(sql["complete_saved_index"], {"generation": generation})
                    conn.execute(sql["drop_older_saved_indexes"], {"generation": generation})
            finally:
                conn.execute(sql["save_unlock"], lock)

    def saved_index(self) -> SavedIndex | None:
        with self._connection("read a saved index") as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute(self._sql["newest_saved_index"]).fetchone()
            if row is None:
                return None
            generation, seq, written_at, count = row
            parts = conn.execute(
                self._sql["saved_index_parts"], {"generation": generation}, binary=True
            ).fetchall()
        if len(parts) != count:
            return None
        return SavedIndex(int(seq), float(written_at), b"".join(part for (part,) in parts))

    def saved_index_info(self) -> tuple[int, float] | None:
        with self._connection("read a saved index") as conn:
            row = conn.execute(self._sql["newest_saved_index"]).fetchone()
        return None if row is None else (int(row[1]), float(row[2]))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close(timeout=5.0)

    def subscribe(self, on_change: Callable[[], None]) -> PushListener:
        """Call ``on_change`` after every change any writer commits (LISTEN/NOTIFY)."""
        self._check_open()
        # Its own application_name, so pg_stat_activity tells the listener apart.
        conninfo = make_conninfo(self.conninfo, application_name=f"{self.application_name}-push")
        channel = self.channel
        return PushListener(
            lambda: _ListenChannel(conninfo, channel), on_change, name="postgresql"
        ).start()

    # -- internals ----------------------------------------------------------

    @contextmanager
    def _connection(self, what: str) -> Iterator[Any]:
        """A pooled connection (autocommit), the schema in place, errors as ``StoreError``."""
        with self._errors(what):
            if not self._migrated:
                with self._migrate_lock:
                    if not self._migrated:
                        self.migrate()
            with self._pool.connection() as conn:
                yield conn

    def _same_epoch(self, epoch: int) -> bool:
        """Whether the schema is the one this reader saw before (a recreated one is not)."""
        seen, self._epoch = self._epoch, epoch
        return seen is _UNSEEN or seen == epoch

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the PostgreSQL store at {self._where} is closed")

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except psycopg.Error as exc:
            message = redact(_one_line(exc), self._secret) or type(exc).__name__
            raise StoreError(
                f"the PostgreSQL store at {self._where} could not {what}: {message}"
            ) from exc


def open_postgres_store(url: str) -> PostgresStore:
    """``postgresql://user@host:5432/db?schema=revoker`` (see the module docstring)."""
    rest, own = split_options(url, _OWN_OPTIONS)
    return PostgresStore(
        rest,
        schema=own.get("schema", "revoker"),
        pool_max_size=option_int(own, "pool_max_size", 4, low=1, high=100),
        pool_timeout_seconds=float(option_int(own, "pool_timeout", 5, low=1, high=600)),
    )


class _ListenChannel:
    """A LISTEN connection of its own; a lost one surfaces, as NOTIFY is not replayed."""

    def __init__(self, conninfo: str, channel: str, *, heartbeat_seconds: float = 5.0) -> None:
        self._conn = psycopg.connect(conninfo, autocommit=True)
        try:
            self._conn.execute(f'LISTEN "{channel}"')  # a validated schema makes the name
        except BaseException:
            self._conn.close()
            raise
        self._heartbeat_seconds = heartbeat_seconds
        self._last_heard = time.monotonic()

    def wait(self, timeout_seconds: float) -> int:
        received = sum(1 for _ in self._conn.notifies(timeout=timeout_seconds, stop_after=1))
        now = time.monotonic()
        if received:
            self._last_heard = now
        elif now - self._last_heard > self._heartbeat_seconds:
            self._conn.execute("SELECT 1")  # a silent network never raises; a query does
            self._last_heard = now
        return received

    def close(self) -> None:
        self._conn.close()


def _configure(conn: Any) -> None:
    conn.execute("SET synchronous_commit = on")


def _params(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in COLUMNS.split(", ")} | {"kind": str(rule.kind)}


def _op(text: str) -> Literal["add", "lift"]:
    return "add" if text == "add" else "lift"


def _rule_from_row(row: Any) -> Rule:
    return rule_from_row(row, store="PostgreSQL")


def _url_password(conninfo: str) -> str | None:
    try:
        password = urlsplit(conninfo).password
    except ValueError:
        return None
    return unquote(password) if password else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
