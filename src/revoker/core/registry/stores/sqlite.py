"""The embedded store: one SQLite file, shared safely by threads and processes.

WAL lets readers run beside the one writer; ``synchronous=FULL`` makes a
revoke durable before it returns; every operation is one short transaction
(``BEGIN IMMEDIATE`` for writes, so two processes never both think they may
write) and waits up to the busy timeout for a lock. Inside a process one
connection serves every thread behind a lock: the replica's poll and the
occasional revoke are all that touch it, never the per-request check.

Replicas in other processes see changes by polling ``changes_since``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import starmap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from revoker.core.errors import ConfigurationError, StoreError
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

if TYPE_CHECKING:
    from revoker.core.registry.columns import Columns

__all__ = ["SqliteStore", "open_sqlite_store"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rules (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
        issuer TEXT, cutoff REAL, expires_at REAL, reason TEXT NOT NULL, actor TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rules_by_kind_value ON rules (kind, value)",
    "CREATE INDEX IF NOT EXISTS rules_by_expiry ON rules (expires_at)",
    "CREATE INDEX IF NOT EXISTS rules_by_seq ON rules (seq)",
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, at REAL NOT NULL,
        rule TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit (
        seq INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        rule_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('trimmed_through', 0)",
    "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value REAL NOT NULL)",
    # Saved compact indexes (index_snapshot.py): a generation is read once complete.
    """CREATE TABLE IF NOT EXISTS saved_indexes (
        generation INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,
        written_at REAL NOT NULL, parts INTEGER NOT NULL, complete INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS saved_index_parts (
        generation INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (generation, part))""",
)
_RULE_COLUMNS = "id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at"
_ACTIVE = "(expires_at IS NULL OR expires_at > ?)"
_NEWEST_SAVED_INDEX = (
    "SELECT generation, seq, written_at, parts FROM saved_indexes WHERE complete = 1"
    " ORDER BY generation DESC LIMIT 1"
)
_PAGE = 10_000  # rows per snapshot page
_COLUMN_PAGE = 131_072  # seqs per range of a columnar snapshot


class SqliteStore:
    """A ``RuleStore`` in one SQLite file (created with its schema on first use)."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_seconds: float = 5.0,
        change_retention_seconds: float = DEFAULT_CHANGE_RETENTION_SECONDS,
    ) -> None:
        self.path = Path(path)
        self._retention_seconds = change_retention_seconds
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        conn: sqlite3.Connection | None = None
        try:
            _create_private(self.path)
            conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_seconds,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # shared behind self._lock
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from exc
        self._conn = conn
        try:
            with self._transaction("create the schema", write=True) as db:
                for statement in _SCHEMA:
                    db.execute(statement)
        except StoreError:
            self.close()
            raise

    def add(self, rule: Rule) -> int:
        with self._transaction("add a rule", write=True) as db:
            if db.execute("SELECT 1 FROM rules WHERE id = ?", (rule.id,)).fetchone():
                raise DuplicateRule(f"a rule with id {rule.id!r} already exists")
            seq = _log(db, "add", rule, at=rule.created_at, actor=rule.actor, why=rule.reason)
            db.execute(
                f"INSERT INTO rules (seq, {_RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 -- constant column list
                (seq, *_row(rule)),
            )
            return seq

    def add_many(self, rules: Iterable[Rule]) -> int:
        """``add`` for many rules in one transaction (all or none); the last seq written.

        Each rule still gets its change and audit entry, numbered in order. An id
        already stored, or repeated in ``rules``, raises ``InvalidRule`` and writes nothing.
        """
        batch = list(rules)
        with self._transaction("add rules", write=True) as db:
            head = _current_seq(db)
            if not batch:
                return head
            seqs = range(head + 1, head + 1 + len(batch))
            try:
                db.executemany(
                    f"INSERT INTO rules (seq, {_RULE_COLUMNS}) VALUES ({', '.join('?' * 10)})",  # noqa: S608 -- constants
                    ((seq, *_row(rule)) for seq, rule in zip(seqs, batch, strict=True)),
                )
            except sqlite3.IntegrityError:
                raise DuplicateRule("a rule with one of these ids already exists") from None
            # Explicit seqs continue AUTOINCREMENT: sqlite_sequence follows the highest.
            db.executemany(
                "INSERT INTO changes (seq, op, at, rule) VALUES (?, 'add', ?, ?)",
                (
                    (seq, rule.created_at, _dump(rule))
                    for seq, rule in zip(seqs, batch, strict=True)
                ),
            )
            db.executemany(
                "INSERT INTO audit (seq, at, actor, action, rule_id, kind, value, reason)"
                " VALUES (?, ?, ?, 'revoke', ?, ?, ?, ?)",
                (
                    (seq, r.created_at, r.actor, r.id, str(r.kind), r.value, r.reason)
                    for seq, r in zip(seqs, batch, strict=True)
                ),
            )
            return seqs[-1]

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        with self._transaction("lift a rule", write=True) as db:
            row = db.execute(
                f"SELECT {_RULE_COLUMNS} FROM rules WHERE id = ? AND {_ACTIVE}",  # noqa: S608 -- constant fragments
                (rule_id, now),
            ).fetchone()
            if row is None:
                return None
            rule = _rule_from_row(row)
            db.execute("DELETE FROM rules WHERE id = ?", (rule_id,))
            _log(db, "lift", rule, at=now, actor=actor, why=reason)
            return rule

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        with self._transaction("read the change log", write=False) as db:
            trimmed = db.execute("SELECT value FROM meta WHERE name = 'trimmed_through'")
            if seq < trimmed.fetchone()[0] or seq > _current_seq(db):
                return None
            rows = db.execute(
                "SELECT seq, op, rule FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, max(limit, 1)),
            ).fetchall()
        return [Change(seq=s, op=op, rule=_rule_from_json(text)) for s, op, text in rows]

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        seq, rows = self.snapshot_rows(now)
        try:
            return seq, list(starmap(stored_rule, rows))
        except ValueError as exc:  # InvalidRule: an unknown kind in a row edited by hand
            raise StoreError(f"the SQLite store holds a malformed rule: {exc}") from exc

    def snapshot_rows(self, now: float) -> tuple[int, Iterator[StoredRow]]:
        """``snapshot`` as plain rows in ``Rule`` field order, read page by page as the
        caller iterates (a replica loads from it without holding every row at once).

        The seq is read first and each page in a transaction of its own, so writers are
        never held up for long: a rule added or lifted meanwhile may be in or out, and a
        catch-up from this seq replays exactly those changes (as in the Redis store).
        """
        with self._transaction("read a snapshot", write=False) as db:
            seq = _current_seq(db)
        return seq, self._active_rows(now)

    def rule_count_hint(self) -> int:
        """About how many rules the store holds (expired ones not yet pruned too): how a
        replica that holds none yet picks its snapshot's shape."""
        with self._transaction("count the rules", write=False) as db:
            return int(db.execute("SELECT count(*) FROM rules").fetchone()[0])

    def snapshot_columns(self, now: float) -> tuple[int, Columns]:
        """``snapshot`` as columns (``registry.columns``): what a replica loads from.

        The rules are read in ranges of seq, each one aggregate query that returns every
        column as one long string (texts joined by separators, times as fixed-width
        digits of ``time * 2**22``, exact for epoch seconds), which numpy takes apart.
        Two ranges are read at once on connections of their own (sqlite3 lets go of
        the GIL while it works). A range whose texts hold a separator, or whose times
        are not exact in that form, is read again as plain rows. The seq is read
        first, as in ``snapshot_rows``.
        """
        from revoker.core.registry.columns import Columns  # noqa: PLC0415 -- loads numpy
        from revoker.core.registry.stores import _sqlite_columns  # noqa: PLC0415 -- numpy

        with self._transaction("read a snapshot", write=False) as db:
            seq = _current_seq(db)
            low, high = db.execute("SELECT min(seq), max(seq) FROM rules").fetchone()
        if low is None:
            return seq, Columns.empty()
        ranges = [(a, min(a + _COLUMN_PAGE, high)) for a in range(low - 1, high, _COLUMN_PAGE)]
        local = threading.local()
        opened: list[sqlite3.Connection] = []

        def read(bounds: tuple[int, int]) -> tuple[Any, ...]:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = sqlite3.connect(self.path, check_same_thread=False)
                opened.append(conn)
            try:
                row: tuple[Any, ...] = conn.execute(
                    _sqlite_columns.QUERY, (*bounds, now)
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"the SQLite store could not read a snapshot: {exc}") from exc
            return row

        parts: list[Columns] = []
        try:
            with ThreadPoolExecutor(2, thread_name_prefix="revoker-snapshot") as readers:
                for bounds, row in zip(ranges, readers.map(read, ranges), strict=True):
                    count = int(row[0])
                    if not count:
                        continue
                    try:
                        parts.append(_sqlite_columns.page_columns(count, row))
                    except _sqlite_columns.NotColumnar:
                        parts.append(Columns.from_rows(self._page_rows(*bounds, now)))
        finally:
            for conn in opened:
                conn.close()
        return seq, Columns.concat(parts)

    def _page_rows(self, after: int, last: int, now: float) -> list[StoredRow]:
        # A separator in a text, or a time the digits cannot carry exactly: the range as rows.
        with self._transaction("read a snapshot", write=False) as db:
            rows: list[StoredRow] = db.execute(
                f"SELECT {_RULE_COLUMNS} FROM rules WHERE seq > ? AND seq <= ? AND {_ACTIVE}"  # noqa: S608 -- constant fragments
                " ORDER BY seq",
                (after, last, now),
            ).fetchall()
        return rows

    def _active_rows(self, now: float) -> Iterator[StoredRow]:
        after = -1
        while True:
            with self._transaction("read a snapshot", write=False) as db:
                page: list[StoredRow] = db.execute(
                    f"SELECT {_RULE_COLUMNS} FROM rules WHERE seq > ? AND {_ACTIVE}"  # noqa: S608 -- constant fragments
                    " ORDER BY seq LIMIT ?",
                    (after, now, _PAGE),
                ).fetchall()
                if len(page) == _PAGE:
                    last = db.execute("SELECT seq FROM rules WHERE id = ?", (page[-1][0],))
                    after = int(last.fetchone()[0])
            yield from page  # outside the transaction: the caller may stop at any time
            if len(page) < _PAGE:
                return

    def get(self, rule_id: str) -> Rule | None:
        with self._transaction("read a rule", write=False) as db:
            row = db.execute(
                f"SELECT {_RULE_COLUMNS} FROM rules WHERE id = ?",  # noqa: S608 -- constant column list
                (rule_id,),
            ).fetchone()
        return None if row is None else _rule_from_row(row)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        f = rule_filter
        clauses: list[str] = []
        params: list[Any] = []
        for column, wanted in (("kind", f.kind), ("value", f.value), ("issuer", f.issuer)):
            if wanted is not None:
                clauses.append(f"{column} = ?")
                params.append(str(wanted))
        if not f.include_expired:
            clauses.append(_ACTIVE)
            params.append(now)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT {_RULE_COLUMNS} FROM rules {where} ORDER BY seq LIMIT ? OFFSET ?"  # noqa: S608 -- fragments are constants; values are bound
        with self._transaction("list rules", write=False) as db:
            rows = db.execute(query, (*params, f.limit, f.offset)).fetchall()
        return [_rule_from_row(row) for row in rows]

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        with self._transaction("read the audit log", write=False) as db:
            rows = db.execute(
                "SELECT seq, at, actor, action, rule_id, kind, value, reason FROM audit"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (since_seq, max(limit, 1)),
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def prune(self, now: float) -> int:
        with self._transaction("prune", write=True) as db:
            pruned = db.execute(
                "DELETE FROM rules WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            ).rowcount
            # Trim a prefix of the log only, so "trimmed through seq n" stays true.
            first_kept = db.execute(
                "SELECT MIN(seq) FROM changes WHERE at >= ?", (now - self._retention_seconds,)
            ).fetchone()[0]
            if first_kept is None:
                cut = db.execute("SELECT MAX(seq) FROM changes").fetchone()[0]
            else:
                cut = first_kept - 1
            if cut:
                db.execute("DELETE FROM changes WHERE seq <= ?", (cut,))
                db.execute(
                    "UPDATE meta SET value = MAX(value, ?) WHERE name = 'trimmed_through'", (cut,)
                )
            return int(pruned)

    def claim_setting(self, name: str, value: float) -> float:
        with self._transaction("record a setting", write=True) as db:
            db.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)", (name, value))
            return float(
                db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()[0]
            )

    def record_setting(self, name: str, value: float) -> None:
        with self._transaction("record a setting", write=True) as db:
            db.execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value))

    # -- saved indexes ----------------------------------------------------------

    def save_index(self, seq: int, data: bytes, *, written_at: float) -> None:
        """Save a built index a part per transaction (writers wait for one part at most),
        then, in one, make it the newest and drop the older ones (``store.py``)."""
        parts = split_parts(data)
        with self._transaction("save an index", write=True) as db:
            generation = db.execute(
                "INSERT INTO saved_indexes (seq, written_at, parts) VALUES (?, ?, ?)",
                (seq, written_at, len(parts)),
            ).lastrowid
        for number, part in enumerate(parts):
            with self._transaction("save an index", write=True) as db:
                db.execute(
                    "INSERT INTO saved_index_parts (generation, part, data) VALUES (?, ?, ?)",
                    (generation, number, part),
                )
        with self._transaction("save an index", write=True) as db:
            db.execute("UPDATE saved_indexes SET complete = 1 WHERE generation = ?", (generation,))
            db.execute("DELETE FROM saved_index_parts WHERE generation < ?", (generation,))
            db.execute("DELETE FROM saved_indexes WHERE generation < ?", (generation,))

    def saved_index(self) -> SavedIndex | None:
        with self._transaction("read a saved index", write=False) as db:
            row = db.execute(_NEWEST_SAVED_INDEX).fetchone()
            if row is None:
                return None
            generation, seq, written_at, count = row
            parts = db.execute(
                "SELECT data FROM saved_index_parts WHERE generation = ? ORDER BY part",
                (generation,),
            ).fetchall()
        if len(parts) != count:
            return None
        return SavedIndex(int(seq), float(written_at), b"".join(part for (part,) in parts))

    def saved_index_info(self) -> tuple[int, float] | None:
        with self._transaction("read a saved index", write=False) as db:
            row = db.execute(_NEWEST_SAVED_INDEX).fetchone()
        return None if row is None else (int(row[1]), float(row[2]))

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @contextmanager
    def _transaction(self, what: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreError(f"the SQLite store {self.path} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                message = " ".join(str(exc).split())
                raise StoreError(f"the SQLite store could not {what}: {message}") from exc


def _create_private(path: Path) -> None:
    """Create the database file readable and writable by its owner only (0600), before SQLite
    does with the umask's mode; SQLite gives its -wal and -shm files the database's mode."""
    if str(path) in ("", ":memory:") or path.exists():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process created it first: its mode stands
        return


def open_sqlite_store(url: str) -> SqliteStore:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (SQLAlchemy's spelling)."""
    rest = url.partition("://")[2]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigurationError("a SQLite store URL is sqlite:///relative/path or sqlite:////abs")
    path = rest[1:]
    if "?" in path or path == ":memory:":
        raise ConfigurationError(
            "a SQLite store URL takes a file path only (for memory: memory://)"
        )
    directory = Path(path).parent
    if not directory.is_dir():
        raise ConfigurationError(f"the directory for the SQLite store does not exist: {directory}")
    return SqliteStore(path)


def _current_seq(db: sqlite3.Connection) -> int:
    # sqlite_sequence remembers the highest seq even after the log was trimmed.
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if row is None else int(row[0])


def _log(
    db: sqlite3.Connection,
    op: Literal["add", "lift"],
    rule: Rule,
    *,
    at: float,
    actor: str,
    why: str,
) -> int:
    """Append the change and its audit entry; the new seq."""
    cursor = db.execute(
        "INSERT INTO changes (op, at, rule) VALUES (?, ?, ?)",
        (op, at, _dump(rule)),
    )
    seq = cursor.lastrowid
    if seq is None:  # pragma: no cover - sqlite always reports the rowid of an INSERT
        raise StoreError("the SQLite store did not number a change")
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, rule_id, kind, value, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            at,
            actor,
            "revoke" if op == "add" else "lift",
            rule.id,
            str(rule.kind),
            rule.value,
            why,
        ),
    )
    return seq


def _dump(rule: Rule) -> str:
    return json.dumps(rule.to_dict(), separators=(",", ":"))


def _row(rule: Rule) -> tuple[Any, ...]:
    return (
        rule.id,
        str(rule.kind),
        rule.value,
        rule.issuer,
        rule.cutoff,
        rule.expires_at,
        rule.reason,
        rule.actor,
        rule.created_at,
    )


def _rule_from_row(row: tuple[Any, ...]) -> Rule:
    return rule_from_row(row, store="SQLite")


def _rule_from_json(text: str) -> Rule:
    try:
        return Rule.from_dict(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise StoreError(f"the SQLite store holds a malformed change: {exc}") from exc
