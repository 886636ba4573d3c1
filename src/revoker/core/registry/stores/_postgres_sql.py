"""The SQL of the PostgreSQL store: its schema as numbered migrations, and its queries.

Every statement names its tables through ``{s}``, the store's quoted schema,
validated before ``queries`` formats it in; values are always bound
parameters. ``apply`` runs under a transaction-level advisory lock, so two
processes starting at once on an empty database do not both create the
tables; ``schema_version`` records which migrations ran, so applying twice
changes nothing.

Every writer locks the ``head`` row of ``meta`` first and takes the next seq
from it (see the store's docstring for why this orders commits by seq).
"""

# ruff: noqa: S608 -- queries are built from constants and a validated schema name; values are bound

from __future__ import annotations

from typing import Any

from revoker.core.errors import StoreError

__all__ = ["COLUMNS", "LATEST", "LIST_FILTERS", "MIGRATIONS", "apply", "queries"]

#: A rule's columns, in ``Rule`` field order (rules and changes both have them).
COLUMNS = "id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at"
_VALUES = (
    "%(id)s, %(kind)s, %(value)s, %(issuer)s, %(cutoff)s::float8, %(expires_at)s::float8,"
    " %(reason)s, %(actor)s, %(created_at)s::float8"
)
_ACTIVE = "(expires_at IS NULL OR expires_at > %(now)s::float8)"
_KIND_DIGITS = " ".join(
    f"WHEN '{kind}' THEN '{code}'"
    for code, kind in enumerate(
        ("key", "token", "family", "session", "subject", "client", "issuer", "email")
    )
)
_C_COLUMNS = ", ".join(f"c.{name}" for name in COLUMNS.split(", "))

