"""The Redis store: rules as expiring keys, a change stream, pub/sub push (redis-py + hiredis).

URL: ``redis://[user:password@]host:6379/0?prefix=myapp`` (``rediss://`` for
TLS). Besides redis-py's own query options (``socket_timeout``, ...) it takes
``prefix`` (default ``revoker``), ``client_name`` (default ``revoker``; the
push connection adds ``-push``, so CLIENT LIST tells them apart),
``max_changes`` and ``max_audit`` (entries kept in the change log and the
audit trail, default 100000 each), ``wait_replicas=N``, ``wait_aof=1`` and
``cluster=1`` (a Redis Cluster, below).

Keys, all under one hash tag, ``{revoker}`` by default::

    {p}:rule:<id>    the rule (JSON), PEXPIREAT its expires_at; never-expiring key rules persist
    {p}:rules        sorted set id -> seq: the order of adds, paged for snapshots and lists
    {p}:expiry       sorted set id -> expires_at: what prune deletes
    {p}:seq          the sequence (INCR)
    {p}:changes      stream, entry id "<seq>-0": the change log replicas follow
    {p}:audit        stream, entry id "<seq>-0", capped at max_audit
    {p}:meta         hash: trimmed (the log holds nothing at or below it), epoch
    {p}:lifted:<id>  a lift's receipt for 60 s, so a retried lift answers the same
    {p}:push         pub/sub channel: each change publishes its seq
    {p}:bucket:<n>   hash id -> compact record, n = CRC32(id) % 1024: the columnar snapshot
    {p}:index        hash: the newest saved compact index (generation, seq, written_at, parts)
    {p}:index:<g>:<n> its parts (bytes), expiring two change retentions after they were
                     written: a saved index the change log no longer reaches is of no use

Redis Cluster (``redis://host:port/0?cluster=1``, the URL naming any one node):
the one hash tag puts every key of a namespace in one slot, so each script may
touch them all, and the scripts are the same as on a single server. The price:
one namespace's keys, writes and memory all live on one shard (a master and its
replicas); more shards carry more namespaces (prefixes), not more of one.
redis-py's cluster client carries the reads; writes and their WAIT go to the
slot's master, and push listens on any live node (see ``_redis_cluster``).

Each write is one Lua script (rule key, seq, change, audit and PUBLISH at
once), so changes become visible in seq order. A write carries a random nonce
kept with what it wrote, which makes redis-py's retry after a dropped
connection safe: a retried add or lift finds its own nonce and answers as the
first attempt did, rather than failing or writing twice.

Durability: a revoke returns once Redis acknowledged the script. For it to
survive a Redis restart, run Redis with AOF (``appendonly yes``,
``appendfsync everysec`` or ``always``) and ``maxmemory-policy noeviction``
(an evicted seq or rule key is a lost revocation). ``wait_aof=1`` (Redis >=
7.2) also waits for the local fsync, and ``wait_replicas=N`` for N replicas,
before the revoke returns; it raises ``StoreError`` when they do not confirm
within 5 s. Without persistence a restart loses every rule; the first write
after it sets a new ``epoch``, and a reader that sees the epoch change (or
the seq go backwards) reloads a snapshot rather than mixing two histories.

A key whose ``expires_at`` is already past on the server's clock is written
without a TTL (Redis would drop it at once) and left to ``prune``, which goes
by the caller's clock like every other store.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from itertools import starmap
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry.push import PushListener
from revoker.core.registry.rules import DuplicateRule, Rule, StoredRow, stored_rule
from revoker.core.registry.store import (
    DEFAULT_CHANGE_RETENTION_SECONDS,
    AuditEntry,
    Change,
    RuleFilter,
    SavedIndex,
    split_parts,
)
from revoker.core.registry.stores import _redis_bulk, _redis_cluster, _redis_lua
from revoker.core.registry.stores._options import option_int, redact, split_options, valid_name
from revoker.core.registry.stores._redis_push import PubSubChannel, connect

if TYPE_CHECKING:
    from revoker.core.registry.columns import Columns

__all__ = ["RedisStore", "open_redis_store"]

_PAGE = 10_000
_BULK = 1_000  # rules per ADD_MANY script: each blocks Redis for a few milliseconds
_DEFAULT_CAP = 100_000
_UNSEEN = object()  # no epoch read yet
_MAX_INDEX_PARTS = 8192  # 32 GB of saved index: more is a malformed pointer
_SAVE_LOCK_MS = 300_000  # one saver at a time (two would both write 60 B a rule)
_OWN_OPTIONS = ("prefix", "max_changes", "max_audit", "wait_replicas", "wait_aof", "cluster")


class RedisStore:
    """A ``RuleStore`` and ``PushSource`` in Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "revoker",
        max_changes: int = _DEFAULT_CAP,
        max_audit: int = _DEFAULT_CAP,
        wait_replicas: int = 0,
        wait_aof: bool = False,
        wait_timeout_seconds: float = 5.0,
        change_retention_seconds: float = DEFAULT_CHANGE_RETENTION_SECONDS,
        cluster: bool = False,
    ) -> None:
        """``url`` is a redis-py URL without this store's own options (``open_redis_store``
        takes the full one); ``cluster`` seeds redis-py's cluster client from it."""
        if not valid_name(prefix, extra=".-:"):
            raise ConfigurationError("a Redis prefix is 1-64 letters, digits, '_', '.', '-', ':'")
        url, named = split_options(url, ("client_name",))
        self.client_name = named.get("client_name", "revoker")  # CLIENT LIST shows who is who
        self._url = url
        password = urlsplit(url).password
        self._secret = unquote(password) if password else None  # drivers echo it decoded
        self._where = _where(url)
        tag = "{" + prefix + "}"
        self._tag = tag
        self._shared_keys = [f"{tag}:{name}" for name in _redis_lua.SHARED_KEYS]
        self.channel = f"{tag}:push"
        self._caps = (max_changes, max_audit)
        self._wait = (wait_replicas, wait_aof)
        self._wait_ms = max(1, round(wait_timeout_seconds * 1000))
        self._retention_seconds = change_retention_seconds
        self._closed = False
        self._epoch: object = _UNSEEN
        self._tip: tuple[int, dict[str, str]] | None = None  # the last change a reader saw
        self._cluster = cluster
        self._bytes_client: Any = None  # for saved indexes, made at their first use
        # Retried writes are safe: each carries a nonce (see _redis_lua).
        retry = self._retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), retries=3)
        try:
            if cluster:
                if urlsplit(url).path.strip("/") not in ("", "0"):
                    raise ConfigurationError("a Redis Cluster has database 0 only: use /0")
                with self._errors("reach the cluster"):  # the client reads the slots at once
                    self._client = _redis_cluster.connect_cluster(
                        url, retry, client_name=self.client_name
                    )
            else:
                self._client = connect(url, retry, client_name=self.client_name)
        except ValueError as exc:  # redis-py's URL parser; its message never holds the password
            message = redact(" ".join(str(exc).split()), self._secret)
            raise ConfigurationError(f"bad Redis store URL: {message}") from exc
        with self._errors("load its scripts"):
            self._add = self._client.register_script(_redis_lua.ADD)
            self._lift = self._client.register_script(_redis_lua.LIFT)
            self._trim = self._client.register_script(_redis_lua.TRIM)
            self._add_many = self._client.register_script(_redis_bulk.ADD_MANY)

    # -- writes -------------------------------------------------------------

    def add(self, rule: Rule) -> int:
        text = _redis_bulk.dump_rule(rule)
        expires_at = rule.expires_at
        args: list[Any] = [
            rule.id,
            uuid.uuid4().hex,
            "" if expires_at is None else repr(expires_at),
            "" if expires_at is None else math.ceil(expires_at * 1000),
            text,
            repr(rule.created_at),
            rule.actor,
            rule.reason,
            self.channel,
            *self._caps,
            _redis_bulk.snapshot_record(rule),
        ]
        seq, _ = cast("list[int]", self._write("add a rule", self._add, rule.id, args))
        if seq < 0:
            raise DuplicateRule(f"a rule with id {rule.id!r} already exists")
        return int(seq)

    def add_many(self, rules: Iterable[Rule]) -> int:
        """``add`` for many rules, ``_BULK`` per script (each batch atomic, published once);
        the last seq written. An id already stored or repeated raises ``InvalidRule``."""
        seq: int | None = None
        batch: list[Rule] = []
        for rule in rules:
            batch.append(rule)
            if len(batch) == _BULK:
                seq, batch = self._add_batch(batch), []
        if batch:
            seq = self._add_batch(batch)
        return self._head() if seq is None else seq

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        args = [rule_id, uuid.uuid4().hex, repr(now), actor, reason, self.channel, *self._caps]
        text = self._write("lift a rule", self._lift, rule_id, args)
        return None if text is None else self._load(cast("str", text))

    # -- reads --------------------------------------------------------------

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        with self._errors("read the change log"):
            pipe = self._pipeline(transaction=True)  # one consistent view
            pipe.get(self._key("seq"))
            pipe.hmget(self._key("meta"), "trimmed", "epoch")
            pipe.xrange(self._key("changes"), f"{seq + 1}-0", "+", count=max(limit, 1))
            pipe.xrange(self._key("changes"), f"{seq}-0", f"{seq}-0")  # the reader's tip
            head, (trimmed, epoch), entries, tip = pipe.execute()
        if not self._same_epoch(epoch) or seq < int(trimmed or 0) or seq > int(head or 0):
            return None
        if not self._same_tip(seq, tip, trimmed=int(trimmed or 0)):
            return None
        if entries:
            self._tip = (_entry_seq(entries[-1][0]), entries[-1][1])
        return [
            Change(seq=_entry_seq(entry_id), op=fields["op"], rule=self._load(fields["rule"]))
            for entry_id, fields in entries
        ]

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        # The seq is read first and the rules after it, page by page: a rule added or
        # lifted meanwhile may be in or out, and the replica's catch-up from this seq
        # replays exactly those changes. Readers never block Redis for a whole set.
        seq, rows = self.snapshot_rows(now)
        try:
            return seq, list(starmap(stored_rule, rows))
        except ValueError as exc:  # InvalidRule: an unknown kind in a key edited by hand
            raise StoreError(f"the Redis store holds a malformed rule: {exc}") from exc

    def snapshot_rows(self, now: float) -> tuple[int, Iterator[StoredRow]]:
        """``snapshot`` as plain rows in ``Rule`` field order, read page by page as the
        caller iterates (a replica loads from it without holding every row at once)."""
        with self._errors("read a snapshot"):
            pipe = self._pipeline(transaction=True)
            pipe.get(self._key("seq"))
            pipe.hget(self._key("meta"), "epoch")
            pipe.xrevrange(self._key("changes"), "+", "-", count=1)
            head, self._epoch, last = pipe.execute()
        self._remember_tip(int(head or 0), last)
        return int(head or 0), _redis_bulk.active_rows(self._pages(), now)

    def rule_count_hint(self) -> int:
        """About how many rules the store holds (expired ones not yet pruned too): how a
        replica that holds none yet picks its snapshot's shape."""
        with self._errors("count the rules"):
            return int(self._client.zcard(self._key("rules")))

    def snapshot_columns(self, now: float) -> tuple[int, Columns]:
        """``snapshot`` as columns (``registry.columns``): what a replica loads from.

        Every rule also has a compact record in one of ``BUCKETS`` snapshot hashes
        (``{p}:bucket:<n>``, by a CRC of its id, written by the same scripts as the
        rule): its seq, its times as IEEE 754 hex, its kind, then its texts. HVALS of 32
        buckets at a time come back in one round trip and are taken apart by numpy;
        the rows are then put in seq order. Rules written before the buckets existed
        have no record: when the buckets hold fewer rules than the order set, the
        snapshot is read the old way (``snapshot_rows``), which still loads them.
        """
        from revoker.core.registry.columns import Columns  # noqa: PLC0415 -- loads numpy
        from revoker.core.registry.stores import _redis_columns  # noqa: PLC0415 -- numpy

        buckets = [self._key(f"bucket:{n}") for n in range(_redis_bulk.BUCKETS)]
        with self._errors("read a snapshot"):
            pipe = self._pipeline(transaction=True)
            pipe.get(self._key("seq"))
            pipe.hget(self._key("meta"), "epoch")
            pipe.xrevrange(self._key("changes"), "+", "-", count=1)
            pipe.zcard(self._key("rules"))
            for key in buckets:
                pipe.hlen(key)
            head, epoch, last, ordered, *sizes = pipe.execute()
        if sum(map(int, sizes)) < int(ordered):  # rules from before the buckets
            seq, rows = self.snapshot_rows(now)
            return seq, Columns.from_rows(rows)
        self._epoch = epoch
        self._remember_tip(int(head or 0), last)
        pages: list[list[str]] = []
        with self._errors("read a snapshot"):
            for first in range(0, len(buckets), 32):
                pipe = self._pipeline(transaction=False)
                for key in buckets[first : first + 32]:
                    pipe.hvals(key)
                pages += pipe.execute()
        try:
            return int(head or 0), _redis_columns.bucket_columns(pages, now)
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"the Redis store holds a malformed rule: {exc!r}") from exc

    def get(self, rule_id: str) -> Rule | None:
        with self._errors("read a rule"):
            text = self._client.get(self._rule_key(rule_id))
        return None if text is None else self._load(_strip_nonce(cast("str", text)))

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        f = rule_filter
        wanted = f.offset + f.limit
        chosen: list[Rule] = []
        for rule in self._scan():
            if (
                (f.kind is None or rule.kind is f.kind)
                and (f.value is None or rule.value == f.value)
                and (f.issuer is None or rule.issuer == f.issuer)
                and (f.include_expired or _active(rule, now))
            ):
                chosen.append(rule)
                if len(chosen) >= wanted:
                    break
        return chosen[f.offset : wanted]

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        with self._errors("read the audit log"):
            entries = self._client.xrange(
                self._key("audit"), f"{since_seq + 1}-0", "+", count=max(limit, 1)
            )
        return [self._audit_entry(entry_id, fields) for entry_id, fields in entries]

    # -- upkeep -------------------------------------------------------------

    def prune(self, now: float) -> int:
        pruned = 0
        with self._errors("prune"):
            while True:
                ids = self._client.zrangebyscore(self._key("expiry"), "-inf", repr(now), 0, _PAGE)
                if not ids:
                    break
                pipe = self._pipeline(transaction=True)
                pipe.delete(*(self._rule_key(rule_id) for rule_id in ids))
                pipe.zrem(self._key("rules"), *ids)
                pipe.zrem(self._key("expiry"), *ids)
                for bucket, members in _by_bucket(ids).items():
                    pipe.hdel(self._key(f"bucket:{bucket}"), *members)
                pruned += int(pipe.execute()[2])
                if len(ids) < _PAGE:
                    break
            cut = self._last_seq_before(now - self._retention_seconds)
            if cut:
                keys = [self._key("changes"), self._key("meta")]
                self._trim(keys=keys, args=[cut], client=self._client)
        return pruned

    def claim_setting(self, name: str, value: float) -> float:
        with self._errors("record a setting"):
            pipe = self._pipeline(transaction=True)
            pipe.hsetnx(self._key("settings"), name, repr(value))
            pipe.hget(self._key("settings"), name)
            _, stored = pipe.execute()
        return float(stored)

    def record_setting(self, name: str, value: float) -> None:
        with self._errors("record a setting"):
            self._client.hset(self._key("settings"), name, repr(value))

    def migrate(self) -> str:
        """Give every rule stored before the snapshot buckets existed its bucket record, so
        a replica reads the store as columns again (``snapshot_columns``); idempotent, and
        safe beside writers (a script per page checks the rule is still there). One line
        saying what it did."""
        script = self._client.register_script(_redis_bulk.FILE_RECORDS)
        after, order, filed, seen = "-inf", self._key("rules"), 0, 0
        while True:
            with self._errors("migrate the snapshot records"):
                page = self._client.zrangebyscore(order, after, "+inf", 0, _PAGE, withscores=True)
                texts = self._client.mget([self._rule_key(rule_id) for rule_id, _ in page])
                keys: list[str] = []
                args: list[str] = []
                for (rule_id, seq), text in zip(page, texts, strict=True):
                    if text is not None:  # expired or lifted since the page was read
                        rule = self._load(_strip_nonce(text))
                        keys += [self._rule_key(rule_id), self._bucket_key(rule_id)]
                        args += [rule_id, f"{int(seq):016d}" + _redis_bulk.snapshot_record(rule)]
                if keys:
                    filed += int(script(keys=keys, args=args))
            seen += len(page)
            if len(page) < _PAGE:
                break
            after = f"({int(page[-1][1])}"
        return f"Redis store {self._tag}: {filed} of {seen} rules given a snapshot record"

    # -- saved indexes ----------------------------------------------------------

    def save_index(self, seq: int, data: bytes, *, written_at: float) -> None:
        """Save a built index under a new generation, a part per command (each holds Redis
        for milliseconds), then point ``{p}:index`` at it and delete the older parts."""
        parts = split_parts(data)
        generation = uuid.uuid4().hex
        ttl_ms = max(60_000, round(2 * self._retention_seconds * 1000))
        pointer = self._key("index")
        with self._errors("save an index"):
            client = self._binary()
            # One saver at a time: a second would write as much again, and the parts of the
            # one whose pointer loses would linger until they expire.
            lock = self._key("index:saving")
            if not client.set(lock, generation, nx=True, px=_SAVE_LOCK_MS):
                raise StoreError("another process is saving an index to this Redis store")
            try:
                for number, part in enumerate(parts):
                    client.set(self._key(f"index:{generation}:{number}"), part, px=ttl_ms)
                old = client.hmget(pointer, "generation", "parts")
                newest = {"generation": generation, "seq": seq, "written_at": repr(written_at),
                          "parts": len(parts)}  # fmt: skip
                client.hset(pointer, mapping=newest)
                client.pexpire(pointer, ttl_ms)
                if old[0] is not None and old[0].decode() != generation:
                    count = min(int(old[1] or 0), _MAX_INDEX_PARTS)
                    client.delete(
                        *(self._key(f"index:{old[0].decode()}:{n}") for n in range(count))
                    )
            finally:
                client.delete(lock)  # a process that dies here leaves it to expire

    def saved_index(self) -> SavedIndex | None:
        with self._errors("read a saved index"):
            client = self._binary()
            found = client.hgetall(self._key("index"))
            if not found:
                return None
            try:
                generation, count = found[b"generation"].decode(), int(found[b"parts"])
                seq, written_at = int(found[b"seq"]), float(found[b"written_at"])
            except (KeyError, ValueError, UnicodeDecodeError):
                raise StoreError("the Redis store's saved index pointer is malformed") from None
            pipe = self._pipeline(transaction=False, client=client)
            for number in range(min(count, _MAX_INDEX_PARTS)):
                pipe.get(self._key(f"index:{generation}:{number}"))
            parts = pipe.execute()
        if count > _MAX_INDEX_PARTS or any(part is None for part in parts):
            return None  # replaced and deleted meanwhile, or expired: none to load
        return SavedIndex(seq, written_at, b"".join(parts))

    def saved_index_info(self) -> tuple[int, float] | None:
        with self._errors("read a saved index"):
            seq, written_at = self._client.hmget(self._key("index"), "seq", "written_at")
        try:
            return None if seq is None else (int(seq), float(written_at))
        except (TypeError, ValueError):
            raise StoreError("the Redis store's saved index pointer is malformed") from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            clients = [self._client] + ([self._bytes_client] if self._bytes_client else [])
            for client in clients:
                if self._cluster:
                    with suppress(*_redis_cluster.CLUSTER_ERRORS):
                        _redis_cluster.close_cluster(client)
                else:
                    client.close()

    def _binary(self) -> Any:
        """A client whose replies are bytes, on the same server or cluster."""
        if self._bytes_client is None:
            name = f"{self.client_name}-index"
            self._bytes_client = (
                _redis_cluster.connect_cluster(self._url, self._retry, client_name=name,
                                               binary=True)
                if self._cluster
                else connect(self._url, self._retry, client_name=name, binary=True)
            )  # fmt: skip
        return self._bytes_client

    def subscribe(self, on_change: Callable[[], None]) -> PushListener:
        """Call ``on_change`` after every change any writer makes (see ``push``)."""
        self._check_open()
        url, channel, name = self._url, self.channel, f"{self.client_name}-push"
        if not self._cluster:
            return PushListener(
                lambda: PubSubChannel(url, channel, client_name=name), on_change, name="redis"
            ).start()
        client = self._client

        def any_live_node() -> PubSubChannel:
            # PUBLISH reaches every node: the first one that answers will do.
            failure: redis.RedisError = redis.ConnectionError("the cluster has no nodes")
            for node_url in _redis_cluster.node_urls(client, url, self._key("seq")):
                try:
                    return PubSubChannel(node_url, channel, client_name=name)
                except redis.RedisError as exc:
                    failure = exc
            raise failure

        return PushListener(any_live_node, on_change, name="redis").start()

    # -- internals ----------------------------------------------------------

    def _add_batch(self, batch: list[Rule]) -> int:
        args = _redis_bulk.batch_args(batch, self.channel, self._caps)
        keys = [
            *self._shared_keys,
            *(self._rule_key(rule.id) for rule in batch),
            *(self._bucket_key(rule.id) for rule in batch),
        ]
        with self._errors("add rules"):
            seq = int(cast("int", self._add_many(keys=keys, args=args)))
        if seq < 0:
            raise DuplicateRule("a rule with one of these ids already exists, or is repeated")
        return seq

    def _pipeline(self, *, transaction: bool, client: Any = None) -> Any:
        """A pipeline; in a cluster, one that runs on the slot's master (``_redis_cluster``)."""
        client = self._client if client is None else client
        if self._cluster:
            return _redis_cluster.SlotPipeline(client, self._key("seq"), transaction=transaction)
        return client.pipeline(transaction=transaction)

    def _head(self) -> int:
        with self._errors("read the seq"):
            return int(cast("str | None", self._client.get(self._key("seq"))) or 0)

    def _write(self, what: str, script: Any, rule_id: str, args: list[Any]) -> Any:
        wait_replicas, wait_aof = self._wait
        keys = [self._rule_key(rule_id), f"{self._tag}:lifted:{rule_id}", *self._shared_keys,
                self._bucket_key(rule_id)]  # fmt: skip

        def run(client: Any) -> list[Any]:
            # Script and WAIT share one connection: WAIT counts that connection's writes.
            pipe = client.pipeline(transaction=False)
            script(keys=keys, args=args, client=pipe)
            if wait_aof:
                pipe.execute_command("WAITAOF", 1, wait_replicas, self._wait_ms)
            elif wait_replicas:
                pipe.wait(wait_replicas, self._wait_ms)
            return cast("list[Any]", pipe.execute())

        with self._errors(what):
            if self._cluster:  # on the slot's master: WAIT must follow the script there
                results = _redis_cluster.on_slot_master(self._client, keys[0], run)
            else:
                results = run(self._client)
        if wait_aof or wait_replicas:
            _check_acknowledged(results[1], wait_replicas=wait_replicas, wait_aof=wait_aof)
        return results[0]

    def _scan(self) -> Iterator[Rule]:
        """Every rule in add order, a page at a time (keys Redis expired are skipped)."""
        for texts in self._pages():
            for text in texts:
                if text is not None:
                    yield self._load(_strip_nonce(text))

    def _pages(self) -> Iterator[list[str | None]]:
        """The stored texts of every rule in add order, a page at a time (None: expired)."""
        after, rules, prefix = "-inf", self._key("rules"), self._rule_key("")
        while True:
            with self._errors("read rules"):
                # The page's ids, and its last one's seq alone: redis-py converts scores one
                # Python call each, a second and a half per million rules.
                pipe = self._pipeline(transaction=True)
                pipe.zrangebyscore(rules, after, "+inf", 0, _PAGE)
                pipe.zrangebyscore(rules, after, "+inf", _PAGE - 1, 1, withscores=True)
                ids, last = pipe.execute()
                texts = self._client.mget([prefix + rule_id for rule_id in ids]) if ids else []
            yield texts
            if len(ids) < _PAGE or not last:
                return
            after = f"({int(last[0][1])}"

    def _last_seq_before(self, horizon: float) -> int:
        """The highest seq of the log's prefix older than ``horizon`` (0: nothing to trim)."""
        start, cut = "-", 0
        while True:
            entries = self._client.xrange(self._key("changes"), start, "+", count=1_000)
            for entry_id, fields in entries:
                if float(fields["at"]) >= horizon:
                    return cut
                cut = _entry_seq(entry_id)
            if len(entries) < 1_000:
                return cut
            start = f"({entries[-1][0]}"

    def _audit_entry(self, entry_id: str, fields: dict[str, str]) -> AuditEntry:
        rule = self._load(fields["rule"])
        return AuditEntry(
            seq=_entry_seq(entry_id),
            at=float(fields["at"]),
            actor=fields["actor"],
            action="revoke" if fields["action"] == "revoke" else "lift",
            rule_id=rule.id,
            kind=str(rule.kind),
            value=rule.value,
            reason=fields["reason"],
        )

    def _remember_tip(self, head: int, last: list[tuple[str, dict[str, str]]]) -> None:
        """The change at ``head`` as this reader saw it (None: not in the log)."""
        if last and _entry_seq(last[0][0]) == head:
            self._tip = (head, last[0][1])
        else:
            self._tip = None

    def _same_tip(self, seq: int, tip: list[tuple[str, dict[str, str]]], *, trimmed: int) -> bool:
        """Whether the change at ``seq`` is still the one this reader last saw there.

        A failover can lose the newest changes of the old master after a reader read
        them; the new master then hands their seqs to other rules. Comparing the
        reader's last change with what the log now holds at its seq tells the two
        histories apart, and the reader reloads instead of skipping the new rules.
        """
        known = self._tip
        if known is None or known[0] != seq or seq <= trimmed:
            return True  # nothing to compare with (a fresh store, or a trimmed log)
        return bool(tip) and tip[0][1] == known[1]

    def _same_epoch(self, epoch: str | None) -> bool:
        """Whether the store is the one this reader saw before (a wiped Redis is not)."""
        seen, self._epoch = self._epoch, epoch
        return seen is _UNSEEN or seen == epoch

    def _key(self, name: str) -> str:
        return f"{self._tag}:{name}"

    def _bucket_key(self, rule_id: str) -> str:
        return f"{self._tag}:bucket:{_redis_bulk.bucket_of(rule_id)}"

    def _rule_key(self, rule_id: str) -> str:
        return f"{self._tag}:rule:{rule_id}"

    def _load(self, text: str) -> Rule:
        try:
            return Rule.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the Redis store holds a malformed rule: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the Redis store at {self._where} is closed")

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except _redis_cluster.CLUSTER_ERRORS as exc:
            message = redact(" ".join(str(exc).split()), self._secret) or type(exc).__name__
            raise StoreError(
                f"the Redis store at {self._where} could not {what}: {message}"
            ) from exc


