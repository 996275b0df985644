"""The Redis that rate limits and circuit breakers share across processes (PROMPTLAB_REDIS_URL):
one connection per Guards, and what happens when it fails.

Every shared operation goes through `SharedState.run(op, fallback)`: Redis when it answers,
else the process's own limiter or breaker. An outage is logged once (not once per call),
said on Home (`shared_state_notice`), and never fails a call; while it lasts Redis is asked
again at most every `RECHECK_S` (by the guards' clock), and the first answer makes the state
shared again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

PREFIX = "promptlab:"
RECHECK_S = 1.0          # while Redis is down, ask it again at most this often
CONNECT_TIMEOUT_S = 0.25  # a call waits at most this long to learn that Redis is away
TIMEOUT_S = 1.0

T = TypeVar("T")


class SharedState:
    """A Redis client, its Lua scripts, and whether it answers."""

    def __init__(self, url: str, clock: Callable[[], float]) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url, self.clock = url, clock
        # One retry, at once: a pooled connection to a restarted server fails once and the
        # retry reconnects; more (redis-py's default is 3, with backoff) would only slow each
        # call down during an outage.
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 1))
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.down_since: float | None = None  # wall-clock time, for the notice
        self.recheck_s = RECHECK_S
        self._retry_at = 0.0

    def script(self, lua: str) -> Any:
        """A registered script (EVALSHA, loaded again by redis-py after a restart)."""
        with self._lock:
            if lua not in self._scripts:
                self._scripts[lua] = self.client.register_script(lua)
            return self._scripts[lua]

    @property
    def where(self) -> str:
        """The server without its credentials, for logs and the notice."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return str(kwargs["path"])
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    def run(self, op: Callable[[], T], fallback: Callable[[], T]) -> T:
        """`op` on Redis, or `fallback` (the process's own state) while Redis is away."""
        if self.down_since is not None and self.clock() < self._retry_at:
            return fallback()
        try:
            out = op()
        except self._errors as exc:
            self._went_down(exc)
            return fallback()
        if self.down_since is not None:
            self.down_since = None
            log.info("shared state: Redis at %s answers again; rate limits and circuit "
                     "breakers are shared again", self.where)
        return out

    def check(self) -> bool:
        """Whether Redis answers now (asked at most every RECHECK_S while it is down)."""
        return self.run(lambda: bool(self.client.ping()), lambda: False)

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            self._retry_at = self.clock() + self.recheck_s
            if self.down_since is None:
                self.down_since = time.time()
                log.warning("shared state: Redis at %s is unavailable (%s: %s); each process keeps "
                            "its own rate limits and circuit breakers until it is back",
                            self.where, type(exc).__name__, str(exc)[:200])

    def notice(self) -> str | None:
        if not self.check() and self.down_since is not None:
            since = datetime.fromtimestamp(self.down_since, UTC).strftime("%Y-%m-%d %H:%M:%S")
            return (f"Shared state unavailable since {since} UTC: Redis at {self.where} does not "
                    "answer, so each process keeps its own rate limits and circuit breakers "
                    "until it is back. Calls still go.")
        return None


def key(kind: str, name: str) -> str:
    """A namespaced key: `promptlab:<kind>:<name>` (a provider key may hold spaces, a URL)."""
    return f"{PREFIX}{kind}:{name}"
