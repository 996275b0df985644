"""One contract, the same assertions, over every adapter behind the provider protocol: the
scripted fake, Anthropic and OpenAI (real SDKs over a fake transport), an OpenAI-compatible
server (llama.cpp's, on loopback) and the bundled local model (in process); and over every
way an adapter reads reasoning, the same shape of thinking events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import pytest
from fakes import (
    EVENT_STREAM,
    FakeProvider,
    Replay,
    error_response,
    fail,
    ok,
    scripted,
    sse,
    stream_response,
)

from lib import spend
from lib.core import ProviderError, load_settings
from lib.llm import (
    AnthropicProvider,
    CallContext,
    CallSpec,
    ChatRequest,
    LocalProvider,
    Message,
    ModelInfo,
    OpenAIProvider,
    Provider,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    Usage,
    bundled_model_path,
    get_provider,
    load_catalog,
)

OVERSIZED = "Repeat after me. " + "word " * 3000   # more than a 2,048-token window holds


@dataclass
class Subject:
    provider: Provider
    model: ModelInfo


def replayed(success: str, refusal: Callable) -> Replay:
    """A transport answering oversized requests with the provider's 400, others with SSE."""
    def respond(request: httpx2.Request) -> httpx2.Response:
        if OVERSIZED[:40].encode() in request.content:
            return refusal(request)
        return httpx2.Response(200, headers=EVENT_STREAM, content=sse(success))
    return Replay(respond)


def fake(_settings) -> Subject:
    class Contract(FakeProvider):
        def stream(self, request):
            if request.messages[-1].content.startswith(OVERSIZED[:40]):
                self.attempts = [fail(ProviderError("bad_request", "too long"))]
            else:
                self.attempts = [ok("Hello", " there")]
            self.requests.clear()
            return super().stream(request)

    return Subject(Contract([]), ModelInfo("fake", "local", "Fake", 2048, 256))


def anthropic(_settings) -> Subject:
    replay = replayed("anthropic_success.sse", error_response(
        400, "invalid_request_error", "prompt is too long: 3003 tokens > 2048 maximum"))
    return Subject(replay.anthropic(),
                   ModelInfo("claude-haiku-4-5", "anthropic", "Claude", 2048, 256, 1.0, 5.0))


def openai(_settings) -> Subject:
    replay = replayed("openai_success.sse", error_response(
        400, "invalid_request_error", "This model's maximum context length is 2048 tokens."))
    return Subject(replay.openai(),
                   ModelInfo("gpt-4o-mini", "openai", "GPT", 2048, 256, 0.15, 0.6))


def compat(settings) -> Subject:
    model = load_catalog(settings).get("compat/smollm2")
    return Subject(get_provider("compat", settings), model)


def local(_settings) -> Subject:
    if bundled_model_path() is None:
        pytest.skip("the bundled model is not installed")
    return Subject(LocalProvider(bundled_model_path(), 2048),
                   ModelInfo("smollm2", "local", "SmolLM2", 2048, 256))


ADAPTERS = {"fake": fake, "anthropic": anthropic, "openai": openai, "compat": compat,
            "local": local}
# What each backend can say about a request too large for it. llama.cpp's server answers 200
# and then an empty stream (the error happens inside its generator), so all we can honestly
# report is a stream that ended without a finish reason.
REFUSAL_KIND = {"compat": "incomplete"}


@pytest.fixture(params=list(ADAPTERS))
def subject(request, data_dir) -> tuple[Subject, object, str]:
    env = {"PROMPTLAB_DATA_DIR": str(data_dir)}
    if request.param == "compat":
        env |= {"PROMPTLAB_OPENAI_BASE_URL": request.getfixturevalue("llama_server"),
                "PROMPTLAB_OPENAI_MODELS": "smollm2", "PROMPTLAB_OPENAI_CONTEXT_WINDOW": "2048"}
    settings = load_settings(env)
    return ADAPTERS[request.param](settings), settings, request.param


