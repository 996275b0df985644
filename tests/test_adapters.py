"""The real anthropic and openai SDK clients over a fake HTTP transport replaying SSE streams,
through the one retry loop, down to the ledger row. Each test counts HTTP attempts."""

from __future__ import annotations

import httpx2
import pytest
from fakes import (
    Replay,
    Sleeps,
    cut_response,
    error_response,
    scripted,
    sse,
    sse_events,
    stream_response,
)

from lib import spend
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Error,
    Message,
    ModelInfo,
    RetryPolicy,
    Stop,
    TextDelta,
    counter_for,
)

CLAUDE = ModelInfo("claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", 200_000, 64_000,
                   input=3.0, output=15.0, cache_read=0.30, cache_write=3.75)
GPT = ModelInfo("gpt-4o-mini", "openai", "GPT-4o mini", 128_000, 16_384,
                input=0.15, output=0.60, cache_read=0.075)
REQUEST_TEXT = "Say hello and tell me who you are, in one short sentence."


def provider_for(kind: str, replay: Replay, read_timeout: float = 60.0):
    make = replay.anthropic if kind == "anthropic" else replay.openai
    return make(read_timeout=read_timeout)


def run(kind: str, replay: Replay, settings, **policy):
    model = CLAUDE if kind == "anthropic" else GPT
    request = ChatRequest(model.id, (Message("user", REQUEST_TEXT),), system="Be brief.",
                          max_tokens=100)
    sleeps = Sleeps()
    calls = scripted(settings, provider_for(kind, replay), policy=RetryPolicy(**policy),
                     sleep=sleeps)
    call = calls.call(CallSpec(model, request, CallContext("test")))
    events = list(call)
    row = spend.get_call(settings.db, call.record.id)
    return call, events, row, sleeps


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


SUCCESS = {"anthropic": "anthropic_success.sse", "openai": "openai_success.sse"}
# How many SSE events of SUCCESS[kind] go up to and including the first text ("Hello").
UP_TO_HELLO = {"anthropic": 4, "openai": 2}
BOTH = pytest.mark.parametrize("kind", ["anthropic", "openai"])


def test_anthropic_success_records_cache_usage_and_cost(settings):
    replay = Replay(stream_response(sse("anthropic_success.sse")))
    _call, events, row, _ = run("anthropic", replay, settings)
    assert replay.attempts == 1
    assert text_of(events) == "Hello, I am Claude."
    assert isinstance(events[-1], Stop) and events[-1].reason == "end_turn"
    assert (row.status, row.attempts, row.usage_estimated) == ("ok", 1, False)
    assert (row.input_tokens, row.output_tokens) == (25, 9)
    assert (row.cache_read_tokens, row.cache_write_tokens) == (1000, 40)
    # 25 x $3 + 9 x $15 + 1000 x $0.30 + 40 x $3.75 per million tokens = 660 µ$
    assert row.cost_micro == 660
    assert row.ttft_ms is not None and row.ttft_ms <= row.total_ms
    sent = replay.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert b'"system"' in sent.content and b'"stream":true' in sent.content.replace(b" ", b"")


def test_openai_success_records_cached_tokens(settings):
    replay = Replay(stream_response(sse("openai_success.sse")))
    _call, events, row, _ = run("openai", replay, settings)
    assert replay.attempts == 1
    assert text_of(events) == "Hello, I am GPT."
    assert (row.status, row.attempts, row.usage_estimated) == ("ok", 1, False)
    # prompt_tokens 1200 of which 1024 cached: ledger input is the uncached 176
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens) == (176, 1024, 7)
    assert row.cost_micro == round(176 * 0.15 + 1024 * 0.075 + 7 * 0.60)
    sent = replay.requests[0]
    assert b'"include_usage":true' in sent.content.replace(b" ", b"")
    # Sent on the SDK's client with the SDK's headers, not through its request builder.
    assert str(sent.url) == "http://openai.test/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["user-agent"].startswith("OpenAI/Python")


def test_openai_sends_the_organisation_and_project_the_sdk_reads(monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-lab")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-lab")
    replay = Replay(stream_response(sse("openai_success.sse")))
    list(provider_for("openai", replay).stream(ChatRequest(GPT.id, (Message("user", "hi"),))))
    sent = replay.requests[0].headers
    assert (sent["openai-organization"], sent["openai-project"]) == ("org-lab", "proj-lab")



