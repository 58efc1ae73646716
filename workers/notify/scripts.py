"""Lua scripts that keep each outbox change atomic (enqueue with coalescing, claim before send,
removal, leases)."""

from __future__ import annotations

# KEYS: seq, lanes set, lane list, pending-update pointer (or "" placeholder)
# ARGV: item key prefix, lane, meta JSON, content JSON, coalesce ("1"/"0")
# Returns the item id (an existing one when the content was merged into a queued update).
ENQUEUE = """
if ARGV[5] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing and redis.call('EXISTS', ARGV[1] .. existing) == 1 then
    redis.call('HSET', ARGV[1] .. existing, 'content', ARGV[4])
    redis.call('HINCRBY', ARGV[1] .. existing, 'rev', 1)
    return existing
  end
end
local id = tostring(redis.call('INCR', KEYS[1]))
redis.call('HSET', ARGV[1] .. id, 'meta', ARGV[3], 'content', ARGV[4], 'rev', 0)
redis.call('RPUSH', KEYS[3], id)
redis.call('SADD', KEYS[2], ARGV[2])
if ARGV[5] == '1' then
  redis.call('SET', KEYS[4], id)
end
return id
"""

# Remove the head item after Slack confirmed it (or after dead-lettering it).
# KEYS: lane list, item hash, lanes set, pending-update pointer (or placeholder), dead list
# ARGV: id, rev that was sent, lane, dead-letter JSON ("" = delivered)
# Returns 1 removed, 0 content changed meanwhile (kept, to send the newer content), -1 not head.
FINISH = """
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then
  return -1
end
if ARGV[4] == '' and redis.call('HGET', KEYS[2], 'rev') ~= ARGV[2] then
  return 0
end
redis.call('LPOP', KEYS[1])
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
end
if ARGV[4] ~= '' then
  redis.call('RPUSH', KEYS[5], ARGV[4])
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
end
return 1
"""

# Claim the head item just before it is sent, so no newer content merges into an item already in
# flight (that content gets a queued item of its own, sent after this one). An update found
# claimed before (its send failed and is retried) while a newer edit of the same message waits
# behind it is stale: it is dropped, and the newer one goes instead.
# KEYS: pending-update pointer (or placeholder), lane list, item hash, lanes set
# ARGV: id, lane
# Returns 1 claimed (send it), 0 superseded (dropped), -1 not the head any more.
CLAIM = """
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[1] then
  return -1
end
local pointer = redis.call('GET', KEYS[1])
if pointer == ARGV[1] then
  redis.call('DEL', KEYS[1])
elseif pointer and redis.call('HGET', KEYS[3], 'claimed') == '1' then
  redis.call('LPOP', KEYS[2])
  redis.call('DEL', KEYS[3])
  if redis.call('LLEN', KEYS[2]) == 0 then
    redis.call('SREM', KEYS[4], ARGV[2])
  end
  return 0
end
redis.call('HSET', KEYS[3], 'claimed', '1')
return 1
"""

# KEYS: lease; ARGV: token, ttl ms. 1 if still ours and extended.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lease; ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Drop a lane from the set when it is empty (a lane left over after a crash).
# KEYS: lane list, lanes set; ARGV: lane
FORGET_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then
  return redis.call('SREM', KEYS[2], ARGV[1])
end
return 0
"""
