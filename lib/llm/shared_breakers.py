"""A circuit breaker whose state lives in Redis, shared by every process on it, with the rules of
the in-process `Breaker` (lib/llm/breakers.py): closed → open after `consecutive` failures in
a row or the failure rate over a window → half-open, one probe after the cooldown → closed on
success (open again on failure).

One Lua script does each step atomically. Differences from the in-process breaker, because
processes can vanish: a probe not heard of for `PROBE_LOST_S` is taken as lost (its process
died) and the next call probes; a breaker nobody has used for `IDLE_S` is forgotten (closed,
its streak at 0); times come from each process's clock (the wall clock by default), so
processes on different hosts need synchronised clocks. While Redis is away each call falls
back to the process's own breaker (lib/llm/shared_state.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lib.core import ProviderError
from lib.llm.breakers import FAILURE_KINDS, OPEN_AT_ONCE, Breaker, BreakerPolicy, BreakerState
from lib.llm.shared_state import SharedState, key

log = logging.getLogger(__name__)

PROBE_LOST_S = 600.0   # longer than a call's deadline (300 s by default)
IDLE_S = 86400.0
KNOWN = key("breakers", "known")  # every breaker's key, for the states of all processes

# KEYS: the breaker (a hash: state, opened_at, streak, reason, probing, seq, and total and
# failed: the counts of recent), its recent attempts (a sorted set by time: "seq:0|1"), the
# set of known breakers.
# ARGV: op, now, consecutive, window, rate, min_calls, cooldown, probe_lost, idle, name,
# kind, opens at once (0/1).
LUA = """
local b, recent, known = KEYS[1], KEYS[2], KEYS[3]
local op, now = ARGV[1], tonumber(ARGV[2])
local consecutive, window, rate = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local min_calls, cooldown = tonumber(ARGV[6]), tonumber(ARGV[7])
local probe_lost, idle, name, kind = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11]
local at_once = ARGV[12] == '1'

local function fmt(x) return string.format('%.17g', x) end
local function get(f, default) return redis.call('HGET', b, f) or default end
local function keep()  -- the counts in b describe recent: both live and expire together
  redis.call('PEXPIRE', b, math.ceil(idle * 1000))
  redis.call('PEXPIRE', recent, math.ceil(idle * 1000))
  redis.call('SADD', known, name)
  redis.call('PEXPIRE', known, math.ceil(idle * 1000))
