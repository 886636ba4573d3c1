"""The Redis store's bulk paths: many adds in one script, and snapshot pages decoded at once.

``ADD_MANY`` writes a batch of rules atomically, as ``ADD`` would one by one
(rule key, order and expiry sets, one change and one audit entry per rule,
each under its own seq), but checks every id first, trims the change log once
and publishes once, for the whole batch. KEYS are the six shared keys, then
the batch's rule keys (one hash tag: one Cluster slot).

``active_rows`` turns the stored texts of snapshot pages into plain rows, one
``json.loads`` per page (``decode_rows``): this store wrote (and validated)
every one of them, so they are not validated again.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from revoker.core.errors import StoreError
from revoker.core.registry.rules import Rule, StoredRow

__all__ = [
    "ADD_MANY",
    "BUCKETS",
    "FILE_RECORDS",
    "active_rows",
    "batch_args",
    "bucket_of",
    "decode_rows",
    "dump_rule",
    "snapshot_record",
]

#: Rules are spread over this many snapshot hashes by a CRC of their id (see redis.py).
BUCKETS = 1024
_NONE_BITS = "7ff8000000000000"  # NaN: a missing cutoff or expires_at
_KIND_DIGIT = {kind: str(code) for code, kind in enumerate(
    ("key", "token", "family", "session", "subject", "client", "issuer", "email"))}  # fmt: skip

#: ARGV: nonce, channel, max_changes, max_audit, then per rule: id, expires_at ('' = never),
#: expires_at in ms, rule JSON, created_at, actor, reason, snapshot record. KEYS: the six
#: shared keys, the batch's rule keys, then its bucket keys. Returns the last seq; -1 when an
#: id is already stored or repeated. A retry of a batch that was applied returns its last seq.
#: ``migrate``: snapshot records for rules stored before the buckets existed. KEYS: per rule,
#: its rule key then its bucket key; ARGV: per rule, its id then its record (seq in front).
#: A rule whose key is gone (lifted or expired since it was read) gets no record, and a
#: record already there is kept; returns how many were written.
FILE_RECORDS = """
local filed = 0
for i = 1, #ARGV, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1
      and redis.call('HSETNX', KEYS[i + 1], ARGV[i], ARGV[i + 1]) == 1 then
    filed = filed + 1
  end
end
return filed
"""

ADD_MANY = """
local nonce, fields = ARGV[1], 8
local count = (#ARGV - 4) / fields
local seen = {}
for i = 1, count do
  local id = ARGV[4 + (i - 1) * fields + 1]
  local stored = redis.call('GET', KEYS[6 + i])
  if stored then
    if i == 1 and string.sub(stored, 1, #nonce) == nonce then
      local last = ARGV[4 + (count - 1) * fields + 1]
      return tonumber(redis.call('ZSCORE', KEYS[1], last))
    end
    return -1
  end
  if seen[id] then return -1 end
  seen[id] = true
end
redis.call('HSETNX', KEYS[6], 'epoch', nonce)
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local seq = 0
for i = 1, count do
  local base = 4 + (i - 1) * fields
  local id, expires_at, expires_ms = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local text, at, actor, reason = ARGV[base + 4], ARGV[base + 5], ARGV[base + 6], ARGV[base + 7]
  seq = redis.call('INCR', KEYS[3])
  redis.call('SET', KEYS[6 + i], nonce .. '\\n' .. text)
  if expires_at ~= '' then
    if tonumber(expires_ms) > now_ms then
      redis.call('PEXPIREAT', KEYS[6 + i], expires_ms)
    end
    redis.call('ZADD', KEYS[2], expires_at, id)
  end
  redis.call('ZADD', KEYS[1], seq, id)
  redis.call('HSET', KEYS[6 + count + i], id, string.format('%016d', seq) .. ARGV[base + 8])
  local entry = string.format('%d-0', seq)
  redis.call('XADD', KEYS[4], entry, 'op', 'add', 'at', at, 'rule', text)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], entry,
    'at', at, 'actor', actor, 'action', 'revoke', 'rule', text, 'reason', reason)
end
if redis.call('XLEN', KEYS[4]) > tonumber(ARGV[3]) then
  redis.call('XTRIM', KEYS[4], 'MAXLEN', ARGV[3])
  local first = redis.call('XRANGE', KEYS[4], '-', '+', 'COUNT', 1)[1][1]
  local below = tonumber(string.match(first, '^%d+')) - 1
  if below > tonumber(redis.call('HGET', KEYS[6], 'trimmed') or '0') then
    redis.call('HSET', KEYS[6], 'trimmed', below)
  end
end
redis.call('PUBLISH', ARGV[2], seq)
return seq
"""


# The nine fields of a stored rule's JSON, in ``Rule`` field order.
_FIELDS = itemgetter(
    "id", "kind", "value", "issuer", "cutoff", "expires_at", "reason", "actor", "created_at"
)


def decode_rows(texts: Sequence[str | None]) -> list[StoredRow]:
    """The rows of one page of stored texts ("<nonce>\\n<rule JSON>"); None (expired) skipped.

    Raises ``ValueError``, ``TypeError`` or ``KeyError`` on a text this store did not write.
    """
    bodies = [text.partition("\n")[2] for text in texts if text is not None]
    if not bodies:
        return []
    return list(map(_FIELDS, json.loads("[" + ",".join(bodies) + "]")))


def active_rows(pages: Iterable[Sequence[str | None]], now: float) -> Iterator[StoredRow]:
    """The rows of every page, those expired at ``now`` left out, decoded a page at a time."""
    for texts in pages:
        try:
            page = decode_rows(texts)
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"the Redis store holds a malformed rule: {exc!r}") from exc
        yield from (row for row in page if row[5] is None or row[5] > now)


def bucket_of(rule_id: str) -> int:
    """The snapshot hash a rule's record lives in."""
    return zlib.crc32(rule_id.encode("utf-8", "surrogatepass")) % BUCKETS


def snapshot_record(rule: Rule) -> str:
    """A rule's snapshot record, less the 16-digit seq the script puts in front.

    The three times as the hex of their IEEE 754 bits (cutoff, expires_at, created_at;
    NaN for None), the kind as a digit, then id, value, issuer, reason and actor, each
    after a ``\\x1f``. A rule whose texts hold a ``\\x1f`` is recorded as its JSON,
    which never holds one (JSON escapes control characters).
    """
    texts = (rule.id, rule.value, rule.issuer or "", rule.reason, rule.actor)
    if any("\x1f" in text for text in texts):
        return dump_rule(rule)
    times = "".join(
        _NONE_BITS if x is None else struct.pack(">d", x).hex()
        for x in (rule.cutoff, rule.expires_at, rule.created_at)
    )
    return "\x1f".join((times + _KIND_DIGIT[rule.kind.value], *texts))


def dump_rule(rule: Rule) -> str:
    """The JSON a rule key, a change and an audit entry hold."""
    return json.dumps(rule.to_dict(), separators=(",", ":"))


def batch_args(batch: Sequence[Rule], channel: str, caps: tuple[int, int]) -> list[Any]:
    """``ADD_MANY``'s ARGV for ``batch``, under a new nonce."""
    args: list[Any] = [uuid.uuid4().hex, channel, *caps]
    for rule in batch:
        expires_at = rule.expires_at
        args += (
            rule.id,
            "" if expires_at is None else repr(expires_at),
            "" if expires_at is None else math.ceil(expires_at * 1000),
            dump_rule(rule),
            repr(rule.created_at),
            rule.actor,
            rule.reason,
            snapshot_record(rule),
        )
    return args
