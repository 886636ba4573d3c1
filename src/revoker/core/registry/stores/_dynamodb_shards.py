"""The DynamoDB store's sharded change log: where a rule's writes go, and where a reader is.

A table spreads its writes over ``log_shards`` shards (a table setting, recorded
by the first process that uses a new table; a table written before shards
existed has one). A rule belongs to the shard its id hashes to, and each shard
has a head item and rule, change and audit partitions of its own. Writes to
different shards never touch one item, so no single counter caps them (one item
takes at most 1,000 write units a second, and a head item is written by every
write of its shard). Shard 0's keys are those of the one-shard layout (``head``,
``rule``, ``change``, ``audit``): a table of one shard *is* a table from before.

The change at seq ``q`` of shard ``s`` has the id ``q * S + s``: unique, the same
in every process, and equal to the seq on a one-shard table. A shard's changes
become visible in its seq order; different shards' in no common order, so where
a reader is is a cursor of ``S`` seqs, not one number. The store protocol hands a
reader one ``int``, so ``ShardCursors`` remembers the cursor reached at each id
it hands out (the last change of a page, a snapshot's position) and finds it
again when the reader passes that id back. An id it does not know (another
reader's, or forgotten) answers "take a snapshot", which is always safe, and so
does one whose cursor led to a gap in the log (it is forgotten then: the next
snapshot's cursor stands, not the stale one).

Each replica reads through a ``DynamoDBStore.reader()`` of its own, whose cursors
only it writes: the latest record of an id is where that reader is. Callers of
the store's own ``changes_since`` share one set of cursors, so two of them
reaching the same id at different cursors keep the lower of each shard's seqs
(the one further ahead replays a few changes of a shard in their order, which
leaves the same rules); an id forgotten there and reached again by another of
them could carry the other's cursor, so a caller that follows the log for long
takes a reader of its own.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

__all__ = [
    "DEFAULT_LOG_SHARDS",
    "LOG_SHARDS_SETTING",
    "MAX_LOG_SHARDS",
    "ShardCursors",
    "change_id",
    "partition",
    "shard_of",
]

#: The setting a table records its shard count in.
LOG_SHARDS_SETTING = "log_shards"
#: Shards of a new table: sixteen head items, sixteen times the writes of one.
DEFAULT_LOG_SHARDS = 16
#: A reader reads every head in one BatchGetItem (100 keys at most); 64 leave room.
MAX_LOG_SHARDS = 64
_KEEP_CURSORS = 256  # a replica needs its latest one; a few readers of one store fit


def shard_of(rule_id: str, shards: int) -> int:
    """The shard a rule's writes go to: CRC-32 of its id (the same in every process)."""
    if shards == 1:
        return 0
    return zlib.crc32(rule_id.encode("utf-8", "surrogatepass")) % shards


def partition(kind: str, shard: int) -> str:
    """The partition key of a shard's ``head``, ``rule``, ``change`` or ``audit`` items."""
    return kind if shard == 0 else f"{kind}#{shard:02d}"


def change_id(shard: int, seq: int, shards: int) -> int:
    return seq * shards + shard


class ShardCursors:
    """The cursor (one seq per shard) a reader reached at each id handed to it; ``shared``
    by several readers, two records of one id keep the lower seq of each shard."""

    def __init__(self, shards: int, *, shared: bool = False) -> None:
        self.shards = shards
        self._shared = shared
        self._known: OrderedDict[int, tuple[int, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def cursor(self, seq: int) -> tuple[int, ...] | None:
        """The cursor of ``seq``, or None when this reader cannot know it."""
        if seq < 0:
            return None
        if self.shards == 1:
            return (seq,)
        if seq == 0:
            return (0,) * self.shards
        with self._lock:
            found = self._known.get(seq)
            if found is not None:
                self._known.move_to_end(seq)
            return found

    def remember(self, seq: int, cursor: tuple[int, ...]) -> None:
        if self.shards == 1 or seq == 0:
            return  # derived, not remembered
        with self._lock:
            known = self._known.get(seq)
            if known is not None and self._shared:
                cursor = tuple(map(min, known, cursor))
            self._known[seq] = cursor
            self._known.move_to_end(seq)
            while len(self._known) > _KEEP_CURSORS:
                self._known.popitem(last=False)

    def forget(self, seq: int) -> None:
        """Forget where ``seq`` led: its cursor met a gap, or a store behind it."""
        with self._lock:
            self._known.pop(seq, None)

    def position(self, heads: list[int]) -> int:
        """The id a snapshot taken at ``heads`` answers (remembered): 0 for an empty log."""
        if self.shards == 1:
            return heads[0]
        seq = max((change_id(s, q, self.shards) for s, q in enumerate(heads) if q), default=0)
        self.remember(seq, tuple(heads))
        return seq