def open_redis_store(url: str) -> RedisStore:
    """``redis://host:6379/0?prefix=myapp`` (see the module docstring for the options)."""
    rest, own = split_options(url, _OWN_OPTIONS)
    return RedisStore(
        rest,
        prefix=own.get("prefix", "revoker"),
        max_changes=option_int(own, "max_changes", _DEFAULT_CAP, low=100),
        max_audit=option_int(own, "max_audit", _DEFAULT_CAP, low=100),
        wait_replicas=option_int(own, "wait_replicas", 0, low=0),
        wait_aof=bool(option_int(own, "wait_aof", 0, low=0, high=1)),
        cluster=bool(option_int(own, "cluster", 0, low=0, high=1)),
    )


def _by_bucket(ids: Iterable[str]) -> dict[int, list[str]]:
    buckets: dict[int, list[str]] = {}
    for rule_id in ids:
        buckets.setdefault(_redis_bulk.bucket_of(rule_id), []).append(rule_id)
    return buckets


def _strip_nonce(stored: str) -> str:
    # A rule key holds "<write nonce>\n<rule JSON>" (see the scripts).
    return stored.partition("\n")[2]


def _entry_seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _active(rule: Rule, now: float) -> bool:
    return rule.expires_at is None or rule.expires_at > now


def _where(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError:  # a bad port: redis-py's parser reports it in a moment
        port = 0
    return f"{parts.hostname or 'localhost'}:{port}"


def _check_acknowledged(reply: Any, *, wait_replicas: int, wait_aof: bool) -> None:
    if wait_aof:
        local, replicas = (int(n) for n in reply)
        if local < 1 or replicas < wait_replicas:
            raise StoreError(
                "the rule was written but Redis did not confirm the AOF fsync"
                f" (local {local}, replicas {replicas}/{wait_replicas}); retry the revoke"
            )
    elif int(reply) < wait_replicas:
        raise StoreError(
            f"the rule was written but only {int(reply)} of {wait_replicas} Redis replicas"
            " confirmed it; retry the revoke"
        )
