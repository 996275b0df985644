"""Client-side rate limits per provider: requests and tokens per minute, shared by every
session of the process, so a Compare run waits its turn instead of collecting 429s.

Each call takes its place in a queue (first come, first served) and goes once every rolling
60-second window stays within both limits, counting each earlier call from the moment its
provider answered it (the latest it can have counted it). That is stricter than a token
bucket, whose full bucket plus a minute's refill can let twice the limit through in one
window. A provider's Retry-After pauses its limiter for every caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.core import ConfigError

if TYPE_CHECKING:
    from lib.llm.shared_limits import SharedLimiter
    from lib.llm.shared_state import SharedState

WINDOW_S = 60.0


@dataclass(frozen=True)
class Limit:
    rpm: int = 0          # requests per minute; 0: no limit
    tpm: int = 0          # tokens per minute (input as counted + max output); 0: no limit

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm)

    @property
    def text(self) -> str:
        parts = [f"{self.rpm} requests" if self.rpm else "", f"{self.tpm:,} tokens"
                 if self.tpm else ""]
        return " and ".join(p for p in parts if p) + " a minute"


def parse_limits(text: str) -> dict[str, Limit]:
    """`PROMPTLAB_RATE_LIMITS`: "openai=500/200000, compat=60" (provider=rpm[/tpm])."""
    out: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        rpm, _, tpm = value.partition("/")
        try:
            limit = Limit(int(rpm or 0), int(tpm or 0))
        except ValueError:
            raise ConfigError(f"Rate limit {part!r} is not provider=requests[/tokens] per "
                              "minute.", hint='For example "compat=60/100000".') from None
        if not name.strip() or limit.rpm < 0 or limit.tpm < 0:
            raise ConfigError(f"Rate limit {part!r} needs a provider name and whole numbers.")
        out[name.strip()] = limit
    return out


@dataclass(eq=False)
class Ticket:
    at: float                     # when the call may go out, as planned at its claim
    tokens: int
    answered: float | None = None  # when the provider's first answer (or error) came back

    def time(self, now: float) -> float:
        """When the provider counted it, at the latest: its answer proves it had arrived;
        until then it may arrive any moment from now (or from its planned time)."""
        return self.answered if self.answered is not None else max(self.at, now)


class Limiter:
    def __init__(self, key: str, limit: Limit, clock: Callable[[], float]) -> None:
        self.key, self.limit, self._clock = key, limit, clock
        self._lock = threading.Lock()
        self._queue: deque[Ticket] = deque()  # claimed and not yet out of every window
        self._paused_until = 0.0

    def claim(self, tokens: int) -> Ticket:
        """Claim the next place for a call of `tokens`; it may go once `left` says 0."""
        with self._lock:
            ticket = Ticket(self._earliest(list(self._queue), tokens), tokens)
            self._queue.append(ticket)
            return ticket

    def left(self, ticket: Ticket) -> float:
        """Seconds until the call may go out. A slot opens a window after the provider
        answered the call that held it (not after we sent it: a request can take a few
        milliseconds to arrive, and a server counting arrivals would refuse the next one),
        so this is asked again after each nap."""
        with self._lock:
            ahead = []
            for t in self._queue:
                if t is ticket:
                    break
                ahead.append(t)
            ticket.at = self._earliest(ahead, ticket.tokens)
            return max(0.0, ticket.at - self._clock())

    def answered(self, ticket: Ticket) -> None:
        """The provider answered (or refused) the call: its place in the window is known."""
        with self._lock:
            ticket.answered = self._clock()

    def _earliest(self, ahead: list[Ticket], tokens: int) -> float:
        now = self._clock()
        while self._queue and self._queue[0].answered is not None \
                and self._queue[0].answered <= now - WINDOW_S:
            self._queue.popleft()  # out of every window from now on
        ahead = [t for t in ahead if t.time(now) > now - WINDOW_S]
        at = max(now, self._paused_until, *(t.at for t in ahead[-1:]))  # first come, first go
        times = sorted(t.time(now) for t in ahead)
        if self.limit.rpm and len(times) >= self.limit.rpm:
            at = max(at, times[-self.limit.rpm] + WINDOW_S)
        if self.limit.tpm:
            # Leave out the oldest calls until the rest, plus this one, fit the token limit.
            window = sorted(((t.time(now), t.tokens) for t in ahead), key=lambda p: p[0])
            total = sum(n for _, n in window)
            while window and total + tokens > self.limit.tpm:
                when, n = window.pop(0)
                total -= n
                at = max(at, when + WINDOW_S)
        return at

    def cancel(self, ticket: Ticket) -> None:
        """A call that gave up waiting frees its place if it has not gone out."""
        with self._lock:
            if ticket.answered is None and ticket in self._queue:
                self._queue.remove(ticket)

    def pause(self, seconds: float) -> None:
        """The provider asked us to wait (Retry-After): nobody goes before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def now(self) -> float:
        return self._clock()

    def waiting_s(self) -> float:
        """How long a call claimed now would wait (for display; claims nothing)."""
        with self._lock:
            return max(0.0, self._earliest(list(self._queue), 0) - self._clock())


class Limiters:
    """The limiters of a process, one per provider key, with limits by provider name; their
    queues in Redis when `shared` (lib/llm/shared_limits.py)."""

    def __init__(self, limits: dict[str, Limit] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 shared: SharedState | None = None) -> None:
        self.limits, self.clock, self.shared = dict(limits or {}), clock, shared
        self._lock = threading.Lock()
        self._by_key: dict[str, Limiter | SharedLimiter] = {}

    def get(self, key: str, provider: str) -> Limiter | SharedLimiter:
        limit = self.limits.get(key) or self.limits.get(provider) or Limit()
        with self._lock:
            found = self._by_key.get(key)
            if found is None or found.limit != limit:  # a changed setting: new limits
                found = self._by_key[key] = self._make(key, limit)
            return found

    def _make(self, key: str, limit: Limit) -> Limiter | SharedLimiter:
        local = Limiter(key, limit, self.clock)
        if self.shared is None or not limit.active:
            return local
        from lib.llm.shared_limits import SharedLimiter

        return SharedLimiter(key, limit, self.clock, self.shared, local)