_QUERIES = {
    "claim_setting": """
        WITH claimed AS (
            INSERT INTO {s}.settings (name, value) VALUES (%(name)s, %(value)s::float8)
            ON CONFLICT (name) DO NOTHING RETURNING value
        )
        SELECT value FROM claimed UNION ALL SELECT value FROM {s}.settings WHERE name = %(name)s
        LIMIT 1""",
    "read_setting": "SELECT value FROM {s}.settings WHERE name = %(name)s",
    "try_save_lock": "SELECT pg_try_advisory_lock(hashtext(%(lock)s))",
    "save_unlock": "SELECT pg_advisory_unlock(hashtext(%(lock)s))",
    "new_saved_index": """
        INSERT INTO {s}.saved_indexes (seq, written_at, parts)
        VALUES (%(seq)s, %(at)s::float8, %(parts)s) RETURNING generation""",
    "save_index_part": """
        INSERT INTO {s}.saved_index_parts (generation, part, data)
        VALUES (%(generation)s, %(part)s, %(data)b)""",
    "complete_saved_index": """
        UPDATE {s}.saved_indexes SET complete = true WHERE generation = %(generation)s""",
    "drop_older_saved_indexes": """
        WITH parts AS (
            DELETE FROM {s}.saved_index_parts WHERE generation < %(generation)s
        )
        DELETE FROM {s}.saved_indexes WHERE generation < %(generation)s""",
    "newest_saved_index": """
        SELECT generation, seq, written_at, parts FROM {s}.saved_indexes WHERE complete
        ORDER BY generation DESC LIMIT 1""",
    "saved_index_parts": """
        SELECT data FROM {s}.saved_index_parts WHERE generation = %(generation)s ORDER BY part""",
    "record_setting": """
        INSERT INTO {s}.settings (name, value) VALUES (%(name)s, %(value)s::float8)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
    # One statement, so one round trip; the head row's lock orders the writers.
    "add": f"""
        WITH head AS (
            UPDATE {{s}}.meta SET value = value + 1 WHERE name = 'head' RETURNING value AS seq
        ), rule AS (
            INSERT INTO {{s}}.rules (seq, {COLUMNS}) SELECT seq, {_VALUES} FROM head
        ), change AS (
            INSERT INTO {{s}}.changes (seq, op, at, {COLUMNS})
            SELECT seq, 'add', %(created_at)s::float8, {_VALUES} FROM head
        ), audit AS (
            INSERT INTO {{s}}.audit (seq, at, actor, action, rule_id, kind, value, reason)
            SELECT seq, %(created_at)s::float8, %(actor)s, 'revoke', %(id)s, %(kind)s,
                   %(value)s, %(reason)s FROM head
        )
        SELECT seq, pg_notify(%(channel)s, seq::text) FROM head""",
    "lock_head": "SELECT value FROM {s}.meta WHERE name = 'head' FOR UPDATE",
    "delete_active": f"DELETE FROM {{s}}.rules WHERE id = %(id)s AND {_ACTIVE} RETURNING {COLUMNS}",
    "log_lift": f"""
        WITH head AS (
            UPDATE {{s}}.meta SET value = value + 1 WHERE name = 'head' RETURNING value AS seq
        ), change AS (
            INSERT INTO {{s}}.changes (seq, op, at, {COLUMNS})
            SELECT seq, 'lift', %(now)s::float8, {_VALUES} FROM head
        ), audit AS (
            INSERT INTO {{s}}.audit (seq, at, actor, action, rule_id, kind, value, reason)
            SELECT seq, %(now)s::float8, %(who)s, 'lift', %(id)s, %(kind)s, %(value)s, %(why)s
            FROM head
        )
        SELECT pg_notify(%(channel)s, seq::text) FROM head""",
    # One statement is one snapshot: the bounds and the rows agree.
    "changes_since": f"""
        SELECT m.head, m.trimmed, m.epoch, c.seq, c.op, {_C_COLUMNS}
        FROM (SELECT max(value) FILTER (WHERE name = 'head') AS head,
                     max(value) FILTER (WHERE name = 'trimmed') AS trimmed,
                     max(value) FILTER (WHERE name = 'epoch') AS epoch
              FROM {{s}}.meta) AS m
        LEFT JOIN LATERAL (
            SELECT * FROM {{s}}.changes WHERE seq > %(seq)s ORDER BY seq LIMIT %(limit)s
        ) AS c ON true
        ORDER BY c.seq""",
    "head": "SELECT max(value) FILTER (WHERE name = 'head'),"
    " max(value) FILTER (WHERE name = 'epoch') FROM {s}.meta",
    "rule_count": "SELECT count(*) FROM {s}.rules",
    "active_rules": f"SELECT {COLUMNS} FROM {{s}}.rules WHERE {_ACTIVE} ORDER BY seq",
    # The columnar snapshot: a range of seq a row, every column one string or bytea.
    "active_columns": f"""
        SELECT seq / %(range)s AS part, count(*),
            string_agg(id, E'\\x1f' ORDER BY seq),
            string_agg(CASE kind {_KIND_DIGITS} ELSE '9' END, '' ORDER BY seq),
            string_agg(value, E'\\x1f' ORDER BY seq),
            string_agg(coalesce(issuer, '') || E'\\x1f' || reason || E'\\x1f' || actor, E'\\x1e'
                       ORDER BY seq),
            string_agg(float8send(coalesce(cutoff, 'NaN')), ''::bytea ORDER BY seq),
            string_agg(float8send(coalesce(expires_at, 'NaN')), ''::bytea ORDER BY seq),
            string_agg(float8send(created_at), ''::bytea ORDER BY seq)
        FROM {{s}}.rules WHERE {_ACTIVE} GROUP BY part ORDER BY part""",
    "active_part": f"SELECT {COLUMNS} FROM {{s}}.rules WHERE {_ACTIVE}"
    " AND seq / %(range)s = %(part)s ORDER BY seq",
    "get": f"SELECT {COLUMNS} FROM {{s}}.rules WHERE id = %(id)s",
    "list": f"SELECT {COLUMNS} FROM {{s}}.rules {{{{where}}}} ORDER BY seq"
    " LIMIT %(limit)s OFFSET %(offset)s",
    "audit": "SELECT seq, at, actor, action, rule_id, kind, value, reason FROM {s}.audit"
    " WHERE seq > %(since)s ORDER BY seq LIMIT %(limit)s",
    "prune_rules": "DELETE FROM {s}.rules WHERE expires_at IS NOT NULL AND expires_at <= %(now)s",
    "first_recent_change": "SELECT min(seq) FROM {s}.changes WHERE at >= %(horizon)s",
    "last_change": "SELECT max(seq) FROM {s}.changes",
    "trim_changes": "DELETE FROM {s}.changes WHERE seq <= %(cut)s",
    "set_trimmed": "UPDATE {s}.meta SET value = greatest(value, %(cut)s) WHERE name = 'trimmed'",
}

#: Filters ``list`` may put in its WHERE clause (column = bound value, or still active).
LIST_FILTERS = {"kind": "kind = %(kind)s", "value": "value = %(value)s",
                "issuer": "issuer = %(issuer)s", "active": _ACTIVE}  # fmt: skip


def queries(schema: str) -> dict[str, str]:
    """Every query with the (validated) schema in place."""
    quoted = f'"{schema}"'
    return {name: text.format(s=quoted) for name, text in _QUERIES.items()}


_V1 = (
    """CREATE TABLE {s}.rules (
        id text PRIMARY KEY, seq bigint NOT NULL, kind text NOT NULL, value text NOT NULL,
        issuer text, cutoff double precision, expires_at double precision,
        reason text NOT NULL, actor text NOT NULL, created_at double precision NOT NULL)""",
    "CREATE UNIQUE INDEX rules_by_seq ON {s}.rules (seq)",  # add order: lists and snapshots
    "CREATE INDEX rules_by_kind_value ON {s}.rules (kind, value)",  # admin look-ups
    "CREATE INDEX rules_by_expiry ON {s}.rules (expires_at) WHERE expires_at IS NOT NULL",
    """CREATE TABLE {s}.changes (
        seq bigint PRIMARY KEY, op text NOT NULL CHECK (op IN ('add', 'lift')),
        at double precision NOT NULL,
        id text NOT NULL, kind text NOT NULL, value text NOT NULL, issuer text,
        cutoff double precision, expires_at double precision, reason text NOT NULL,
        actor text NOT NULL, created_at double precision NOT NULL)""",
    "CREATE INDEX changes_by_at ON {s}.changes (at)",  # prune finds the old prefix
    """CREATE TABLE {s}.audit (
        seq bigint PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL,
        action text NOT NULL, rule_id text NOT NULL, kind text NOT NULL, value text NOT NULL,
        reason text NOT NULL)""",
    "CREATE TABLE {s}.meta (name text PRIMARY KEY, value bigint NOT NULL)",
    # epoch names this history: a reader that sees it change (a schema dropped and
    # recreated) reloads a snapshot rather than mixing two histories.
    "INSERT INTO {s}.meta (name, value) VALUES ('head', 0), ('trimmed', 0),"
    " ('epoch', floor(random() * 9e18)::bigint)",
)

# 2: settings every process must agree on (the maximum token lifetime rules are written for).
_V2 = ("CREATE TABLE {s}.settings (name text PRIMARY KEY, value float8 NOT NULL)",)

# 3: saved compact indexes (index_snapshot.py); a generation is read once complete. The
# parts are stored as they are (EXTERNAL: numpy's bytes gain little from pglz, and cost).
_V3 = (
    """CREATE TABLE {s}.saved_indexes (
        generation bigserial PRIMARY KEY, seq bigint NOT NULL,
        written_at double precision NOT NULL, parts integer NOT NULL,
        complete boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE {s}.saved_index_parts (
        generation bigint NOT NULL, part integer NOT NULL, data bytea NOT NULL,
        PRIMARY KEY (generation, part))""",
    "ALTER TABLE {s}.saved_index_parts ALTER COLUMN data SET STORAGE EXTERNAL",
)

#: (version, statements), oldest first; a new version is appended, never edited.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2), (3, _V3))
LATEST = MIGRATIONS[-1][0]


def apply(conn: Any, schema: str) -> list[int]:
    """Bring ``schema`` to ``LATEST`` on ``conn`` (autocommit); the versions applied now."""
    s = f'"{schema}"'
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"revoker:{schema}",))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {s}.schema_version")
        current = int(row.fetchone()[0])
        if current > LATEST:
            raise StoreError(
                f"the PostgreSQL schema {schema!r} is at version {current}, newer than this"
                f" revoker knows ({LATEST}): upgrade revoker"
            )
        applied = []
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement.format(s=s))
            conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
