"""Fallbacks, circuit breakers and rate limits: the real SDKs over a fake transport where the
issue names them, scripted providers elsewhere, and a virtual clock so minutes take no time."""

from __future__ import annotations

import heapq
import itertools
import threading

import pytest
from fakes import (
    FakeProvider,
    Replay,
    Sleeps,
    cut_response,
    error_response,
    ok,
    scripted,
    sse,
    stream_response,
)
from test_adapters import CLAUDE, GPT, REQUEST_TEXT, provider_for, text_of

from lib import spend
from lib.core import ProviderError
from lib.llm import (
    BreakerPolicy,
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Error,
    Fallback,
    Fallbacks,
    Guards,
    Limit,
    Message,
    RetryPolicy,
    Stop,
    TextDelta,
    ToolCall,
    Waiting,
    counter_for,
    parse_limits,
)


class Clock:
    """A fake clock; its `sleep` moves it on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class VirtualClock:
    """Time for many threads: it stands still while any thread runs, and jumps to the next
    wake-up once every thread sleeps, so a 4-minute schedule runs in milliseconds and each
    request's time is exact."""

    def __init__(self, threads: int) -> None:
        self.now = 0.0
        self.cv = threading.Condition()
        self.running = threads
        self.wakes: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.cv:
            wake = self.now + seconds
            heapq.heappush(self.wakes, wake)
            self.running -= 1
            self._advance()
            while self.now < wake:
                self.cv.wait()

    def done(self) -> None:
        with self.cv:
            self.running -= 1
            self._advance()

    def _advance(self) -> None:
        if self.running == 0 and self.wakes:
            self.now = max(self.now, self.wakes[0])
            while self.wakes and self.wakes[0] <= self.now:
                heapq.heappop(self.wakes)
                self.running += 1
            self.cv.notify_all()


