"""What stands in front of every provider: its circuit breaker and its rate limiter, keyed by
provider (and by base URL for OpenAI-compatible servers), shared process-wide, and by every
process on one Redis when PROMPTLAB_REDIS_URL is set (lib/llm/shared_state.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from lib.core import ProviderError, Settings
from lib.llm.breakers import BreakerPolicy, Breakers, BreakerState
from lib.llm.protocol import Event, Provider, Waiting
from lib.llm.ratelimits import Limit, Limiters
from lib.llm.registry import guard_key
from lib.llm.shared_state import SharedState


@dataclass
class Guards:
    breakers: Breakers
    limiters: Limiters

    @classmethod
    def make(cls, limits: dict[str, Limit] | None = None, policy: BreakerPolicy | None = None,
             clock: Callable[[], float] = time.monotonic,
             redis_url: str | None = None) -> Guards:
        """In-process guards, or guards shared through the Redis at `redis_url`."""
        if redis_url and clock is time.monotonic:
            clock = time.time  # processes share no monotonic clock; the wall clock is shared
        shared = SharedState(redis_url, clock) if redis_url else None
        return cls(Breakers(policy, clock, shared), Limiters(limits, clock, shared))

    @property
    def shared(self) -> SharedState | None:
        return self.limiters.shared

    def reset(self) -> None:
        """Forget every breaker and limiter of the process (tests; a restart does the same);
        what Redis holds stays."""
        self.breakers = Breakers(self.breakers.policy, self.breakers.clock, self.shared)
        self.limiters = Limiters(self.limiters.limits, self.limiters.clock, self.shared)

    def configure(self, limits: dict[str, Limit], redis_url: str | None = None) -> None:
        """Apply the settings' limits (a changed limit takes effect on the next call) and
        their Redis (a changed URL: new guards on it, or in-process ones without it)."""
        if redis_url != (self.shared.url if self.shared else None):
            fresh = Guards.make(limits, self.breakers.policy, time.monotonic, redis_url)
            self.breakers, self.limiters = fresh.breakers, fresh.limiters
        self.limiters.limits = dict(limits)

    def attempt(self, provider: Provider, provider_name: str,
                stream: Callable[[], Iterator[Event]], tokens: Callable[[bool], int],
                sleep: Callable[[float], None]) -> Generator[Event, None, None]:
        """One try of a call: the breaker may refuse it at once (ProviderError
        'circuit_open'), the limiter may make it wait (Waiting events, so the caller can show
        the wait and stop it), then the provider streams; the outcome is the breaker's
        evidence, and a Retry-After pauses the limiter for every caller."""
        key = guard_key(provider)
        breaker = self.breakers.get(key)
        breaker.before()
        limiter = self.limiters.get(key, provider_name)
        ticket = limiter.claim(tokens(bool(limiter.limit.tpm))) if limiter.limit.active \
            else None
        try:
            if ticket is not None:
                try:
                    while (left := limiter.left(ticket)) > 0:
                        yield Waiting(left, f"{key} allows {limiter.limit.text}")
                        sleep(min(left, 0.5))  # short naps: a Stop is heard between them
                except BaseException:
                    limiter.cancel(ticket)  # closed while waiting: the place is free again
                    raise
            try:
                for event in stream():
                    if ticket is not None and ticket.answered is None:
                        limiter.answered(ticket)
                    yield event
            finally:
                if ticket is not None and ticket.answered is None:
                    limiter.answered(ticket)  # refused, failed or stopped: it was sent
        except ProviderError as exc:
            breaker.failure(exc.kind)
            if exc.retry_after is not None:
                limiter.pause(exc.retry_after)
            raise
        except BaseException:
            breaker.release()  # cancelled or a bug: nothing learnt about the provider
            raise
        breaker.success()

    def state_of(self, provider_name: str) -> BreakerState | None:
        """The worst breaker of a provider (any of a compatible provider's servers)."""
        found = [s for k, s in self.breakers.states().items() if k.split(" ")[0] == provider_name]
        order = {"open": 0, "half-open": 1, "closed": 2}
        return min(found, key=lambda s: order[s.state]) if found else None


def shared_state_notice(settings: Settings, guards: Guards | None = None) -> str | None:
    """What Home says while the shared Redis does not answer ("shared state unavailable
    since …"); None without Redis or while it answers."""
    if not settings.redis_url:
        return None
    guards = guards or GUARDS
    # Home may show before the first call has configured them.
    guards.configure(guards.limiters.limits, settings.redis_url)
    assert guards.shared is not None
    return guards.shared.notice()


GUARDS = Guards.make()  # shared by every session of the app process
