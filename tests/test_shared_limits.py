"""Rate limits and circuit breakers shared through Redis: two `Guards` on one Redis are what two
processes (the app, API workers) are; each keeps nothing the other needs. A virtual clock
makes minutes take no time; an outage is a real redis-server stopped and started again."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import redis
from fakes import FakeProvider, Replay, error_response, ok, sse, stream_response
from redisserver import RedisServer
from support import free_port
from test_adapters import provider_for, text_of
from test_resilience import Clock, VirtualClock, call, crowd

from lib.core import ProviderError
from lib.llm import GUARDS, BreakerPolicy, Guards, Limit, shared_state_notice
from lib.llm.shared_limits import STALE_S

MADE: list[Guards] = []


@pytest.fixture(autouse=True)
def redis_answered_every_step():
    """No step fell back to a process's own guards unless a test stopped Redis (a script
    error would fall back too, and the rules would still seem to hold, per process)."""
    MADE.clear()
    yield
    assert all(g.shared is None or g.shared.down_since is None for g in MADE)


def two(url: str, clock, **kw) -> tuple[Guards, Guards]:
    """The guards of two processes on one Redis."""
    MADE.extend(Guards.make(clock=clock, redis_url=url, **kw) for _ in range(2))
    return MADE[-2], MADE[-1]


def test_two_processes_under_ten_a_minute_never_exceed_it_together(settings, redis_url):
    clock = VirtualClock(threads=40)
    a, b = two(redis_url, clock, limits={"fake": Limit(rpm=10)})
    sent, waited = crowd(settings, clock, [a, b], 40)
    assert len(sent) == 40 and sum(waited) == 30  # alone, each process would let 10 go now
    assert all(sent[i + 10] - sent[i] >= 60 for i in range(30))  # no 60 s window has 11
    assert sent[-1] == pytest.approx(180)  # and nobody waited longer than the limit asks


def test_a_retry_after_in_one_process_pauses_the_other(settings, redis_url):
    clock = Clock()
    a, b = two(redis_url, clock, limits={"anthropic": Limit(rpm=1000)})
    replay = Replay(error_response(429, "rate_limit_error", "slow down", {"retry-after": "7"}))
    assert list(call(provider_for("anthropic", replay), settings, a, clock, attempts=1)
                )[-1].error.kind == "rate_limit"
    other = Replay(stream_response(sse("anthropic_success.sse")))
    events = list(call(provider_for("anthropic", other), settings, b, clock))
    assert sum(clock.slept) == pytest.approx(7) and other.attempts == 1
    assert text_of(events) == "Hello, I am Claude."


def test_a_breaker_opened_in_one_process_refuses_in_the_other(settings, redis_url):
    clock = Clock()
    a, b = two(redis_url, clock, policy=BreakerPolicy(consecutive=2, cooldown_s=30))
    down = FakeProvider([([], ProviderError("server", "Internal error", status=500))])
    for _ in range(2):
        list(call(down, settings, a, clock, attempts=1))
    assert b.state_of("fake").state == "open"  # b never called it: it reads Redis
    up = FakeProvider([ok("back")])
    refused = list(call(up, settings, b, clock, attempts=1))
    assert refused[-1].error.kind == "circuit_open" and up.requests == []
    clock.now += 30
    assert text_of(list(call(up, settings, b, clock, attempts=1))) == "back"  # b's probe
    assert a.state_of("fake").state == "closed"


def test_one_probe_between_two_processes(redis_url):
    clock = Clock()
    a, b = two(redis_url, clock, policy=BreakerPolicy(consecutive=1, cooldown_s=10))
    a.breakers.get("fake").failure("server")
    clock.now += 10
    a.breakers.get("fake").before()  # a probes
    with pytest.raises(ProviderError) as refused:
        b.breakers.get("fake").before()
    assert refused.value.kind == "circuit_open" and "probe call is under way" in refused.value.hint
    a.breakers.get("fake").success()
    b.breakers.get("fake").before()  # closed for both


def test_a_place_left_by_a_vanished_process_is_freed(redis_url):
    """A process killed while waiting (or mid-call) cannot hold its place for ever."""
    clock = Clock()
    a, b = two(redis_url, clock, limits={"fake": Limit(rpm=1)})
    a.limiters.get("fake", "fake").claim(1)  # ... and the process is gone
    waiting = b.limiters.get("fake", "fake")
    assert waiting.waiting_s() > 0
    clock.now += STALE_S + 1
    assert waiting.waiting_s() == 0


def test_every_key_is_namespaced_and_expires(settings, redis_url):
    clock = Clock()
    guards = Guards.make(limits={"fake": Limit(rpm=5, tpm=10_000)},
                         policy=BreakerPolicy(consecutive=1), clock=clock, redis_url=redis_url)
    MADE.append(guards)
    list(call(FakeProvider([ok("hi")]), settings, guards, clock))
    guards.limiters.get("fake", "fake").pause(5)
    list(call(FakeProvider([([], ProviderError("server", "down"))]), settings, guards, clock,
              attempts=1))
    client = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in client.keys("*")]
    assert len(keys) >= 5 and all(k.startswith("promptlab:") for k in keys)
    assert all(client.ttl(k) > 0 for k in keys)


def test_without_redis_nothing_is_shared_and_home_says_nothing(settings):
    guards = Guards.make()
    assert guards.shared is None and shared_state_notice(settings, guards) is None
    assert type(guards.breakers.get("fake")).__name__ == "Breaker"


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "lib.llm.shared_state" and r.levelno == logging.WARNING]


def test_a_redis_outage_degrades_to_each_process_and_recovers(settings, caplog):
    server = RedisServer()
    server.start()
    try:
        clock = Clock()
        a, b = two(server.url, clock, limits={"fake": Limit(rpm=100)},
                   policy=BreakerPolicy(consecutive=1, cooldown_s=30))
        on_redis = replace(settings, redis_url=server.url)
        assert text_of(list(call(FakeProvider([ok("hi")]), settings, a, clock))) == "hi"
        assert shared_state_notice(on_redis, a) is None

        server.stop()
        with caplog.at_level(logging.INFO, "lib.llm.shared_state"):
            for _ in range(3):  # calls still go, each asking Redis again: one warning
                assert text_of(list(call(FakeProvider([ok("hi")]), settings, a, clock))) == "hi"
                clock.now += a.shared.recheck_s
            # Each process's own breaker: a's opens, b's knows nothing of it.
            down = FakeProvider([([], ProviderError("server", "down"))])
            list(call(down, settings, a, clock, attempts=1))
            assert a.breakers.get("fake").state().state == "open"
            notice = shared_state_notice(on_redis, a)
            assert notice is not None and "Shared state unavailable since" in notice
            assert "Calls still go" in notice
            assert len(warnings(caplog)) == 1 and "unavailable" in warnings(caplog)[0]
            assert b.breakers.get("fake").state().state == "closed"
            assert len(warnings(caplog)) == 2  # b is another process: it says so once too

            server.start()  # back (empty, as a restarted Redis without persistence is)
            clock.now += a.shared.recheck_s
            assert shared_state_notice(on_redis, a) is None
            assert any("shared again" in r.getMessage() for r in caplog.records)
        list(call(down, settings, a, clock, attempts=1))  # shared again: b sees it open
        assert b.state_of("fake").state == "open"
        up = FakeProvider([ok("hi")])
        assert list(call(up, settings, b, clock, attempts=1))[-1].error.kind == "circuit_open"
        assert up.requests == []
    finally:
        server.close()


def test_home_says_when_the_shared_state_is_unavailable(app, monkeypatch):
    monkeypatch.setenv("PROMPTLAB_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody
    try:
        at = app()
        assert not at.exception
        [warning] = [w.value for w in at.warning if "Shared state" in w.value]
        assert "Shared state unavailable since" in warning and "Calls still go" in warning
    finally:
        GUARDS.configure(GUARDS.limiters.limits, None)  # the next tests' guards: in-process


def test_home_says_nothing_while_redis_answers(app, monkeypatch, redis_url):
    monkeypatch.setenv("PROMPTLAB_REDIS_URL", redis_url)
    try:
        at = app()
        assert not at.exception and at.title[0].value == "Prompt Lab"
        assert not [w for w in at.warning if "Shared state" in w.value]
        assert GUARDS.shared is not None and GUARDS.shared.url == redis_url
    finally:
        GUARDS.configure(GUARDS.limiters.limits, None)


def test_calls_counted_without_tokens_leave_the_window(redis_url):
    clock = Clock()
    a, _ = two(redis_url, clock, limits={"fake": Limit(rpm=1)})
    limiter = a.limiters.get("fake", "fake")
    first = limiter.claim(0)
    assert limiter.left(first) == 0
    limiter.answered(first)
    second = limiter.claim(0)
    assert limiter.left(second) == pytest.approx(60)
    clock.now += 60  # the first leaves the window (and its 0 tokens the running sum)
    assert limiter.left(second) == 0
