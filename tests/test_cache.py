"""The response cache at the call seam: an identical request is answered from the cache (one
provider call, a second ledger row marked as a hit at $0 with what it saved), any difference in
the request or its repeat index is a miss, no-store never writes and no-cache never reads, a hit
streams the same events, only a whole reply is kept, nothing of the request is in the key or
the log, the Redis store survives an outage as a miss, and the TTL and size limit hold."""

from __future__ import annotations

import dataclasses
import logging
import threading

import pytest
from fakes import FakeProvider, fail, ok, scripted
from redisserver import RedisServer

from lib import spend
from lib.core import ProviderError
from lib.llm import (
    CacheMode,
    CallContext,
    CallSpec,
    ChatRequest,
    DatabaseStore,
    Lookup,
    Message,
    ModelInfo,
    Reasoning,
    RedisStore,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
    ToolUse,
    Usage,
    redis_client,
    request_key,
    store_for,
)

PAID = ModelInfo("p1", "anthropic", "Paid One", 8000, 500, input=3.0, output=15.0,
                 thinking=("off", "on", "adaptive"), efforts=("low", "high"))
SECRET = "the launch code is tangerine-42"
ASK = ChatRequest("p1", (Message("user", SECRET),), system="Be brief.", max_tokens=50)


class Clock:
    """Wall time for the stores, moved by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(calls, request: ChatRequest = ASK, mode: CacheMode | None = CacheMode.ON,
        context: CallContext | None = None, model: ModelInfo = PAID):
    response = calls.invoke(CallSpec(model, request, context or CallContext("chat"),
                                     cache=mode))
    return response, list(response)


def rows(settings) -> list[spend.CallRecord]:
    with settings.db.connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM calls ORDER BY id")]
    return [spend.get_call(settings.db, i) for i in ids]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cached_calls(settings, provider, clock, **kw):
    return scripted(settings, provider, cache_store=store_for(settings, clock), **kw)


def test_two_identical_requests_make_one_provider_call_and_two_ledger_rows(backend, settings,
                                                                          clock):
    assert settings.db == backend  # on SQLite, then on PostgreSQL
    fake = FakeProvider([ok("Hel", "lo.", usage=Usage(1000, 200))])
    calls = cached_calls(settings, fake, clock)
    first, _ = run(calls)
    second, _ = run(calls)
    assert len(fake.requests) == 1
    assert (first.cache_status, second.cache_status) == ("miss", "hit")
    assert second.text == first.text == "Hello."
    live, hit = rows(settings)
    assert (live.status, hit.status) == ("ok", "ok")  # both answered
    assert (live.response_cache, hit.response_cache) == ("miss", "hit")
    assert live.cost_micro == PAID.cost_micro(1000, 200) > 0
    assert hit.cost_micro == 0 and hit.saved_micro == live.cost_micro
    assert live.saved_micro == 0
    assert (hit.input_tokens, hit.output_tokens) == (1000, 200)


def test_off_by_default_and_on_where_the_page_is_listed(settings, clock):
    fake = FakeProvider([ok("x")])
    calls = cached_calls(settings, fake, clock)
    for _ in range(2):
        response, _ = run(calls, mode=None)
        assert response.cache_status is None
    assert len(fake.requests) == 2
    listed = dataclasses.replace(settings, cache_pages=("compare", "chat"))
    calls = cached_calls(listed, fake, clock)
    run(calls, mode=None)
    response, _ = run(calls, mode=None)
    assert response.cache_status == "hit" and len(fake.requests) == 3
    # An explicit OFF wins over the page's setting.
    response, _ = run(calls, mode=CacheMode.OFF)
    assert response.cache_status is None and len(fake.requests) == 4


# One changed value for every field of ChatRequest: a field added to ChatRequest and not
# listed here fails the first test below, so a new field is keyed before it ships.
CHANGES = {
    "model": "p2",
    "messages": (Message("user", SECRET + "!"),),
    "system": "Be long.",
    "temperature": 0.2,
    "max_tokens": 51,
    "cache_system": True,
    "tools": (ToolSpec("clock", "The time.", {"type": "object", "properties": {}}),),
    "tool_choice": "required",
    "output_schema": {"type": "object"},
    "schema_name": "answer",
    "reasoning": Reasoning("on", budget_tokens=1024),
    "seed": 7,
}


def test_every_field_of_the_request_is_listed_for_the_key():
    assert set(CHANGES) == {f.name for f in dataclasses.fields(ChatRequest)}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_any_difference_in_the_request_is_a_different_key(field):
    base = request_key("anthropic", PAID.key, ASK)
    assert request_key("anthropic", PAID.key, dataclasses.replace(ASK, **{field: CHANGES[field]})
                       ) != base
    assert request_key("anthropic", PAID.key, ASK) == base  # and the same request, the same


@pytest.mark.parametrize("blocks", [
    (ToolUse("c1", "clock", {"tz": "UTC"}),),
    (ToolUse("c1", "clock", {"tz": "CET"}),),
    (Thinking("hmm", signature="s1"),),
    (Thinking("hmm", signature="s2"),),
    (Thinking("", data="opaque"),),
])
def test_tool_calls_and_thinking_in_the_history_are_keyed(blocks):
    plain = ChatRequest("p1", (Message("user", "hi"), Message("assistant", "")))
    keys = {request_key("anthropic", PAID.key, plain)}
    with_blocks = dataclasses.replace(plain, messages=(
        Message("user", "hi"), Message("assistant", "", blocks)))
    keys.add(request_key("anthropic", PAID.key, with_blocks))
    assert len(keys) == 2
    # A tool result differs from a tool call with the same values.
    result = dataclasses.replace(plain, messages=(Message("user", "", (ToolResult("c1", "x"),)),))
    use = dataclasses.replace(plain, messages=(Message("user", "", (ToolUse("c1", "x", {}),)),))
    assert request_key("anthropic", PAID.key, result) != request_key("anthropic", PAID.key, use)


def test_the_repeat_index_provider_and_model_are_keyed():
    base = request_key("anthropic", PAID.key, ASK)
    assert request_key("anthropic", PAID.key, ASK, repeat=1) != base
    assert request_key("openai", PAID.key, ASK) != base
    assert request_key("anthropic", "anthropic/other", ASK) != base


@pytest.mark.parametrize("field", ["temperature", "max_tokens", "tools", "reasoning"])
def test_a_changed_sampling_parameter_or_tool_is_a_miss_at_the_seam(settings, clock, field):
    fake = FakeProvider([ok("x")])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    response, _ = run(calls, dataclasses.replace(ASK, **{field: CHANGES[field]}))
    assert response.cache_status == "miss" and len(fake.requests) == 2


def test_a_repeat_is_a_distinct_call(settings, clock):
    fake = FakeProvider([ok("x")])
    calls = cached_calls(settings, fake, clock)
    run(calls, context=CallContext("eval", repeat=0))
    response, _ = run(calls, context=CallContext("eval", repeat=1))
    assert response.cache_status == "miss" and len(fake.requests) == 2
    response, _ = run(calls, context=CallContext("eval", repeat=1))
    assert response.cache_status == "hit" and len(fake.requests) == 2


def test_no_store_reads_but_never_writes(settings, clock):
    fake = FakeProvider([ok("x")])
    calls = cached_calls(settings, fake, clock)
    run(calls, mode=CacheMode.NO_STORE)
    response, _ = run(calls, mode=CacheMode.ON)
    assert response.cache_status == "miss" and len(fake.requests) == 2  # nothing was kept
    response, _ = run(calls, mode=CacheMode.NO_STORE)  # what ON kept is read
    assert response.cache_status == "hit" and len(fake.requests) == 2


def test_no_cache_never_reads_but_writes(settings, clock):
    fake = FakeProvider([ok("old")])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    fake.attempts = [ok("new")]
    response, _ = run(calls, mode=CacheMode.NO_CACHE)
    assert response.cache_status == "miss" and response.text == "new"
    assert len(fake.requests) == 2
    response, _ = run(calls)  # the fresh answer replaced the old one
    assert response.cache_status == "hit" and response.text == "new"


def test_a_streamed_hit_yields_the_same_events(settings, clock):
    call = ToolCall("c1", "clock", {"tz": "UTC"}, '{"tz": "UTC"}')
    thought = Thinking("Let me think.", signature="sig")
    events = [ThinkingDelta("Let me "), ThinkingDelta("think."), thought, TextDelta("It is "),
              TextDelta("noon."), call, Usage(100, 40, reasoning_tokens=10), Stop("tool_use")]
    fake = FakeProvider([(events, None)])
    calls = cached_calls(settings, fake, clock)
    live, heard = run(calls)
    hit, replayed = run(calls)
    assert len(fake.requests) == 1 and hit.cache_status == "hit"
    assert replayed == heard
    assert heard == [e for e in events if not isinstance(e, Usage)]  # as a live call yields
    assert (hit.text, hit.tool_calls, hit.usage) == (live.text, live.tool_calls, live.usage)
    assert hit.last.thinking == [thought] and hit.last.blocks == live.last.blocks


@pytest.mark.parametrize("attempt", [
    fail(ProviderError("network", "connection reset"), "Half an ans"),   # a cut stream
    fail(ProviderError("invalid_request", "bad")),                        # an error
    ok("Cut at the limit", reason="max_tokens"),                          # not a whole reply
    ok("No.", reason="refusal"),
])
def test_only_a_whole_reply_is_kept(settings, clock, attempt):
    fake = FakeProvider([attempt])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    fake.attempts = [ok("whole")]
    response, _ = run(calls)
    assert response.cache_status == "miss" and response.text == "whole"
    assert len(fake.requests) == 2


def test_a_cancelled_call_is_never_kept(settings, clock):
    fake = FakeProvider([ok("one", "two", "three")])
    calls = cached_calls(settings, fake, clock)
    response = calls.invoke(CallSpec(PAID, ASK, CallContext("chat"), cache=CacheMode.ON))
    events = iter(response)
    next(events)
    events.close()  # the reader went away mid-stream
    assert response.record.status == "cancelled"
    response, _ = run(calls)
    assert response.cache_status == "miss" and len(fake.requests) == 2


def test_a_hit_reserves_nothing_and_a_replay_is_never_billed(settings, clock):
    spend.set_budget(settings.db, "anthropic", "month", 10.0)
    fake = FakeProvider([ok("x", usage=Usage(1000, 200))])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    cancel = threading.Event()
    response = calls.invoke(CallSpec(PAID, ASK, CallContext("chat"), cache=CacheMode.ON,
                                     cancel=cancel))
    response.reserve()
    with settings.db.connect() as conn:  # nothing is held for a hit
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
    cancel.set()
    list(response)
    assert response.record.status == "cancelled" and response.record.cost_micro == 0


def test_neither_the_key_nor_the_log_holds_the_request(settings, clock, caplog):
    key = request_key("anthropic", PAID.key, ASK)
    assert len(key) == 64 and SECRET not in key
    fake = FakeProvider([ok("fine")])
    calls = cached_calls(settings, fake, clock)
    with caplog.at_level(logging.DEBUG):
        run(calls)
        run(calls)
    assert "tangerine" not in caplog.text
    with settings.db.connect() as conn:
        stored = conn.execute("SELECT key, reply FROM response_cache").fetchall()
    assert [r[0] for r in stored] == [key]
    assert "tangerine" not in stored[0][1]  # the reply is kept, the request is not


def test_entries_expire_after_the_ttl_without_waiting(settings, clock):
    settings = dataclasses.replace(settings, cache_ttl_s=60.0)
    fake = FakeProvider([ok("x")])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    clock.now += 59
    assert run(calls)[0].cache_status == "hit"
    clock.now += 2
    assert run(calls)[0].cache_status == "miss" and len(fake.requests) == 2


def test_the_oldest_entries_go_past_the_size_limit(backend, clock):
    store = DatabaseStore(backend, 3600.0, 2, clock)  # on SQLite, then on PostgreSQL
    for key in "abc":
        store.put(key, "[]")
        clock.now += 1
    assert [store.get(k) for k in "abc"] == [None, "[]", "[]"]
    store.put("b", '["again"]')  # a rewrite keeps one entry
    assert store.get("b") == '["again"]' and store.get("c") == "[]"
    assert store.clear() == 2 and store.get("c") is None


def test_the_redis_store_answers_identical_requests(settings, redis_url, clock):
    settings = dataclasses.replace(settings, redis_url=redis_url)
    store = store_for(settings, clock)
    assert isinstance(store, RedisStore)
    fake = FakeProvider([ok("from redis")])
    calls = cached_calls(settings, fake, clock)
    run(calls)
    response, _ = run(calls)
    assert response.cache_status == "hit" and response.text == "from redis"
    assert len(fake.requests) == 1
    with settings.db.connect() as conn:  # the database store was not used
        assert conn.execute("SELECT COUNT(*) FROM response_cache").fetchone()[0] == 0
    clock.now += settings.cache_ttl_s + 1
    assert run(calls)[0].cache_status == "miss"


def test_the_redis_store_keeps_its_size_limit_and_clears(redis_url, clock):
    store = RedisStore(redis_client(redis_url), 3600.0, 2, clock)
    for key in "abc":
        store.put(key, "[]")
        clock.now += 1
    assert [store.get(k) for k in "abc"] == [None, "[]", "[]"]
    assert store.clear() == 2 and store.get("c") is None


def test_redis_stopped_mid_test_is_a_miss_and_a_warning_and_the_call_answers(settings, clock,
                                                                               caplog):
    server = RedisServer()
    server.start()
    try:
        settings = dataclasses.replace(settings, redis_url=server.url)
        fake = FakeProvider([ok("still here")])
        calls = cached_calls(settings, fake, clock)
        run(calls)
        assert run(calls)[0].cache_status == "hit"
        server.stop()
        with caplog.at_level(logging.WARNING, "lib.llm.cache"):
            response, events = run(calls)
        assert response.text == "still here" and events[-1] == Stop("end_turn")
        assert response.cache_status == "miss" and response.record.status == "ok"
        assert len(fake.requests) == 2
        warnings = [r for r in caplog.records if r.name == "lib.llm.cache"]
        assert warnings and all(r.levelno == logging.WARNING for r in warnings)
        server.start()  # back, empty (it saves nothing): kept again, then read
        assert run(calls)[0].cache_status == "miss"
        assert run(calls)[0].cache_status == "hit" and len(fake.requests) == 3
    finally:
        server.close()


def test_a_failing_store_never_fails_the_call(settings, caplog):
    class Broken:
        def get(self, key):
            raise OSError("disk gone")

        def put(self, key, reply):
            raise OSError("disk gone")

        def clear(self):
            return 0

    fake = FakeProvider([ok("x")])
    calls = scripted(settings, fake, cache_store=Broken())
    with caplog.at_level(logging.WARNING, "lib.llm.cache"):
        assert run(calls)[0].text == "x"
    assert len([r for r in caplog.records if r.name == "lib.llm.cache"]) == 2


@pytest.mark.parametrize(("header", "mode"), [
    (None, CacheMode.ON), ("no-cache", CacheMode.NO_CACHE), ("no-store", CacheMode.NO_STORE),
    ("No-Store, no-cache", CacheMode.OFF), ("max-age=0", CacheMode.ON)])
def test_cache_control_only_restricts(header, mode):
    assert CacheMode.ON.restricted(header) is mode
    assert CacheMode.OFF.restricted(header) is CacheMode.OFF


def test_a_repeated_compare_run_costs_nothing_the_second_time(settings, prompts_dir, clock):
    from lib import compare
    from lib.compare import Variant
    from lib.llm import load_catalog
    from lib.prompts import PromptStore

    resolved = compare.resolve(PromptStore(prompts_dir), load_catalog(settings), [
        Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 8),
        Variant("classifier", "production", "openai/gpt-4o-mini", 0.5, 8)])
    inputs = [{"text": "The app crashes."}, {"text": "Add a dark mode."}]
    plan = compare.forecast(settings, resolved, inputs)
    fake = FakeProvider([ok("bug", usage=Usage(300, 2))])
    calls = cached_calls(settings, fake, clock)
    runs = []
    for _ in range(2):
        run_id = compare.create_run(settings.db, "again", resolved, inputs, [])
        list(compare.execute(settings, run_id, resolved, plan, [], calls=calls,
                             cache=CacheMode.ON))
        runs.append(compare.load_run(settings.db, run_id))
    assert len(fake.requests) == 4  # each cell once: the second run asked nothing
    first, second = ([c.cost_micro for c in r.cells.values()] for r in runs)
    assert all(c > 0 for c in first) and second == [0] * 4
    assert all(c.status == "ok" and c.output == "bug" for r in runs for c in r.cells.values())
    saved = sum(r.saved_micro for r in rows(settings) if r.response_cache == "hit")
    assert saved == sum(first)


def test_a_lookup_without_reads_never_touches_the_store():
    class Untouchable:
        def get(self, key):
            raise AssertionError("read")

        def put(self, key, reply):
            raise AssertionError("written")

        def clear(self):
            return 0

    assert Lookup(Untouchable(), "k", CacheMode.NO_CACHE).read() is None
    Lookup(Untouchable(), "k", CacheMode.NO_STORE).write([Stop("end_turn")])
