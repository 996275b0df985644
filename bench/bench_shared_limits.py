"""What the Redis-backed rate limiter and breaker add to a call, against the in-process ones.

One guarded attempt (breaker check, limiter claim and wait check, answered, breaker success)
around a provider stream that yields nothing, timed in rounds, interleaved: the in-process
guards, then guards shared through a throwaway redis-server on loopback (Debian's
`redis-server`), both with an active, never binding limit on requests and tokens. Two
windows: a quiet one (a clock that moves a minute between calls: each finds the window
empty) and a busy one (every call of the run still in the window, as under a high limit).
Printed: p50/p95 per call for each and the ratio of their p50s, from the same run.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from common import ROOT, pct, summary

sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway Redis server

SERVER: Any = None


class Silent:
    """A provider that answers at once with nothing: only the guards' own time is left."""

    name = "compat"
    base_url = "http://127.0.0.1:1/v1"

    def stream(self):
        return iter(())


class Minutes:
    """A clock that moves on a minute and a second at each call's start (`next`)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def next(self) -> None:
        self.t += 61


def per_call_ms(guards, n: int, step=lambda: None) -> list[float]:
    provider = Silent()
    out = []
    for _ in range(n):
        step()
        start = time.perf_counter()
        for _event in guards.attempt(provider, "compat", provider.stream, lambda _: 100,
                                     time.sleep):
            pass
        out.append((time.perf_counter() - start) * 1000)
    return out


def compare(name: str, make, n: int, step=lambda: None) -> None:
    local, shared = make(None), make(SERVER.url)
    per_call_ms(local, 50, step), per_call_ms(shared, 50, step)  # warm: scripts, connection
    a: list[float] = []
    b: list[float] = []
    for _ in range(n // 100):  # interleaved rounds: both see the same machine
        a += per_call_ms(local, 100, step)
        b += per_call_ms(shared, 100, step)
    print(f"-- {name}")
    print(summary("in-process guards", a))
    print(summary("Redis-shared guards", b))
    print(f"{'Redis / in-process (p50)':<28} {pct(b, 50) / pct(a, 50):8.1f}x  "
          f"(+{pct(b, 50) - pct(a, 50):.3f} ms per call)")


def main(n: int = 2000) -> None:
    global SERVER
    from redisserver import RedisServer

    from lib.llm import Guards, parse_limits

    limits = parse_limits("compat=100000/1000000000")  # active, never binding
    SERVER = RedisServer()
    SERVER.start()
    try:
        clock = Minutes()
        compare("quiet window (each call finds it empty)",
                lambda url: Guards.make(limits, clock=clock, redis_url=url), n, clock.next)
        SERVER.flush()
        compare(f"busy window (up to {n + 100} calls in it)",
                lambda url: Guards.make(limits, redis_url=url), n)
    finally:
        SERVER.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
