"""Lua scripts of the Redis ticket lock; each one runs atomically on the server.

Keys of one conversation (``KEYS``), all deleted or expiring when idle:

1. ``<ns><conversation>:q`` - sorted set, the queue: member and score are the
   ticket. The head (lowest ticket) is the ticket being served.
2. ``<ns><conversation>:w`` - hash of waiting tickets: ``d:<ticket>`` is the
   waiter's heartbeat deadline (Redis clock, ms), ``c:<ticket>`` the pub/sub
   channel of the replica that waits for it.
3. ``<ns><conversation>:h`` - the holder, ``"<ticket>:<fence>"``, with a PX
   lifetime that the holder's replica keeps extending.
4. ``<ns>seq`` - one global counter for tickets and fences; it never expires,
   so both stay strictly increasing even after a conversation's keys are gone.
   It never falls behind the Redis clock in microseconds either: a Redis
   restarted without persistence must not hand out fences lower than those a
   persistent tracker store has already accepted (it would refuse every write).
5. ``<ns><conversation>:n`` - the note a holder left on release (see
   ``LockHandle.note``), handed to exactly the next holder: taken (read and
   deleted) when the next ticket claims the lock, so a holder that crashed or
   lost its lock leaves no note for the one after it. It expires with the
   idle queue.

``ARGV[1..3]`` are always the lock lifetime, the waiter heartbeat TTL and the
idle-queue expiry, in milliseconds.

The head is *alive* while it holds the lock (``:h`` names it) or while its
waiter's heartbeat has not lapsed. A dead head (crashed holder whose ``:h``
expired, or a waiter that vanished) is skipped by whoever touches the queue
next, and the new head's replica is woken through ``PUBLISH``.
"""

from __future__ import annotations

_PRELUDE = """
local queue, waiters, holder, seq, note = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local lifetime = tonumber(ARGV[1])
local waiter_ttl = tonumber(ARGV[2])
local idle_expiry = tonumber(ARGV[3])

local function int(n)
  return string.format('%d', n)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function head()
  return redis.call('ZRANGE', queue, 0, 0)[1]
end

local function holder_fence(ticket)
  local v = redis.call('GET', holder)
  if v and string.sub(v, 1, #ticket + 1) == ticket .. ':' then
    return tonumber(string.sub(v, #ticket + 2))
  end
  return nil
end

local function alive(ticket, now)
  if holder_fence(ticket) then
    return true
  end
  local deadline = tonumber(redis.call('HGET', waiters, 'd:' .. ticket))
  return deadline ~= nil and deadline >= now
end

local function forget(ticket)
  redis.call('ZREM', queue, ticket)
  redis.call('HDEL', waiters, 'd:' .. ticket, 'c:' .. ticket)
  if holder_fence(ticket) then
    redis.call('DEL', holder)
  end
end

-- Skip dead heads; wake the new head's replica when the head changed.
local function advance(now, before, me)
  local h = head()
  while h and not alive(h, now) do
    forget(h)
    h = head()
  end
  if h and h ~= before and h ~= me then
    local channel = redis.call('HGET', waiters, 'c:' .. h)
    if channel then
      redis.call('PUBLISH', channel, h)
    end
  end
  return h
end

-- INCR, but never below the server clock in microseconds (see the module doc).
local function next_seq()
  local n = redis.call('INCR', seq)
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if n < floor then
    redis.call('SET', seq, int(floor))
    n = floor
  end
  return n
end

local function claim(ticket)
  local fence = next_seq()
  redis.call('SET', holder, ticket .. ':' .. int(fence), 'PX', lifetime)
  redis.call('HDEL', waiters, 'd:' .. ticket, 'c:' .. ticket)
  return fence
end

-- The previous holder's note, for the holder that just claimed (false if none).
local function take_note()
  local n = redis.call('GET', note)
  if n then
    redis.call('DEL', note)
  end
  return n
end

local function touch()
  redis.call('PEXPIRE', queue, idle_expiry)
  redis.call('PEXPIRE', waiters, idle_expiry)
end
"""

ENQUEUE = (
    _PRELUDE
    + """
-- ARGV[4]: the caller's notification channel.
-- Returns {ticket, fence or 0, the previous holder's note when claimed}.
local ticket = int(next_seq())
local before = head()
redis.call('ZADD', queue, ticket, ticket)
if not before then
  local fence = claim(ticket)
  touch()
  return {tonumber(ticket), fence, take_note()}
end
local now = now_ms()
redis.call('HSET', waiters, 'd:' .. ticket, now + waiter_ttl, 'c:' .. ticket, ARGV[4])
if advance(now, before, ticket) == ticket then
  local fence = claim(ticket)
  touch()
  return {tonumber(ticket), fence, take_note()}
end
touch()
return {tonumber(ticket), 0}
"""
)

POLL = (
    _PRELUDE
    + """
-- ARGV[4]: ticket. Heartbeat, skip a dead head, claim when ours.
-- Returns {1, fence, note} when held (the note only when this poll claimed),
-- {0, 0} to keep waiting, {-1, 0} when skipped.
local ticket = ARGV[4]
if not redis.call('ZSCORE', queue, ticket) then
  return {-1, 0}
end
local held = holder_fence(ticket)
if held then
  return {1, held}
end
local now = now_ms()
redis.call('HSET', waiters, 'd:' .. ticket, now + waiter_ttl)
local h = advance(now, head(), ticket)
if h == ticket then
  local fence = claim(ticket)
  touch()
  return {1, fence, take_note()}
end
touch()
return {0, 0}
"""
)

LEAVE = (
    _PRELUDE
    + """
-- ARGV[4]: ticket, ARGV[5]: the holder's note for the next holder ('' for none).
-- Release the lock or give up a waiting ticket.
-- Returns 1 if the ticket held the lock, 2 if it was queued without holding
-- (a waiter, or a holder whose lock expired but nobody took over), 0 if the
-- ticket was already gone (skipped: someone else may have held the lock).
-- Only a holder (1) leaves its note.
local ticket = ARGV[4]
local queued = redis.call('ZSCORE', queue, ticket)
local status = 0
if holder_fence(ticket) then
  status = 1
elseif queued then
  status = 2
else
  return 0
end
if status == 1 and ARGV[5] and ARGV[5] ~= '' then
  redis.call('SET', note, ARGV[5], 'PX', idle_expiry)
end
local before = head()
forget(ticket)
advance(now_ms(), before, nil)
touch()
return status
"""
)

REFRESH = (
    _PRELUDE
    + """
-- ARGV[4]: ticket, ARGV[5]: fence. Extend the holder's lifetime.
-- Returns 1 if extended, 2 if it had expired but nobody took over (restored),
-- 0 if the lock is lost.
local ticket = ARGV[4]
if holder_fence(ticket) then
  redis.call('PEXPIRE', holder, lifetime)
  touch()
  return 1
end
if redis.call('EXISTS', holder) == 0 and head() == ticket then
  redis.call('SET', holder, ticket .. ':' .. ARGV[5], 'PX', lifetime)
  touch()
  return 2
end
return 0
"""
)
