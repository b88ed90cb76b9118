"""The Redis outbox's scripts (gateway/writes/redis_store.py has the keys they touch): each
state change is one script, so it is atomic and conditional on the state it expects."""

__all__ = [
    "DEPTH",
    "FORGET",
    "MOVE",
    "PURGE",
    "REQUEUE",
    "RESERVE",
    "SETTLE",
    "SET_ASIDE",
    "WAITING",
]

RESERVE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local held = redis.call('GET', ARGV[4] .. existing)
  if held then return held end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return false
"""
# KEYS: idem, record, due; ARGV: write id, record, next_at, record key prefix. No expiry while
# PENDING (SETTLE sets it)

SETTLE = """
if ARGV[6] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[7], ARGV[6])
  redis.call('XDEL', KEYS[4], ARGV[6])
end
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['status'] ~= 'PENDING' then return 0 end
if ARGV[3] == 'PENDING' then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[8])
  if redis.call('GET', KEYS[5]) == ARGV[2] then redis.call('PEXPIRE', KEYS[5], ARGV[8]) end
  redis.call('ZREM', KEYS[2], ARGV[2])
  if ARGV[5] == '1' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) end
end
return 1
"""
# KEYS: record, due, dead, stream, idem; ARGV: record, write id, new status, score (next_at/
# updated_at), dead, the stream entry this replica delivered it from ('' if none), the group, ttl
# ms. The entry goes in the same step as the record's new place: a write is never in the stream
# and `due` at once (the outbox depth counts it once). Final: record and key expire together,
# retention after now

MOVE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""
# KEYS: due, stream; ARGV: now, limit

REQUEUE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local record = cjson.decode(current)
if record['status'] ~= 'REJECTED' or not record['dead'] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[4]) == ARGV[2] then redis.call('PERSIST', KEYS[4]) end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""
# KEYS: record, due, dead, idem; ARGV: record, write id, next_at. PENDING again: no expiry

SET_ASIDE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[3] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[4], ARGV[3])
  redis.call('XDEL', KEYS[4], ARGV[3])
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if redis.call('GET', KEYS[7]) == ARGV[2] then redis.call('PEXPIRE', KEYS[7], ARGV[7]) end
local added = redis.call('ZADD', KEYS[5], 'NX', ARGV[5], ARGV[2])
if added == 1 then redis.call('HSET', KEYS[6], ARGV[2], ARGV[6]) end
return added
"""
# KEYS: record, due, dead, stream, unreadable, its reasons, idem (if the record names it);
# ARGV: the raw record read, write id, stream entry ('' if none), group, now, why, ttl ms. Only
# if the record is still what was read (not rewritten meanwhile); 1 the first time (logged once)

PURGE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('HDEL', KEYS[3], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
return 0
"""
# KEYS: dead, unreadable, its reasons; ARGV: before. The indexes, trimmed as their records expire

FORGET = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""
# KEYS: stream; ARGV: group, consumer. A consumer is removed only while it holds no entry: its
# deliveries stay claimable by the others (XAUTOCLAIM) until they are acknowledged

DEPTH = """
return redis.call('ZCARD', KEYS[1]) + redis.call('XLEN', KEYS[2])
"""
# KEYS: due, stream. One step: a worker moves writes between the two at any moment (a deferral
# XDEL + ZADD, the mover ZREM + XADD); read in two round trips, a write moved between them was
# counted twice or not at all (a whole batch deferred at once: "0 pending" with 30 undelivered)

WAITING = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[1])) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' then ids[#ids + 1] = fields[i + 1] end
  end
end
return ids
"""
# KEYS: due, stream; ARGV: how many of each. The ids waiting in both, read in one step (as DEPTH)