@pytest.fixture(params=["in-process", "redis"])
def make_guards(request):
    """`Guards.make`, in-process or shared through a throwaway Redis: the same rule tests run
    against both (and Redis answered every step: none fell back to the process's own)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[Guards] = []

    def make(**kw) -> Guards:
        made.append(Guards.make(redis_url=url, **kw))
        return made[-1]

    yield make
    assert all(g.shared is None or g.shared.down_since is None for g in made)


def request(model=CLAUDE) -> ChatRequest:
    return ChatRequest(model.id, (Message("user", REQUEST_TEXT),), max_tokens=100)


def call(provider, settings, guards: Guards, clock, model=CLAUDE, attempts: int = 3) -> Call:
    calls = scripted(settings, provider, policy=RetryPolicy(max_attempts=attempts),
                     sleep=clock.sleep, clock=clock, guards=guards)
    return calls.call(CallSpec(model, request(model), CallContext("test")))


def chain(settings, guards, clock, providers: dict[str, object]) -> Fallbacks:
    """Claude, then GPT, through the seam: `providers` serve them in that order."""
    by_key = dict(zip([CLAUDE.key, GPT.key], providers.values(), strict=True))
    calls = scripted(settings, by_key, policy=RetryPolicy(), sleep=clock.sleep, clock=clock,
                     guards=guards)
    fb = calls.invoke(CallSpec(CLAUDE, request(CLAUDE), CallContext("test"), fallbacks=(GPT,)))
    assert isinstance(fb, Fallbacks)  # its `calls` hold every model's call, failed ones too
    return fb


def rows_of(fb: Fallbacks) -> list:
    """Every link's ledger row; `records` has only the reply's."""
    return [c.record for c in fb.calls]


def sdk_chain(settings, guards, clock, claude: Replay, gpt: Replay) -> Fallbacks:
    """Claude, then GPT, each the real SDK over its fake transport."""
    return chain(settings, guards, clock, {"a": provider_for("anthropic", claude),
                                           "o": provider_for("openai", gpt)})


def test_primary_overloaded_three_times_then_the_fallback_answers(settings, make_guards):
    clock, guards = Clock(), make_guards()
    claude = Replay(error_response(529, "overloaded_error", "Overloaded"))
    gpt = Replay(stream_response(sse("openai_success.sse")))
    fb = sdk_chain(settings, guards, clock, claude, gpt)
    events = list(fb)
    assert (claude.attempts, gpt.attempts) == (3, 1)
    moved = [e for e in events if isinstance(e, Fallback)]
    assert len(moved) == 1 and moved[0].failed == CLAUDE.label and moved[0].next == GPT.label
    assert "overloaded" in moved[0].reason
    assert text_of(events) == "Hello, I am GPT." and isinstance(events[-1], Stop)
    assert not any(isinstance(e, Error) for e in events)  # the failure was not the end
    failed, answered = rows_of(fb)
    assert fb.records == [answered]  # the failed model's row is not the reply's
    assert (failed.status, failed.attempts, failed.model) == ("error", 3, CLAUDE.id)
    row = spend.get_call(settings.db, answered.id)
    assert (row.status, row.model, row.fallback_of) == ("ok", GPT.id, failed.id)
    assert CLAUDE.label in row.route and "overloaded" in row.route
    assert fb.model == GPT and fb.text == "Hello, I am GPT."


def test_no_fallback_after_the_first_token(settings, make_guards):
    clock, guards = Clock(), make_guards()
    body = b"".join(sse("anthropic_success.sse").split(b"\n\n")[i] + b"\n\n" for i in range(4))
    claude = Replay(cut_response(body))
    gpt = Replay(stream_response(sse("openai_success.sse")))
    fb = sdk_chain(settings, guards, clock, claude, gpt)
    events = list(fb)
    assert gpt.attempts == 0 and claude.attempts == 1
    assert text_of(events) == "Hello"
    assert isinstance(events[-1], Error) and events[-1].partial
    assert not any(isinstance(e, Fallback) for e in events)
    assert [r.status for r in rows_of(fb)] == [r.status for r in fb.records] == ["incomplete"]


def test_no_fallback_after_a_tool_call(settings, make_guards):
    """A cut after a complete tool call stays a tool call: it is never re-asked as prose."""
    clock, guards = Clock(), make_guards()
    tool = ToolCall("c1", "calculator", {"expression": "1+1"}, '{"expression": "1+1"}')
    first = FakeProvider([([tool], ProviderError("connection", "cut"))])
    second = FakeProvider([ok("prose instead")])
    events = list(chain(settings, guards, clock, {"a": first, "o": second}))
    assert second.requests == [] and any(isinstance(e, ToolCall) for e in events)
    assert isinstance(events[-1], Error)


def test_every_model_failing_ends_with_the_last_error_and_every_row(settings, make_guards):
    clock, guards = Clock(), make_guards()
    down = ProviderError("server", "Internal error", status=500)
    fb = chain(settings, guards, clock, {"a": FakeProvider([([], down)]),
                                         "o": FakeProvider([([], down)])})
    events = list(fb)
    assert isinstance(events[-1], Error) and not events[-1].partial
    assert [r.status for r in rows_of(fb)] == ["error", "error"]
    assert [s.label for s in fb.passed_over] == [CLAUDE.label, GPT.label]


def test_breaker_closed_open_half_open_closed(settings, make_guards):
    clock = Clock()
    guards = make_guards(policy=BreakerPolicy(consecutive=3, cooldown_s=30), clock=clock)
    down = ProviderError("server", "Internal error", status=500)
    provider = FakeProvider([([], down)])
    for _ in range(3):
        list(call(provider, settings, guards, clock, attempts=1))
    assert guards.state_of("fake").state == "open" and len(provider.requests) == 3
    refused = call(provider, settings, guards, clock, attempts=1)
    events = list(refused)
    assert len(provider.requests) == 3  # refused at once: nothing was sent
    assert events[-1].error.kind == "circuit_open" and refused.record.status == "error"
    clock.now += 29
    assert guards.state_of("fake").text.startswith("open, probe in 1")
    clock.now += 1
    assert guards.state_of("fake").state == "half-open"
    # The probe fails: open again for another cooldown.
    list(call(provider, settings, guards, clock, attempts=1))
    assert guards.state_of("fake").state == "open" and len(provider.requests) == 4
    clock.now += 30
    provider.attempts = [ok("back")]
    provider.requests.clear()
    probe = call(provider, settings, guards, clock, attempts=1)
    assert text_of(list(probe)) == "back"
    assert guards.state_of("fake").state == "closed"


def test_only_one_probe_goes_through_while_half_open(settings, make_guards):
    clock = Clock()
    guards = make_guards(policy=BreakerPolicy(consecutive=1, cooldown_s=10), clock=clock)
    breaker = guards.breakers.get("fake")
    breaker.failure("server")
    clock.now += 10
    breaker.before()  # the probe
    with pytest.raises(ProviderError) as second:
        breaker.before()
    assert second.value.kind == "circuit_open"
    breaker.release()  # the probe was cancelled: the next call may probe
    breaker.before()


def test_failure_rate_over_the_window_opens_it(settings, make_guards):
    clock = Clock()
    guards = make_guards(policy=BreakerPolicy(consecutive=99, rate=0.5, min_calls=4,
                                              window_s=60), clock=clock)
    b = guards.breakers.get("fake")
    for kind in (None, "server", None, "timeout"):  # 2 of 4 failed, never 2 in a row
        b.failure(kind) if kind else b.success()
        clock.now += 1
    assert b.state().state == "open"


def test_an_auth_error_opens_it_at_once(settings, make_guards):
    clock, guards = Clock(), make_guards(clock=Clock())
    replay = Replay(error_response(401, "authentication_error", "invalid x-api-key"))
    events = list(call(provider_for("anthropic", replay), settings, guards, clock))
    assert replay.attempts == 1 and events[-1].error.kind == "auth"
    assert guards.state_of("anthropic").state == "open"
    again = list(call(provider_for("anthropic", replay), settings, guards, clock))
    assert replay.attempts == 1 and again[-1].error.kind == "circuit_open"


def test_bad_requests_say_nothing_about_health(settings, make_guards):
    clock = Clock()
    guards = make_guards(policy=BreakerPolicy(consecutive=1), clock=clock)
    replay = Replay(error_response(400, "invalid_request_error", "too long"))
    for _ in range(3):
        list(call(provider_for("anthropic", replay), settings, guards, clock))
    assert guards.state_of("anthropic").state == "closed" and replay.attempts == 3


def test_the_breaker_stops_a_retry_loop_it_opens_and_the_chain_moves_on(settings, make_guards):
    """Every failed attempt counts, retries included (LiteLLM #32574 skipped cooldowns on
    retries): with 2 failures to open, the third attempt is refused, not sent."""
    clock = Clock()
    guards = make_guards(policy=BreakerPolicy(consecutive=2), clock=clock)
    claude = Replay(error_response(503, "api_error", "unavailable"))
    gpt = Replay(stream_response(sse("openai_success.sse")))
    fb = sdk_chain(settings, guards, clock, claude, gpt)
    events = list(fb)
    assert claude.attempts == 2 and gpt.attempts == 1
    assert text_of(events) == "Hello, I am GPT."
    # The next turn does not knock on Claude's door at all while it is open.
    gpt2 = Replay(stream_response(sse("openai_success.sse")))
    fb2 = sdk_chain(settings, guards, clock, claude, gpt2)
    events = list(fb2)
    assert claude.attempts == 2 and gpt2.attempts == 1
    assert "circuit breaker is open" in next(e for e in events if isinstance(e, Fallback)).reason


def crowd(settings, clock, guards: list, n: int) -> tuple[list[float], list[bool]]:
    """`n` calls at once, spread over `guards` (one per process): when each was sent (by the
    virtual clock, sorted) and whether each waited for the rate limit."""
    sent: list[float] = []
    lock = threading.Lock()

    class Timed(FakeProvider):
        def stream(self, req):
            with lock:
                sent.append(clock())
            yield from super().stream(req)

    provider = Timed([ok("hi")])
    waited: list[bool] = []

    def one(g) -> None:
        try:
            events = list(call(provider, settings, g, clock))
            waited.append(any(isinstance(e, Waiting) for e in events))
            assert text_of(events) == "hi"
        finally:
            clock.done()

    threads = [threading.Thread(target=one, args=(guards[i % len(guards)],))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(sent), waited


def test_fifty_threads_under_ten_a_minute_never_exceed_it(settings, make_guards):
    clock = VirtualClock(threads=50)
    guards = make_guards(limits={"fake": Limit(rpm=10)}, clock=clock)
    sent, waited = crowd(settings, clock, [guards], 50)
    assert len(sent) == 50 and sum(waited) == 40
    assert all(sent[i + 10] - sent[i] >= 60 for i in range(40))  # no 60 s window has 11
    assert sent[-1] == pytest.approx(240)  # and none waited longer than the limit asks


def test_tokens_per_minute_count_input_and_the_reserved_output(settings, make_guards):
    clock = Clock()
    # Each call takes its input as the seam's counter counts it and its 100 output tokens:
    # three fit only if the input is left out.
    per_call = counter_for(CLAUDE, settings).count_request(request()) + 100
    tpm = 3 * per_call - 1
    guards = make_guards(limits={"fake": Limit(tpm=tpm)}, clock=clock)
    provider = FakeProvider([ok("hi")])
    list(call(provider, settings, guards, clock))
    list(call(provider, settings, guards, clock))
    assert clock.slept == []
    events = list(call(provider, settings, guards, clock))  # over by one: waits for the first
    assert sum(clock.slept) == pytest.approx(60)
    assert isinstance(events[0], Waiting) and f"{tpm:,} tokens a minute" in events[0].reason


def test_a_retry_after_pauses_the_provider_for_every_caller(settings, make_guards):
    clock = Clock()
    guards = make_guards(limits={"anthropic": Limit(rpm=1000)}, clock=clock)
    replay = Replay(error_response(429, "rate_limit_error", "slow down", {"retry-after": "7"}))
    first = call(provider_for("anthropic", replay), settings, guards, clock, attempts=1)
    assert list(first)[-1].error.kind == "rate_limit"
    other = Replay(stream_response(sse("anthropic_success.sse")))
    events = list(call(provider_for("anthropic", other), settings, guards, clock))
    assert sum(clock.slept) == pytest.approx(7) and other.attempts == 1
    assert any(isinstance(e, Waiting) for e in events)
    assert text_of(events) == "Hello, I am Claude."


def test_stop_while_waiting_frees_the_slot(settings, make_guards):
    clock = Clock()
    guards = make_guards(limits={"fake": Limit(rpm=1)}, clock=clock)
    provider = FakeProvider([ok("hi")])
    list(call(provider, settings, guards, clock))
    waiting = call(provider, settings, guards, clock)
    for event in waiting:
        assert isinstance(event, Waiting)
        waiting.cancel.set()
    assert waiting.record.status == "cancelled" and len(provider.requests) == 1
    assert guards.limiters.get("fake", "fake").waiting_s() == pytest.approx(60 - 0.5)


def test_rate_limit_setting_is_parsed_and_checked():
    assert parse_limits("openai=500/200000, compat=60") == {
        "openai": Limit(500, 200000), "compat": Limit(60, 0)}
    with pytest.raises(Exception, match="provider=requests"):
        parse_limits("openai=lots")


def test_a_model_that_cannot_fit_is_passed_over(settings, make_guards):
    from lib.core import ContextOverflowError

    clock, guards = Clock(), make_guards()
    gpt = FakeProvider([ok("from the bigger window")])

    def ask(m, counter):
        if m.key == CLAUDE.key:
            raise ContextOverflowError("too long")
        return request(m)

    calls = scripted(settings, {CLAUDE.key: FakeProvider([]), GPT.key: gpt}, sleep=clock.sleep,
                     clock=clock, guards=guards)
    fb = calls.invoke(CallSpec(CLAUDE, ask, CallContext("test"), fallbacks=(GPT,)))
    fb.reserve()
    events = list(fb)
    assert text_of(events) == "from the bigger window"
    assert fb.passed_over[0].reason == "the request does not fit its context window"
    row = spend.get_call(settings.db, fb.record.id)
    assert row.fallback_of is None and "does not fit" in row.route


def test_sleeps_are_not_needed_when_nothing_limits(settings):
    provider = FakeProvider([ok("a")])
    sleeps = Sleeps()
    c = scripted(settings, provider, sleep=sleeps).call(
        CallSpec(CLAUDE, request(), CallContext("test")))
    assert [type(e) for e in c] == [TextDelta, Stop] and sleeps == []


def test_a_slot_opens_a_minute_after_the_provider_answered_not_after_we_sent(settings,
                                                                            make_guards):
    """A request can take a few ms to arrive; a server counting arrivals would refuse a call
    sent exactly a minute after the previous one was *sent* (the bench's 429s)."""
    clock = Clock()
    guards = make_guards(limits={"fake": Limit(rpm=1)}, clock=clock)
    arrivals: list[float] = []

    class Slow(FakeProvider):
        def stream(self, req):
            clock.now += 0.05 if not arrivals else 0.003  # the network's jitter
            arrivals.append(clock.now)
            yield from super().stream(req)

    provider = Slow([ok("hi")])
    for _ in range(4):
        assert text_of(list(call(provider, settings, guards, clock))) == "hi"
    assert all(b - a >= 60 for a, b in itertools.pairwise(arrivals))  # never refused
