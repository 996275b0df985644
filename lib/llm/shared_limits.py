"""A rate limiter whose queue lives in Redis, shared by every process on it, with the rules of
the in-process `Limiter` (lib/llm/ratelimits.py): rolling 60-second windows for requests and
tokens, each earlier call counted from the moment its provider answered it, first come first
served, and a Retry-After pausing every caller.

One Lua script does each step atomically, so "first come" is the order in which the claims
reached Redis. Differences from the in-process limiter, because processes can vanish:
- a ticket nobody has touched (claimed, waited on or answered) for `STALE_S` is dropped, so a
  process killed mid-call cannot hold its place for ever; a waiting ticket lost that way (or
  to a Redis restart) is claimed again at the back of the queue;
- times come from each process's clock (the wall clock by default: processes share no
  monotonic one), so processes on different hosts need synchronised clocks (NTP);
- a call claimed after one that is still waiting but answered before it (its process slept
  past its turn) counts for the waiting one too: stricter, never looser;
- every key expires once nothing has used it for a window plus `STALE_S`.
While Redis is away each call falls back to the process's own limiter (lib/llm/shared_state.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib.llm.ratelimits import WINDOW_S, Limit, Limiter, Ticket
from lib.llm.shared_state import SharedState, key

STALE_S = 600.0  # longer than a call's deadline (300 s by default) takes to be answered

# KEYS: order (a list of the ids of calls not yet answered, in claim order), pending (a hash
# of those: id -> "at tokens touched"), done (a sorted set of answered calls in the window,
# "id:tokens" by when answered), meta (seq, paused, tokens: the sum of done's tokens).
# ARGV: op, now, window, rpm, tpm, stale, ttl, ticket id, tokens or seconds.
# Each step reads the calls not yet answered (as many as are in flight or waiting) and only
# what it needs of the answered ones (a count, one rank, a running sum), so a busy window of
# thousands of calls costs no more than a quiet one.
LUA = """
local order, pending, done, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rpm, tpm, stale, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
                             tonumber(ARGV[7])
local id, n = ARGV[8], tonumber(ARGV[9])

local function fmt(x) return string.format('%.17g', x) end
local function tokens_of(member) return tonumber(string.match(member, ':(%d+)$')) end
local function keep(extra)
  local ms = math.ceil(math.max(ttl, extra) * 1000)
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ms) end
end
local function save(tid, t)
  redis.call('HSET', pending, tid, fmt(t.at) .. ' ' .. t.tokens .. ' ' .. fmt(t.touched))
end
local function forget(tid)
  redis.call('LREM', order, 1, tid)
  redis.call('HDEL', pending, tid)
end

-- Answered calls out of every window leave it (and the running sum).
local gone = redis.call('ZRANGEBYSCORE', done, '-inf', fmt(now - window))
if #gone > 0 then
  local sum = 0
  for _, m in ipairs(gone) do sum = sum + tokens_of(m) end
  if sum > 0 then redis.call('HINCRBY', meta, 'tokens', -sum) end  -- never "-0"
  redis.call('ZREMRANGEBYSCORE', done, '-inf', fmt(now - window))
end
local ndone = redis.call('ZCARD', done)

-- The calls not yet answered, in claim order, without those a vanished process left.
local function load()
  local out = {}
  for _, tid in ipairs(redis.call('LRANGE', order, 0, -1)) do
    local v = redis.call('HGET', pending, tid)
    local at, tokens, touched
    if v then at, tokens, touched = string.match(v, '^(%S+) (%S+) (%S+)$') end
    if (not v) or tonumber(touched) < now - stale then
      forget(tid)
    else
      table.insert(out, {id = tid, at = tonumber(at), tokens = tonumber(tokens),
                         touched = tonumber(touched)})
    end
  end
  return out
end

local function done_kth_latest(k)
  return tonumber(redis.call('ZREVRANGE', done, k - 1, k - 1, 'WITHSCORES')[2])
end

