"""The call layer driven by a scripted fake provider: retries, cancel, deadline, ledger rows."""

from __future__ import annotations

import threading

import pytest
from fakes import FakeProvider, Sleeps, fail, ok, scripted

from lib import spend
from lib.core import ProviderError
from lib.llm import (
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Error,
    Message,
    ModelInfo,
    RetryPolicy,
    Stop,
    TextDelta,
    Usage,
    counter_for,
)

MODEL = ModelInfo("m1", "openai", "Model One", 1000, 100, input=2.0, output=8.0)
REQUEST = ChatRequest("m1", (Message("user", "hi"),))


def make(provider, settings, cancel: threading.Event | None = None, **kw) -> Call:
    """One model's call through the seam, recorded in the settings' ledger."""
    return scripted(settings, provider, **kw).call(
        CallSpec(MODEL, REQUEST, CallContext("test", "reviewer", 3, None), cancel=cancel))


def test_ok_call_records_everything(settings):
    call = make(FakeProvider([ok("Hello", " world", usage=Usage(100, 20))]), settings)
    events = list(call)
    assert [type(e) for e in events] == [TextDelta, TextDelta, Stop]
    row = spend.get_call(settings.db, call.record.id)
    assert row.status == "ok" and row.attempts == 1
    assert (row.prompt_name, row.prompt_version, row.page) == ("reviewer", 3, "test")
    assert row.cost_micro == 100 * 2 + 20 * 8
    assert row.ttft_ms is not None and row.ttft_ms <= row.total_ms


def test_retryable_error_before_output_is_retried(settings):
    sleeps = Sleeps()
    provider = FakeProvider([fail(ProviderError("server", "boom")), ok("fine")])
    call = make(provider, settings, sleep=sleeps)
    list(call)
    assert len(provider.requests) == 2 and len(sleeps) == 1
    assert call.record.status == "ok" and call.record.attempts == 2


def test_error_after_output_keeps_partial_and_is_not_retried(settings):
    provider = FakeProvider([fail(ProviderError("connection", "cut"), "Half", " a"), ok("x")])
    call = make(provider, settings)
    events = list(call)
    assert len(provider.requests) == 1
    assert call.text == "Half a"
    assert isinstance(events[-1], Error) and events[-1].partial
    assert call.record.status == "incomplete" and call.record.usage_estimated
    counter = counter_for(MODEL, settings)  # no usage arrived: both sides are counted
    assert (call.record.input_tokens, call.record.output_tokens) == (
        counter.count_request(call.request), counter.count("Half a"))


def test_closing_the_stream_records_cancelled(settings):
    provider = FakeProvider([ok("one", " two", " three")])
    call = make(provider, settings)
    stream = iter(call)
    assert next(stream).text == "one"
    stream.close()
    assert call.record.status == "cancelled" and call.text == "one"
    assert spend.get_call(settings.db, call.record.id).status == "cancelled"


def test_cancel_event_stops_between_chunks(settings):
    cancel = threading.Event()
    call = make(FakeProvider([ok("a", "b", "c")]), settings, cancel=cancel)
    seen = []
    for event in call:
        seen.append(event)
        cancel.set()
    assert call.record.status == "cancelled" and call.text == "a"


def test_deadline_ends_a_slow_stream(settings):
    clock = iter(range(0, 1000, 10))
    call = make(FakeProvider([ok("a", "b", "c", "d")]), settings,
                policy=RetryPolicy(deadline_s=25), clock=lambda: next(clock))
    events = list(call)
    assert isinstance(events[-1], Error) and events[-1].error.kind == "deadline"
    assert call.record.status == "incomplete" and call.record.error_kind == "deadline"


def test_no_retry_when_the_wait_would_pass_the_deadline(settings):
    provider = FakeProvider([fail(ProviderError("rate_limit", "slow", retry_after=50)), ok("x")])
    call = make(provider, settings, policy=RetryPolicy(deadline_s=30))
    list(call)
    assert len(provider.requests) == 1 and call.record.status == "error"


def test_a_bug_in_a_provider_is_recorded_and_raised(settings):
    class Broken:
        name = "broken"

        def stream(self, request):
            raise RuntimeError("adapter bug")
            yield

    call = make(Broken(), settings)
    with pytest.raises(RuntimeError):  # a programming error must not be swallowed
        list(call)
    assert call.record.status == "error" and call.record.error_kind == "internal"