end
local function note(failed)  -- an attempt into the window (and its counts); older ones leave
  local seq = redis.call('HINCRBY', b, 'seq', 1)
  redis.call('ZADD', recent, now, seq .. ':' .. (failed and '1' or '0'))
  redis.call('HINCRBY', b, 'total', 1)
  if failed then redis.call('HINCRBY', b, 'failed', 1) end
  local cut = '(' .. fmt(now - window)
  local gone = redis.call('ZRANGEBYSCORE', recent, '-inf', cut)
  if #gone > 0 then
    local f = 0
    for _, m in ipairs(gone) do
      if string.sub(m, -1) == '1' then f = f + 1 end
    end
    redis.call('HINCRBY', b, 'total', -#gone)
    if f > 0 then redis.call('HINCRBY', b, 'failed', -f) end  -- never "-0"
    redis.call('ZREMRANGEBYSCORE', recent, '-inf', cut)
  end
end

local state = get('state', 'closed')
if op == 'before' then
  if state == 'closed' then return {'go'} end
  local left = tonumber(get('opened_at', '0')) + cooldown - now
  if state == 'open' and left <= 0 then
    state = 'half-open'
    redis.call('HSET', b, 'state', state)
  end
  local probing = tonumber(get('probing', ''))
  if probing and probing < now - probe_lost then probing = nil end  -- its process died
  if state == 'half-open' and not probing then
    redis.call('HSET', b, 'probing', fmt(now))  -- this attempt is the probe
    keep()
    return {'go'}
  end
  return {'refused', fmt(left), get('reason', '')}
elseif op == 'success' then
  redis.call('HSET', b, 'state', 'closed', 'streak', 0)
  redis.call('HDEL', b, 'probing')
  note(false)
  keep()
  return {state}
elseif op == 'failure' then
  local streak = redis.call('HINCRBY', b, 'streak', 1)
  redis.call('HSET', b, 'reason', (string.gsub(kind, '_', ' ')))
  note(true)
  local total, failed = tonumber(get('total', '0')), tonumber(get('failed', '0'))
  if state == 'half-open' or at_once or streak >= consecutive
      or (total >= min_calls and failed / total >= rate) then
    redis.call('HSET', b, 'state', 'open', 'opened_at', fmt(now))
    redis.call('HDEL', b, 'probing')
    keep()
    return {state, tostring(streak), 'opened'}
  end
  keep()
  return {state, tostring(streak)}
elseif op == 'release' then
  redis.call('HDEL', b, 'probing')
  return {state}
elseif op == 'state' then
  return {state, get('opened_at', '0'), get('streak', '0'), get('reason', '')}
end
return redis.error_reply('unknown op ' .. op)
"""


class SharedBreaker:
    """`Breaker`'s face (before, success, failure, release, state) over Redis."""

    def __init__(self, key_: str, policy: BreakerPolicy, clock: Callable[[], float],
                 shared: SharedState, local: Breaker) -> None:
        self.key, self.policy, self._clock = key_, policy, clock
        self.shared, self.local = shared, local
        self._keys = [key("breaker", key_), key("breaker", f"{key_}:recent"), KNOWN]

    def _eval(self, op: str, kind: str = "") -> list[str]:
        p = self.policy
        out = self.shared.script(LUA)(keys=self._keys, args=[
            op, repr(self._clock()), p.consecutive, repr(p.window_s), repr(p.rate), p.min_calls,
            repr(p.cooldown_s), PROBE_LOST_S, IDLE_S, self.key, kind,
            int(kind in OPEN_AT_ONCE)])
        return [x.decode() for x in out]

    @staticmethod
    def _local(step: Callable[..., None], *args: str) -> list[str]:
        """A step of the process's own breaker (it logs for itself): nothing more to log."""
        step(*args)
        return []

    def before(self) -> None:
        """Let an attempt through or raise ProviderError('circuit_open') at once."""
        def local() -> list[str]:
            self.local.before()  # raises as it refuses
            return ["go"]

        out = self.shared.run(lambda: self._eval("before"), local)
        if out[0] == "go":
            return
        left, reason = float(out[1]), out[2]
        raise ProviderError("circuit_open", f"{self.key} is failing, so calls to it are paused "
                            f"({reason or 'too many failures'}).",
                            hint=f"The next try goes through in {max(0.0, left):.0f} s."
                            if left > 0 else "A probe call is under way.")

    def success(self) -> None:
        out = self.shared.run(lambda: self._eval("success"), lambda: self._local(
            self.local.success))
        if out and out[0] != "closed":
            log.info("breaker %s closed after a successful probe", self.key)

    def failure(self, kind: str) -> None:
        """An attempt failed with this ProviderError kind; only health failures count."""
        if kind not in FAILURE_KINDS:
            self.release()
            return
        out = self.shared.run(lambda: self._eval("failure", kind),
                              lambda: self._local(self.local.failure, kind))
        if out[2:] and out[0] != "open":
            log.warning("breaker %s opened: %s (%s in a row)", self.key, kind, out[1])

    def release(self) -> None:
        """An attempt ended without saying anything about health (cancelled, bad request)."""
        self.shared.run(lambda: self._eval("release"), self.local.release)

    def state(self) -> BreakerState:
        def shared() -> BreakerState:
            state, opened_at, streak, reason = self._eval("state")
            left = 0.0
            if state == "open":
                left = max(0.0, float(opened_at) + self.policy.cooldown_s - self._clock())
                if left == 0:
                    state = "half-open"  # the next call is the probe
            return BreakerState(self.key, state, left, int(streak), reason)

        return self.shared.run(shared, self.local.state)


def known_keys(shared: SharedState) -> list[str]:
    """Every breaker any process has used lately (empty while Redis is away)."""
    def read() -> list[str]:
        members: Any = shared.client.smembers(KNOWN)
        return sorted(m.decode() for m in members)

    return shared.run(read, list)