-- The in-process Limiter._earliest: `ahead` are the unanswered calls claimed before this
-- one (each counted at max(at, now)); every answered call in the window counts too.
local function earliest(ahead, tokens)
  local at = math.max(now, tonumber(redis.call('HGET', meta, 'paused') or '0'))
  if #ahead > 0 then at = math.max(at, ahead[#ahead].at) end  -- first come, first go
  local p = {}
  for _, t in ipairs(ahead) do table.insert(p, math.max(t.at, now)) end
  table.sort(p, function(a, b) return a > b end)  -- latest first
  if rpm > 0 and #p + ndone >= rpm then
    -- The rpm-th latest of both sets: the best split of rpm calls between them.
    local best = -math.huge
    for j = math.max(0, rpm - ndone), math.min(#p, rpm) do
      local x = (j == 0) and math.huge or p[j]
      local y = (j == rpm) and math.huge or done_kth_latest(rpm - j)
      best = math.max(best, math.min(x, y))
    end
    at = math.max(at, best + window)
  end
  if tpm > 0 then
    -- Leave out the oldest calls until the rest, plus this one, fit the token limit.
    local total = tonumber(redis.call('HGET', meta, 'tokens') or '0')
    for _, t in ipairs(ahead) do total = total + t.tokens end
    local i = 0
    while total + tokens > tpm and i < ndone do
      local page = redis.call('ZRANGE', done, i, i + 99, 'WITHSCORES')
      if #page == 0 then break end
      for k = 1, #page, 2 do
        if total + tokens <= tpm then break end
        total = total - tokens_of(page[k])
        at = math.max(at, tonumber(page[k + 1]) + window)
        i = i + 1
      end
    end
    local q = {}  -- then the unanswered ones, oldest first
    for _, t in ipairs(ahead) do table.insert(q, {math.max(t.at, now), t.tokens}) end
    table.sort(q, function(a, b) return a[1] < b[1] end)
    for _, e in ipairs(q) do
      if total + tokens <= tpm then break end
      total = total - e[2]
      at = math.max(at, e[1] + window)
    end
  end
  return at
end

if op == 'claim' then
  local at = earliest(load(), n)
  local tid = tostring(redis.call('HINCRBY', meta, 'seq', 1))
  save(tid, {at = at, tokens = n, touched = now})
  redis.call('RPUSH', order, tid)
  keep(0)
  return {tid, fmt(at)}
elseif op == 'left' then
  local ahead = {}
  for _, t in ipairs(load()) do
    if t.id == id then
      t.at, t.touched = earliest(ahead, t.tokens), now
      save(id, t)
      keep(0)
      return fmt(t.at)
    end
    table.insert(ahead, t)
  end
  return 'lost'
elseif op == 'answered' then  -- counted even if its place was lost: it was sent
  forget(id)
  redis.call('ZADD', done, now, id .. ':' .. n)
  redis.call('HINCRBY', meta, 'tokens', n)
  keep(0)
  return 'ok'
elseif op == 'cancel' then
  forget(id)
  return 'ok'
elseif op == 'pause' then
  local paused = math.max(tonumber(redis.call('HGET', meta, 'paused') or '0'), now + n)
  redis.call('HSET', meta, 'paused', fmt(paused))
  keep(paused - now)
  return 'ok'
elseif op == 'waiting' then
  return fmt(earliest(load(), 0))
end
return redis.error_reply('unknown op ' .. op)
"""


@dataclass(eq=False)
class SharedTicket(Ticket):
    id: str = ""                  # its place in Redis
    local: Ticket | None = None   # its place in the process's own limiter (Redis was away)
    fresh: bool = False           # just claimed: `at` is Redis's answer of a moment ago


class SharedLimiter:
    """`Limiter`'s face (claim, left, answered, cancel, pause, waiting_s) over Redis."""

    def __init__(self, key_: str, limit: Limit, clock: Callable[[], float],
                 shared: SharedState, local: Limiter) -> None:
        self.key, self.limit, self._clock = key_, limit, clock
        self.shared, self.local = shared, local
        self._keys = [key("limit", f"{key_}:{part}")
                      for part in ("order", "pending", "done", "meta")]

    def _eval(self, op: str, ticket_id: str = "", n: float = 0) -> Any:
        """One step of the script; `n` is a call's tokens or a pause's seconds."""
        out = self.shared.script(LUA)(keys=self._keys, args=[
            op, repr(self._clock()), WINDOW_S, self.limit.rpm, self.limit.tpm, STALE_S,
            WINDOW_S + STALE_S, ticket_id, repr(n)])
        return [x.decode() for x in out] if isinstance(out, list) else out.decode()

    def claim(self, tokens: int) -> SharedTicket:
        def shared() -> SharedTicket:
            tid, at = self._eval("claim", n=tokens)
            return SharedTicket(float(at), tokens, id=tid, fresh=True)

        def local() -> SharedTicket:
            mine = self.local.claim(tokens)
            return SharedTicket(mine.at, tokens, local=mine)

        return self.shared.run(shared, local)

    def left(self, ticket: Ticket) -> float:
        assert isinstance(ticket, SharedTicket)
        if ticket.local is not None:
            return self.local.left(ticket.local)
        if ticket.fresh and ticket.at <= self._clock():
            ticket.fresh = False  # its claim found it free a moment ago: go (a round trip
            return 0.0            # saved); a wait is asked of Redis each time
        ticket.fresh = False

        def shared() -> float:
            at = self._eval("left", ticket.id)
            if at == "lost":  # dropped as stale, or Redis restarted empty: queue again
                ticket.id, at = self._eval("claim", n=ticket.tokens)
            ticket.at = float(at)
            return max(0.0, ticket.at - self._clock())

        def local() -> float:
            ticket.local = self.local.claim(ticket.tokens)  # the wait goes on here
            return self.local.left(ticket.local)

        return self.shared.run(shared, local)

    def answered(self, ticket: Ticket) -> None:
        assert isinstance(ticket, SharedTicket)
        ticket.answered = self._clock()
        if ticket.local is not None:
            self.local.answered(ticket.local)
        else:
            self.shared.run(lambda: self._eval("answered", ticket.id, ticket.tokens),
                            lambda: None)

    def cancel(self, ticket: Ticket) -> None:
        assert isinstance(ticket, SharedTicket)
        if ticket.local is not None:
            self.local.cancel(ticket.local)
        elif ticket.answered is None:
            self.shared.run(lambda: self._eval("cancel", ticket.id), lambda: None)

    def pause(self, seconds: float) -> None:
        self.shared.run(lambda: self._eval("pause", n=seconds),
                        lambda: self.local.pause(seconds))

    def now(self) -> float:
        return self._clock()

    def waiting_s(self) -> float:
        return self.shared.run(lambda: max(0.0, float(self._eval("waiting")) - self._clock()),
                               self.local.waiting_s)