class _Bytes(httpx2.SyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __iter__(self):
        yield from self.parts


def test_openai_stream_parsed_from_any_split_crlf_comments_and_multiline_data(settings):
    """Servers send SSE in parts of any size; an event may use CRLF, carry comments, or
    split its JSON over data lines; events after [DONE] are not read as a reply."""
    body = sse("openai_success.sse").replace(b"\n", b"\r\n").replace(
        b'"delta":{"content":"Hello"}', b'"delta":\r\n: keep-alive\r\ndata: {"content":"Hello"}')
    body += b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\r\n\r\n'
    assert b": keep-alive" in body  # the fixture still has the event this test splits
    replay = Replay(lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"},
        stream=_Bytes([body[i:i + 1] for i in range(len(body))])))
    _call, events, row, _ = run("openai", replay, settings)
    assert text_of(events) == "Hello, I am GPT."
    assert (row.status, row.input_tokens, row.output_tokens) == ("ok", 176, 7)

@BOTH
def test_429_with_retry_after_then_success(kind, settings):
    replay = Replay(error_response(429, "rate_limit_error", "slow down",
                                   {"retry-after": "2"}),
                    stream_response(sse(SUCCESS[kind])))
    _call, _events, row, sleeps = run(kind, replay, settings)
    assert replay.attempts == 2
    assert sleeps and sleeps[0] >= 2.0  # the provider's retry-after was honoured
    assert (row.status, row.attempts) == ("ok", 2)


def test_retry_after_ms_is_preferred(settings):
    replay = Replay(error_response(429, "rate_limit_error", "slow down",
                                   {"retry-after-ms": "3500", "retry-after": "1"}),
                    stream_response(sse("anthropic_success.sse")))
    _, _, row, sleeps = run("anthropic", replay, settings)
    assert replay.attempts == 2 and sleeps[0] >= 3.5 and row.status == "ok"


@BOTH
def test_retry_after_beyond_60s_fails_at_once_showing_the_wait(kind, settings):
    replay = Replay(error_response(429, "rate_limit_error", "quota", {"retry-after": "120"}),
                    stream_response(sse(SUCCESS[kind])))
    _call, events, row, sleeps = run(kind, replay, settings)
    assert replay.attempts == 1 and sleeps == []
    assert isinstance(events[-1], Error)
    assert "120 s" in str(events[-1].error)
    assert (row.status, row.error_kind, row.attempts) == ("error", "rate_limit", 1)


@BOTH
def test_500_500_then_success(kind, settings):
    replay = Replay(error_response(500, "api_error", "boom"),
                    error_response(500, "api_error", "boom"),
                    stream_response(sse(SUCCESS[kind])))
    _, events, row, sleeps = run(kind, replay, settings)
    assert replay.attempts == 3 and len(sleeps) == 2
    assert sleeps[1] >= sleeps[0] * 0.5  # exponential backoff (with jitter)
    assert (row.status, row.attempts) == ("ok", 3)
    assert text_of(events)


def test_529_every_time_gives_up_after_three(settings):
    replay = Replay(error_response(529, "overloaded_error", "Overloaded"))
    _, events, row, _ = run("anthropic", replay, settings)
    assert replay.attempts == 3
    assert isinstance(events[-1], Error) and events[-1].error.kind == "overloaded"
    assert (row.status, row.error_kind, row.attempts) == ("error", "overloaded", 3)
    assert (row.input_tokens, row.output_tokens, row.cost_micro) == (0, 0, 0)


def test_503_every_time_gives_up_after_three(settings):
    replay = Replay(error_response(503, "server_error", "unavailable"))
    _, _, row, _ = run("openai", replay, settings)
    assert replay.attempts == 3 and (row.status, row.error_kind) == ("error", "server")


@BOTH
@pytest.mark.parametrize(("status", "etype", "kind_expected"), [
    (400, "invalid_request_error", "bad_request"),
    (401, "authentication_error", "auth"),
    (403, "permission_error", "permission"),
    (404, "not_found_error", "not_found"),
    (422, "invalid_request_error", "bad_request"),
])
def test_client_errors_are_not_retried(kind, status, etype, kind_expected, settings):
    replay = Replay(error_response(status, etype, "no"), stream_response(sse(SUCCESS[kind])))
    _, events, row, sleeps = run(kind, replay, settings)
    assert replay.attempts == 1 and sleeps == []
    assert (row.status, row.error_kind, row.attempts) == ("error", kind_expected, 1)
    assert events[-1].error.hint  # says what to do next


@BOTH
def test_connect_timeout_is_retried(kind, settings):
    replay = Replay(httpx2.ConnectTimeout("timed out"), stream_response(sse(SUCCESS[kind])))
    _, _, row, _ = run(kind, replay, settings)
    assert replay.attempts == 2 and (row.status, row.attempts) == ("ok", 2)


