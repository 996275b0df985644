"""Client-side rate limits per provider: requests and tokens per minute, shared by every
session of the process, so a Compare run waits its turn instead of collecting 429s.

Each call claims the earliest moment at which it keeps every rolling 60-second window within
both limits (first come, first served), and waits until then. That is stricter than a token
bucket, whose full bucket plus a minute's refill can let twice the limit through in one
window. A provider's Retry-After pauses its limiter for every caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lib.core import ConfigError

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


@dataclass
class Ticket:
    at: float             # when the call may go out
    tokens: int


class Limiter:
    def __init__(self, key: str, limit: Limit, clock: Callable[[], float]) -> None:
        self.key, self.limit, self._clock = key, limit, clock
        self._lock = threading.Lock()
        self._sent: deque[Ticket] = deque()   # claimed, in the order of their times
        self._paused_until = 0.0

    def claim(self, tokens: int) -> Ticket:
        """Claim the earliest slot for a call of `tokens`; the caller waits until `at`."""
        with self._lock:
            ticket = Ticket(self._earliest(tokens), tokens)
            self._sent.append(ticket)
            return ticket

    def _earliest(self, tokens: int) -> float:
        now = self._clock()
        while self._sent and self._sent[0].at <= now - WINDOW_S:
            self._sent.popleft()
        sent = list(self._sent)
        at = max(now, self._paused_until, sent[-1].at if sent else now)
        if self.limit.rpm and len(sent) >= self.limit.rpm:
            at = max(at, sent[-self.limit.rpm].at + WINDOW_S)
        if self.limit.tpm:
            # Drop the oldest claims until the rest, plus this one, fit the token limit.
            window = [t for t in sent if t.at > at - WINDOW_S]
            total = sum(t.tokens for t in window)
            while window and total + tokens > self.limit.tpm:
                total -= window[0].tokens
                at = max(at, window.pop(0).at + WINDOW_S)
        return at

    def cancel(self, ticket: Ticket) -> None:
        """A call that gave up waiting frees its slot if it has not gone out."""
        with self._lock:
            if ticket.at > self._clock() and ticket in self._sent:
                self._sent.remove(ticket)

    def pause(self, seconds: float) -> None:
        """The provider asked us to wait (Retry-After): nobody goes before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def now(self) -> float:
        return self._clock()

    def waiting_s(self) -> float:
        """How long a call claimed now would wait (for display; claims nothing)."""
        with self._lock:
            return max(0.0, self._earliest(0) - self._clock())


class Limiters:
    """The limiters of a process, one per provider key, with limits by provider name."""

    def __init__(self, limits: dict[str, Limit] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits, self.clock = dict(limits or {}), clock
        self._lock = threading.Lock()
        self._by_key: dict[str, Limiter] = {}

    def get(self, key: str, provider: str) -> Limiter:
        limit = self.limits.get(key) or self.limits.get(provider) or Limit()
        with self._lock:
            found = self._by_key.get(key)
            if found is None or found.limit != limit:  # a changed setting: new limits
                found = self._by_key[key] = Limiter(key, limit, self.clock)
            return found
