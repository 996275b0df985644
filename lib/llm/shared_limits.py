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

# KEYS: the queue (a list of ticket ids in claim order), the tickets (a hash of id ->
# "at tokens answered touched", answered "-" until known), meta (seq, paused).
# ARGV: op, now, window, rpm, tpm, stale, ttl, ticket id, tokens or seconds.
LUA = """
local queue, tickets, meta = KEYS[1], KEYS[2], KEYS[3]
local op, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rpm, tpm, stale, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
                             tonumber(ARGV[7])
local id, n = ARGV[8], tonumber(ARGV[9])

local function fmt(x) return string.format('%.17g', x) end
local function parse(v)
  local at, tokens, answered, touched = string.match(v, '^(%S+) (%S+) (%S+) (%S+)$')
  return {at = tonumber(at), tokens = tonumber(tokens), answered = tonumber(answered),
          touched = tonumber(touched)}
end
local function save(tid, t)
  redis.call('HSET', tickets, tid, fmt(t.at) .. ' ' .. t.tokens .. ' ' ..
             (t.answered and fmt(t.answered) or '-') .. ' ' .. fmt(t.touched))
end
local function time_of(t)  -- when the provider counted it, at the latest
  if t.answered then return t.answered end
  return math.max(t.at, now)
end
local function keep(extra)
  local ms = math.ceil(math.max(ttl, extra) * 1000)
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ms) end
end
-- The queue, without the calls out of every window and those a vanished process left.
local function load()
  local out = {}
  for _, tid in ipairs(redis.call('LRANGE', queue, 0, -1)) do
    local v = redis.call('HGET', tickets, tid)
    local t = v and parse(v)
    if (not t) or (t.answered and t.answered <= now - window)
        or ((not t.answered) and t.touched < now - stale) then
      redis.call('LREM', queue, 1, tid)
      redis.call('HDEL', tickets, tid)
    else
      t.id = tid
      table.insert(out, t)
    end
  end
  return out
end
-- The in-process Limiter._earliest, line for line.
local function earliest(ahead, tokens)
  local at = math.max(now, tonumber(redis.call('HGET', meta, 'paused') or '0'))
  local live, times = {}, {}
  for _, t in ipairs(ahead) do
    if time_of(t) > now - window then
      table.insert(live, t)
      table.insert(times, time_of(t))
    end
  end
  if #live > 0 then at = math.max(at, live[#live].at) end  -- first come, first go
  table.sort(times)
  if rpm > 0 and #times >= rpm then at = math.max(at, times[#times - rpm + 1] + window) end
  if tpm > 0 then
    local w, total = {}, 0
    for _, t in ipairs(live) do
      table.insert(w, {time_of(t), t.tokens})
      total = total + t.tokens
    end
    table.sort(w, function(a, b) return a[1] < b[1] end)
    local i = 1
    while i <= #w and total + tokens > tpm do
      total = total - w[i][2]
      at = math.max(at, w[i][1] + window)
      i = i + 1
    end
  end
  return at
end

if op == 'claim' then
  local at = earliest(load(), n)
  local tid = tostring(redis.call('HINCRBY', meta, 'seq', 1))
  save(tid, {at = at, tokens = n, touched = now})
  redis.call('RPUSH', queue, tid)
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
elseif op == 'answered' then
  local v = redis.call('HGET', tickets, id)
  if v then
    local t = parse(v)
    t.answered, t.touched = now, now
    save(id, t)
    keep(0)
  end
  return 'ok'
elseif op == 'cancel' then
  local v = redis.call('HGET', tickets, id)
  if v and not parse(v).answered then
    redis.call('LREM', queue, 1, id)
    redis.call('HDEL', tickets, id)
  end
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


class SharedLimiter:
    """`Limiter`'s face (claim, left, answered, cancel, pause, waiting_s) over Redis."""

    def __init__(self, key_: str, limit: Limit, clock: Callable[[], float],
                 shared: SharedState, local: Limiter) -> None:
        self.key, self.limit, self._clock = key_, limit, clock
        self.shared, self.local = shared, local
        self._keys = [key("limit", f"{key_}:{part}") for part in ("queue", "tickets", "meta")]

    def _eval(self, op: str, ticket_id: str = "", n: float = 0) -> Any:
        out = self.shared.script(LUA)(keys=self._keys, args=[
            op, repr(self._clock()), WINDOW_S, self.limit.rpm, self.limit.tpm, STALE_S,
            WINDOW_S + STALE_S, ticket_id, repr(n)])
        return [x.decode() for x in out] if isinstance(out, list) else out.decode()

    def claim(self, tokens: int) -> SharedTicket:
        def shared() -> SharedTicket:
            tid, at = self._eval("claim", n=tokens)
            return SharedTicket(float(at), tokens, id=tid)

        def local() -> SharedTicket:
            mine = self.local.claim(tokens)
            return SharedTicket(mine.at, tokens, local=mine)

        return self.shared.run(shared, local)

    def left(self, ticket: Ticket) -> float:
        assert isinstance(ticket, SharedTicket)
        if ticket.local is not None:
            return self.local.left(ticket.local)

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
            self.shared.run(lambda: self._eval("answered", ticket.id), lambda: None)

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