@BOTH
def test_connect_error_every_time(kind, settings):
    replay = Replay(httpx2.ConnectError("refused"))
    _, events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 3
    assert (row.status, row.error_kind) == ("error", "connection")
    assert "network" in events[-1].error.hint


@BOTH
def test_cut_before_any_token_is_retried(kind, settings):
    first = sse_events(SUCCESS[kind])[0]  # message_start / role chunk: no text yet
    replay = Replay(cut_response(first), stream_response(sse(SUCCESS[kind])))
    _, events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 2
    assert (row.status, row.attempts) == ("ok", 2)
    assert text_of(events) in ("Hello, I am Claude.", "Hello, I am GPT.")


@BOTH
def test_cut_after_tokens_keeps_partial_and_is_not_retried(kind, settings):
    events_in = sse_events(SUCCESS[kind])
    head = b"".join(events_in[:UP_TO_HELLO[kind]])
    replay = Replay(cut_response(head), stream_response(sse(SUCCESS[kind])))
    call, events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1
    assert call.text == "Hello" and text_of(events) == "Hello"
    assert isinstance(events[-1], Error) and events[-1].partial
    assert (row.status, row.error_kind, row.attempts) == ("incomplete", "connection", 1)
    assert row.output_tokens > 0 and row.usage_estimated
    if kind == "anthropic":
        assert row.input_tokens == 25  # reported in message_start before the cut


@BOTH
def test_read_timeout_mid_stream_is_incomplete(kind, settings):
    head = b"".join(sse_events(SUCCESS[kind])[:UP_TO_HELLO[kind]])

    class Stalls(httpx2.SyncByteStream):
        def __iter__(self):
            yield head
            raise httpx2.ReadTimeout("no chunk within the read timeout")

    replay = Replay(lambda r: httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                              stream=Stalls()))
    _, _, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1 and (row.status, row.error_kind) == ("incomplete", "timeout")


def test_read_timeout_setting_reaches_the_client():
    for kind in ("anthropic", "openai"):
        provider = provider_for(kind, Replay(), read_timeout=7.0)
        assert provider._client.timeout.read == 7.0
        assert provider._client.max_retries == 0  # ours is the only retry loop


@BOTH
def test_in_stream_error_after_text(kind, settings):
    name = "anthropic_error_event.sse" if kind == "anthropic" else "openai_error_event.sse"
    replay = Replay(stream_response(sse(name)))
    call, _events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1
    assert call.text == "Partial answer"
    assert (row.status, row.attempts) == ("incomplete", 1)
    assert row.error_kind == ("overloaded" if kind == "anthropic" else "server")


def test_in_stream_error_before_text_is_retried(settings):
    replay = Replay(stream_response(sse("anthropic_error_first.sse")),
                    stream_response(sse("anthropic_success.sse")))
    _, _, row, _ = run("anthropic", replay, settings)
    assert replay.attempts == 2 and (row.status, row.attempts) == ("ok", 2)


@BOTH
def test_malformed_sse(kind, settings):
    replay = Replay(stream_response(sse(f"{kind}_malformed.sse")))
    _, events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1
    assert isinstance(events[-1], Error)
    assert (row.status, row.error_kind) == ("error", "invalid_response")


@BOTH
def test_stream_ending_without_stop_event(kind, settings):
    replay = Replay(stream_response(sse(f"{kind}_no_stop.sse")))
    call, _events, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1
    assert call.text == "Half a rep"
    assert (row.status, row.error_kind) == ("incomplete", "incomplete")


@BOTH
def test_stream_without_usage_is_estimated_and_flagged(kind, settings):
    replay = Replay(stream_response(sse(f"{kind}_no_usage.sse")))
    call, _, row, _ = run(kind, replay, settings)
    assert replay.attempts == 1 and row.status == "ok"
    assert row.usage_estimated
    counter = counter_for(CLAUDE if kind == "anthropic" else GPT, settings)
    assert row.input_tokens == counter.count_request(call.request)
    assert row.output_tokens == counter.count(call.text) > 0


def test_anthropic_exact_count_on_request():
    import json

    replay = Replay(lambda r: httpx2.Response(200, json={"input_tokens": 42}))
    provider = provider_for("anthropic", replay)
    request = ChatRequest(CLAUDE.id, (Message("user", REQUEST_TEXT),), system="Be brief.")
    assert provider.count_tokens(request) == 42
    sent = replay.requests[0]
    assert sent.url.path == "/v1/messages/count_tokens"
    assert json.loads(sent.content)["system"][0]["text"] == "Be brief."