def ask(model: ModelInfo, text: str = "Say hello in a few words.") -> ChatRequest:
    return ChatRequest(model.id, (Message("user", text),), system="Be brief.", temperature=0.0,
                       max_tokens=16)


def test_a_stream_is_text_then_usage_then_one_stop(subject):
    s, _, _ = subject
    events = list(s.provider.stream(ask(s.model)))
    assert all(isinstance(e, TextDelta | Usage | Stop) for e in events)
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert texts and "".join(t.text for t in texts).strip()
    assert isinstance(events[-1], Stop) and events[-1].reason
    assert sum(isinstance(e, Stop) for e in events) == 1
    first_text = events.index(texts[0])
    for usage in (e for e in events if isinstance(e, Usage)):
        assert usage.input_tokens >= 0 and usage.output_tokens >= 0
        assert events.index(usage) > first_text or usage.output_tokens == 0


def test_a_refused_request_raises_a_provider_error_and_nothing_else(subject):
    s, _, name = subject
    request = ChatRequest(s.model.id, (Message("user", OVERSIZED),), max_tokens=16)
    with pytest.raises(ProviderError) as info:
        list(s.provider.stream(request))
    assert info.value.kind == REFUSAL_KIND.get(name, "bad_request") and str(info.value)


def test_closing_a_stream_early_leaves_the_provider_usable(subject):
    s, _, _ = subject
    stream = s.provider.stream(ask(s.model, "Count from one to twenty."))
    assert any(isinstance(e, TextDelta) for e in stream)  # stops at the first text
    stream.close()
    again = list(s.provider.stream(ask(s.model)))
    assert isinstance(again[-1], Stop)


def test_through_the_call_layer_the_ledger_row_is_complete(subject):
    s, settings, _ = subject
    call = scripted(settings, s.provider).invoke(
        CallSpec(s.model, ask(s.model), CallContext("contract")))
    events = list(call)
    assert isinstance(events[-1], Stop)
    row = spend.get_call(settings.db, call.record.id)
    assert (row.status, row.attempts, row.page) == ("ok", 1, "contract")
    assert row.output_tokens > 0 and row.input_tokens > 0
    assert row.ttft_ms is not None and 0 <= row.ttft_ms <= row.total_ms
    assert row.cost_micro == s.model.cost_micro(row.input_tokens, row.output_tokens,
                                                row.cache_read_tokens, row.cache_write_tokens)


# Recorded streams with reasoning, one for each way an adapter reads it: Anthropic's thinking
# blocks, a compatible server's reasoning_content deltas, <think> tags in its text.
THINKING = {"anthropic": ("anthropic_thinking.sse", False),
            "reasoning_content": ("compat_reasoning_content.sse", True),
            "think tags": ("compat_think_tags.sse", True)}


@pytest.mark.parametrize("name", THINKING)
def test_thinking_streams_as_deltas_then_one_block_before_the_answer(name):
    fixture, compat = THINKING[name]
    replay = Replay(stream_response(sse(fixture)))
    provider: Provider = AnthropicProvider(
        "sk-ant-test", base_url="http://anthropic.test", http_client=replay.client()) \
        if name == "anthropic" else OpenAIProvider(
        None, base_url="http://compat.test/v1", compat=compat, http_client=replay.client())
    events = list(provider.stream(ChatRequest("thinker", (Message("user", "6 * 7?"),))))
    assert all(isinstance(e, TextDelta | ThinkingDelta | Thinking | ToolCall | Usage | Stop)
               for e in events)
    deltas = [i for i, e in enumerate(events) if isinstance(e, ThinkingDelta)]
    [block] = [i for i, e in enumerate(events) if isinstance(e, Thinking)]
    texts = [i for i, e in enumerate(events) if isinstance(e, TextDelta)]
    assert deltas and texts and max(deltas) < block < min(texts)
    assert events[block].text == "".join(events[i].text for i in deltas)
    assert events[block].model == "thinker"
    assert isinstance(events[-1], Stop) and sum(isinstance(e, Stop) for e in events) == 1
