"""The Lua scripts of the Redis store: each write is one script, so it is atomic.

Every script names all its keys in KEYS (one hash tag, so one Cluster slot)::

    KEYS[1] {p}:rule:<id>    KEYS[2] {p}:lifted:<id>   KEYS[3] {p}:rules   KEYS[4] {p}:expiry
    KEYS[5] {p}:seq          KEYS[6] {p}:changes       KEYS[7] {p}:audit   KEYS[8] {p}:meta
    KEYS[9] {p}:bucket:<n>   the snapshot hash of this rule's id (see redis.py)

A rule key holds "<write nonce>\\n<rule JSON>": a retried write (redis-py
resends after a dropped connection) recognises its own nonce and answers as
the first attempt did.
"""

from __future__ import annotations

__all__ = ["ADD", "LIFT", "SHARED_KEYS", "TRIM"]

#: KEYS[3:] of ADD and LIFT; KEYS[1:2] are the rule's own keys.
SHARED_KEYS = ("rules", "expiry", "seq", "changes", "audit", "meta")

# Append a change and its audit entry under the next seq, trim, and publish.
_APPEND = """
local function append(seq, op, action, rule, at, actor, reason, channel, max_changes, max_audit)
  redis.call('HSETNX', KEYS[8], 'epoch', ARGV[2])  -- the first write names this history
  local id = string.format('%d-0', seq)
  redis.call('XADD', KEYS[6], id, 'op', op, 'at', at, 'rule', rule)
  if redis.call('XLEN', KEYS[6]) > tonumber(max_changes) then
    redis.call('XTRIM', KEYS[6], 'MAXLEN', max_changes)
    local first = redis.call('XRANGE', KEYS[6], '-', '+', 'COUNT', 1)[1][1]
    local below = tonumber(string.match(first, '^%d+')) - 1
    if below > tonumber(redis.call('HGET', KEYS[8], 'trimmed') or '0') then
      redis.call('HSET', KEYS[8], 'trimmed', below)
    end
  end
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', max_audit, id,
    'at', at, 'actor', actor, 'action', action, 'rule', rule, 'reason', reason)
  redis.call('PUBLISH', channel, seq)
end
"""

#: ARGV: id, nonce, expires_at ('' = never), expires_at in ms, rule JSON, created_at,
#: actor, reason, channel, max_changes, max_audit, snapshot record. Returns {seq, 0};
#: {seq, 1} when this very write was already applied (a retry); {-1, 0} when another rule
#: has the id.
ADD = (
    _APPEND
    + """
local stored = redis.call('GET', KEYS[1])
if stored then
  if string.sub(stored, 1, #ARGV[2]) == ARGV[2] then
    return {tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1])), 1}
  end
  return {-1, 0}
end
local seq = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[1], ARGV[2] .. '\\n' .. ARGV[5])
if ARGV[3] ~= '' then
  -- A past PEXPIREAT deletes at once: such a rule waits for prune instead.
  local now = redis.call('TIME')
  if tonumber(ARGV[4]) > tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) then
    redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  end
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('HSET', KEYS[9], ARGV[1], string.format('%016d', seq) .. ARGV[12])
append(seq, 'add', 'revoke', ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11])
return {seq, 0}
"""
)

#: ARGV: id, nonce, now, actor, reason, channel, max_changes, max_audit.
#: Returns the lifted rule's JSON, or nil when no active rule has the id.
LIFT = (
    _APPEND
    + """
local receipt = redis.call('GET', KEYS[2])
if receipt and string.sub(receipt, 1, #ARGV[2]) == ARGV[2] then
  return string.sub(receipt, #ARGV[2] + 2)
end
local stored = redis.call('GET', KEYS[1])
if not stored then return false end
local expires_at = redis.call('ZSCORE', KEYS[4], ARGV[1])
if expires_at and tonumber(expires_at) <= tonumber(ARGV[3]) then return false end
local rule = string.sub(stored, string.find(stored, '\\n', 1, true) + 1)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[9], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
append(seq, 'lift', 'lift', rule, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
redis.call('SET', KEYS[2], ARGV[2] .. '\\n' .. rule, 'PX', 60000)
return rule
"""
)

#: KEYS: changes, meta. ARGV: the highest seq to drop. Trims a prefix of the log only.
TRIM = """
redis.call('XTRIM', KEYS[1], 'MINID', (tonumber(ARGV[1]) + 1) .. '-0')
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[2], 'trimmed') or '0') then
  redis.call('HSET', KEYS[2], 'trimmed', ARGV[1])
end
return 1
"""
