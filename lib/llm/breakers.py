"""Circuit breakers: one per provider (and per OpenAI-compatible base URL), shared by every
session of the process. Closed lets calls through; after too many failures it opens and
refuses at once; after a cooldown one probe goes through (half-open); a success closes it.

Every failed attempt counts, retries included, so a provider that is down opens the breaker
in the middle of a retry loop and the next attempt is refused instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.core import ProviderError

if TYPE_CHECKING:
    from lib.llm.shared_breakers import SharedBreaker
    from lib.llm.shared_state import SharedState

log = logging.getLogger(__name__)

# Failures that say the provider is down or refusing us. Bad requests, unknown models and
# rate limits (the limiter's job) say nothing about its health.
FAILURE_KINDS = frozenset({"server", "overloaded", "timeout", "connection", "incomplete",
                           "invalid_response", "auth", "permission"})
OPEN_AT_ONCE = frozenset({"auth", "permission"})  # a wrong key will not fix itself
STATES = ("closed", "open", "half-open")


@dataclass(frozen=True)
class BreakerPolicy:
    consecutive: int = 5          # open after this many failures in a row
    window_s: float = 60.0        # ... or when the failure rate over this window
    rate: float = 0.5             # reaches this share
    min_calls: int = 10           # of at least this many attempts
    cooldown_s: float = 30.0      # open this long before one probe is let through


@dataclass(frozen=True)
class BreakerState:
    key: str
    state: str                    # one of STATES
    seconds_left: float           # open: until the probe
    failures: int                 # in a row
    reason: str                   # the last failure that counted

    @property
    def text(self) -> str:
        if self.state == "open":
            return f"open, probe in {self.seconds_left:.0f} s"
        return "probing" if self.state == "half-open" else "closed"


class Breaker:
    def __init__(self, key: str, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self.key, self.policy, self._clock = key, policy, clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._opened_at = 0.0
        self._streak = 0
        self._reason = ""
        self._recent: deque[tuple[float, bool]] = deque()  # (when, failed) in the window
        self._probing = False

    def before(self) -> None:
        """Let an attempt through or raise ProviderError('circuit_open') at once."""
        with self._lock:
            if self._state == "closed":
                return
            left = self._opened_at + self.policy.cooldown_s - self._clock()
            if self._state == "open" and left <= 0:
                self._state = "half-open"
            if self._state == "half-open" and not self._probing:
                self._probing = True  # this attempt is the probe
                return
        raise ProviderError("circuit_open", f"{self.key} is failing, so calls to it are paused "
                            f"({self._reason or 'too many failures'}).",
                            hint=f"The next try goes through in {max(0.0, left):.0f} s."
                            if left > 0 else "A probe call is under way.")

    def success(self) -> None:
        with self._lock:
            if self._state != "closed":
                log.info("breaker %s closed after a successful probe", self.key)
            self._state, self._streak, self._probing = "closed", 0, False
            self._note(False)

    def failure(self, kind: str) -> None:
        """An attempt failed with this ProviderError kind; only health failures count."""
        if kind not in FAILURE_KINDS:
            self.release()
            return
        with self._lock:
            self._streak += 1
            self._reason = kind.replace("_", " ")
            self._note(True)
            failed = sum(f for _, f in self._recent)
            if (self._state == "half-open" or kind in OPEN_AT_ONCE
                    or self._streak >= self.policy.consecutive
                    or (len(self._recent) >= self.policy.min_calls
                        and failed / len(self._recent) >= self.policy.rate)):
                if self._state != "open":
                    log.warning("breaker %s opened: %s (%d in a row)", self.key, kind,
                                self._streak)
                self._state, self._opened_at, self._probing = "open", self._clock(), False

    def release(self) -> None:
        """An attempt ended without saying anything about health (cancelled, bad request)."""
        with self._lock:
            self._probing = False

    def _note(self, failed: bool) -> None:
        now = self._clock()
        self._recent.append((now, failed))
        while self._recent and self._recent[0][0] < now - self.policy.window_s:
            self._recent.popleft()

    def state(self) -> BreakerState:
        with self._lock:
            state, left = self._state, 0.0
            if state == "open":
                left = max(0.0, self._opened_at + self.policy.cooldown_s - self._clock())
                if left == 0:
                    state = "half-open"  # the next call is the probe
            return BreakerState(self.key, state, left, self._streak, self._reason)


class Breakers:
    """The breakers of a process, made on first use per key; their states in Redis when
    `shared` (lib/llm/shared_breakers.py)."""

    def __init__(self, policy: BreakerPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 shared: SharedState | None = None) -> None:
        self.policy, self.clock, self.shared = policy or BreakerPolicy(), clock, shared
        self._lock = threading.Lock()
        self._by_key: dict[str, Breaker | SharedBreaker] = {}

    def get(self, key: str) -> Breaker | SharedBreaker:
        with self._lock:
            if key not in self._by_key:
                local = Breaker(key, self.policy, self.clock)
                if self.shared is None:
                    self._by_key[key] = local
                else:
                    from lib.llm.shared_breakers import SharedBreaker

                    self._by_key[key] = SharedBreaker(key, self.policy, self.clock,
                                                      self.shared, local)
            return self._by_key[key]

    def states(self) -> dict[str, BreakerState]:
        """Every breaker of this process (and, when shared, those other processes used)."""
        keys: set[str] = set()
        if self.shared is not None:
            from lib.llm.shared_breakers import known_keys

            keys.update(known_keys(self.shared))
        with self._lock:
            keys.update(self._by_key)
        return {k: self.get(k).state() for k in sorted(keys)}
