"""Reasoning through the providers: the real anthropic and openai SDK clients over a fake
transport replaying recorded-format SSE. Thinking streams as deltas then whole blocks in the
order the model wrote them, is sent back unchanged in a tool-use turn (the model's own only),
reaches the payload, and its tokens reach the ledger row without being priced twice; the
request carries the reasoning setting as each API wants it."""

from __future__ import annotations

import json

import httpx2
import pytest
from fakes import (
    EVENT_STREAM,
    FakeProvider,
    Replay,
    cut_response,
    scripted,
    sse,
    sse_events,
    stream_response,
)

from lib import spend
from lib.agents import BUILTINS, AgentRun, RunFinished, ToolStarted
from lib.core import ProviderError
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Reasoning,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    ToolUse,
    Usage,
    shaped,
)

SONNET = ModelInfo("claude-sonnet-5-5", "anthropic", "Claude Sonnet 5.5", 1_000_000, 128_000,
                   input=2.0, output=10.0, temperature=False, thinking=("off", "adaptive"),
                   efforts=("low", "medium", "high", "xhigh", "max"))
GPT = ModelInfo("gpt-5-mini", "openai", "GPT-5 mini", 400_000, 128_000, input=0.25,
                output=2.0, temperature=False, efforts=("minimal", "low", "medium", "high"))
QWEN = ModelInfo("qwen3-8b", "compat", "Qwen3 8B", 32_768, 8192)
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=="


def body(replay: Replay, n: int = 0) -> dict:
    return json.loads(replay.requests[n].content)


def ask(model: ModelInfo, text: str = "What is 6 * 7?", **kw) -> ChatRequest:
    return ChatRequest(model.id, (Message("user", text),), **kw)


def sent_blocks(sse_name: str) -> list[dict]:
    """The content blocks a recorded Anthropic stream built, as the API would have them back:
    each block's start, its deltas joined (what the docs say a client must send unchanged)."""
    blocks: dict[int, dict] = {}
    for event in sse(sse_name).split(b"\n\n"):
        data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
        if not data:
            continue
        e = json.loads(data[0])
        if e["type"] == "content_block_start":
            blocks[e["index"]] = dict(e["content_block"])
        elif e["type"] == "content_block_delta":
            b, d = blocks[e["index"]], e["delta"]
            key = {"thinking_delta": "thinking", "signature_delta": "signature",
                   "text_delta": "text", "input_json_delta": "partial"}[d["type"]]
            b[key] = b.get(key, "") + d[{"partial": "partial_json"}.get(key, key)]
    for b in blocks.values():
        if b["type"] == "tool_use":
            b["input"] = json.loads(b.pop("partial") or "{}")
    return [blocks[i] for i in sorted(blocks)]


# -- Anthropic: the stream ----------------------------------------------------------------

def test_thinking_streams_then_comes_whole_with_its_signature_and_tokens(settings):
    replay = Replay(stream_response(sse("anthropic_thinking.sse")))
    call = scripted(settings, replay.anthropic()).call(
        CallSpec(SONNET, ask(SONNET, reasoning=Reasoning("adaptive", "high")),
                 CallContext("test")))
    events = list(call)
    thinking = [e for e in events if isinstance(e, ThinkingDelta | Thinking)]
    text = "The user wants 6 × 7.\nThat is \"42\"."
    assert thinking == [ThinkingDelta("The user wants 6 × 7.\n"), ThinkingDelta('That is "42".'),
                        Thinking(text, SIGNATURE, model="claude-sonnet-5-5")]
    assert events.index(thinking[-1]) < min(events.index(e) for e in events
                                            if isinstance(e, TextDelta))
    assert call.text == "6 × 7 = 42." and call.thinking == [thinking[-1]]
    row = spend.get_call(settings.db, call.record.id)
    assert (row.output_tokens, row.reasoning_tokens) == (120, 96)
    # Thinking is billed as output and already in output_tokens: priced once.
    assert row.cost_micro == 42 * 2 + 120 * 10
    assert row.ttft_ms is not None
    detail = spend.call_detail(settings.db, call.record.id)
    assert detail.reply["thinking"] == [{"type": "thinking", "text": text,
                                         "model": "claude-sonnet-5-5"}]
    assert detail.request["reasoning"] == {"mode": "adaptive", "effort": "high",
                                           "budget_tokens": None}


def test_a_stream_cut_after_thinking_began_is_kept_not_retried(settings):
    """Thinking is output the user has seen: a retry would show it twice, so the call ends
    incomplete, its output estimated from the thinking streamed."""
    head = b"".join(sse_events("anthropic_thinking.sse")[:3])  # start, block, first delta
    replay = Replay(cut_response(head), stream_response(sse("anthropic_thinking.sse")))
    call = scripted(settings, replay.anthropic()).call(
        CallSpec(SONNET, ask(SONNET), CallContext("test")))
    events = list(call)
    assert replay.attempts == 1
    assert [e for e in events if isinstance(e, ThinkingDelta)] == [
        ThinkingDelta("The user wants 6 × 7.\n")]
    assert events[-1].partial and call.text == "" and call.thinking == []
    row = spend.get_call(settings.db, call.record.id)
    assert (row.status, row.input_tokens, row.usage_estimated) == ("incomplete", 42, True)
    assert row.output_tokens > 0


def test_redacted_thinking_is_a_block_of_its_data_and_streams_no_text():
    replay = Replay(stream_response(sse("anthropic_redacted.sse")))
    events = list(replay.anthropic().stream(ask(SONNET)))
    [block] = [e for e in events if isinstance(e, Thinking)]
    assert block.redacted and block.text == "" and block.model == SONNET.id
    assert block.data == sent_blocks("anthropic_redacted.sse")[0]["data"]
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert events.index(block) < events.index(TextDelta("Done."))


def test_thinking_a_tool_call_thinking_and_text_come_in_the_order_written():
    replay = Replay(stream_response(sse("anthropic_interleaved.sse")))
    events = [e for e in replay.anthropic().stream(ask(SONNET))
              if not isinstance(e, Usage | Stop)]
    assert events == [ThinkingDelta("Look it up first."),
                      Thinking("Look it up first.", "sigA", model=SONNET.id),
                      ToolCall("toolu_01S", "search", {"query": "capital of Peru"},
                               '{"query": "capital of Peru"}'),
                      ThinkingDelta("Then answer."),
                      Thinking("Then answer.", "sigB", model=SONNET.id),
                      TextDelta("Searching.")]


# -- Anthropic: what is sent ---------------------------------------------------------------

def test_the_tool_result_turn_sends_the_thinking_back_as_it_came(settings):
    """An agent run: the second request's assistant turn is the first reply's content blocks,
    thinking text and signatures unchanged, in their places among the text and tool calls."""
    replay = Replay(stream_response(sse("anthropic_thinking_tools.sse")),
                    stream_response(sse("anthropic_thinking.sse")))
    run = AgentRun(scripted(settings, replay.anthropic()), CallSpec(
        SONNET, ask(SONNET, tools=tuple(t.spec for t in BUILTINS.values()),
                    reasoning=Reasoning("adaptive")), CallContext("chat")), BUILTINS,
        tool_context={"settings": settings, "kb": None})
    events = list(run)
    assert events[-1] == RunFinished("answered")
    thought = [e for e in events if isinstance(e, Thinking)]
    assert events.index(thought[0]) < events.index(next(e for e in events
                                                        if isinstance(e, ToolStarted)))
    second = body(replay, 1)
    assert second["messages"][1] == {"role": "assistant",
                                     "content": sent_blocks("anthropic_thinking_tools.sse")}
    assert [b["type"] for b in second["messages"][1]["content"]] == [
        "thinking", "text", "tool_use", "thinking", "tool_use"]
    assert [r["tool_use_id"] for r in second["messages"][2]["content"]] == [
        "toolu_01A", "toolu_01B"]
    # What the run adds to the conversation keeps the blocks too, for its next turn.
    assert run.messages[0].blocks == (
        Thinking("Two sums: 6 × 7, then 1 + 1.", "ErUBCkYIBxgCIkB0FirstSig+x/ZQ==",
                 model=SONNET.id),
        ToolUse("toolu_01A", "calculator", {"expression": "6 * 7"}),
        Thinking("Now the second sum.", "ErUBCkYIBxgCIkB0SecondSig/9==", model=SONNET.id),
        ToolUse("toolu_01B", "calculator", {"expression": "1 + 1"}))


def test_another_models_thinking_is_not_sent():
    history = (
        Message("user", "Hi"),
        Message("assistant", "Hello.", (Thinking("opus thought", "sig-o", model="claude-opus-5-5"),
                                         Thinking("", data="REDACTED", model="claude-opus-5-5"))),
        Message("user", "Again"),
        Message("assistant", "", (Thinking("mine", "sig-s", model=SONNET.id),
                                  Thinking("", data="SEALED", model=SONNET.id),
                                  ToolUse("t1", "calculator", {"expression": "1"}))),
        Message("user", "", (ToolResult("t1", "1"),)))
    replay = Replay(stream_response(sse("anthropic_thinking.sse")))
    list(replay.anthropic().stream(ChatRequest(SONNET.id, history)))
    messages = body(replay)["messages"]
    assert messages[1] == {"role": "assistant", "content": "Hello."}
    assert messages[3]["content"] == [
        {"type": "thinking", "thinking": "mine", "signature": "sig-s"},
        {"type": "redacted_thinking", "data": "SEALED"},
        {"type": "tool_use", "id": "t1", "name": "calculator", "input": {"expression": "1"}}]
    assert b"opus thought" not in replay.requests[0].content


@pytest.mark.parametrize(("model", "reasoning", "thinking", "effort"), [
    ("claude-opus-4-7", Reasoning("adaptive", "xhigh"),
     {"type": "adaptive", "display": "summarized"}, "xhigh"),
    ("claude-sonnet-4-5", Reasoning("on", budget_tokens=2048),
     {"type": "enabled", "budget_tokens": 2048}, None),
    ("claude-sonnet-4-5", Reasoning("on"), {"type": "enabled", "budget_tokens": 1024}, None),
    ("claude-sonnet-4-6", Reasoning("off"), {"type": "disabled"}, None),
    ("claude-sonnet-5-5", Reasoning("off", "low"), {"type": "between_tools"}, "low"),
])
def test_the_reasoning_setting_is_sent_as_the_api_takes_it(model, reasoning, thinking, effort):
    replay = Replay(stream_response(sse("anthropic_success.sse")))
    provider = replay.anthropic()
    request = ChatRequest(model, (Message("user", "hi"),), temperature=0.7, max_tokens=4096,
                          reasoning=reasoning, output_schema={"type": "object"})
    list(provider.stream(request))
    sent = body(replay)
    assert sent["thinking"] == thinking
    assert sent["output_config"] == {"format": {"type": "json_schema",
                                                "schema": {"type": "object"}},
                                     **({"effort": effort} if effort else {})}
    # With thinking on, only the default temperature is taken.
    assert ("temperature" in sent) == (reasoning.mode == "off")


def test_no_reasoning_setting_leaves_the_models_default_and_counting_sends_it():
    replay = Replay(stream_response(sse("anthropic_success.sse")))
    list(replay.anthropic().stream(ChatRequest("claude-sonnet-4-5", (Message("user", "hi"),))))
    sent = body(replay)
    assert "thinking" not in sent and "output_config" not in sent
    assert sent["temperature"] == 0.7
    counted = Replay(lambda r: httpx2.Response(200, json={"input_tokens": 7}))
    request = ChatRequest("claude-sonnet-4-5", (Message("user", "hi"),), max_tokens=4096,
                          reasoning=Reasoning("on", budget_tokens=2000))
    assert counted.anthropic().count_tokens(request) == 7
    assert body(counted)["thinking"] == {"type": "enabled", "budget_tokens": 2000}


def test_a_budget_the_output_cannot_hold_is_refused_before_sending():
    replay = Replay(stream_response(sse("anthropic_success.sse")))
    request = ChatRequest("claude-sonnet-4-5", (Message("user", "hi"),), max_tokens=1024,
                          reasoning=Reasoning("on"))
    with pytest.raises(ProviderError) as info:
        list(replay.anthropic().stream(request))
    assert info.value.kind == "bad_request" and "max tokens" in str(info.value)
    assert replay.attempts == 0


# -- OpenAI and compatible servers -----------------------------------------------------------

def test_openai_reasoning_tokens_reach_the_row_and_are_priced_as_output_once(settings):
    replay = Replay(stream_response(sse("openai_reasoning.sse")))
    call = scripted(settings, replay.openai()).call(
        CallSpec(GPT, ask(GPT, reasoning=Reasoning(effort="high")), CallContext("test")))
    events = list(call)
    assert isinstance(events[-1], Stop) and call.text == "42"
    assert call.usage == Usage(30, 200, reasoning_tokens=192)
    row = spend.get_call(settings.db, call.record.id)
    assert (row.input_tokens, row.output_tokens, row.reasoning_tokens) == (30, 200, 192)
    assert row.cost_micro == round(30 * 0.25 + 200 * 2.0)
    sent = body(replay)
    assert sent["reasoning_effort"] == "high" and "temperature" not in sent


@pytest.mark.parametrize(("reasoning", "effort"), [
    (Reasoning("off"), "minimal"),             # the seam: the lowest this model takes
    (Reasoning("adaptive", "medium"), "medium"),
    (Reasoning("adaptive", "xhigh"), None),    # not one of its levels: its default
    (Reasoning("adaptive"), None),
    (None, None),
])
def test_openai_effort_is_one_the_model_takes(settings, reasoning, effort):
    replay = Replay(stream_response(sse("openai_reasoning.sse")))
    list(scripted(settings, replay.openai()).call(
        CallSpec(GPT, ask(GPT, reasoning=reasoning), CallContext("test"))))
    assert body(replay).get("reasoning_effort") == effort


def test_reasoning_off_asks_openai_for_none_and_a_compatible_server_for_nothing():
    for compat, expected in ((False, "none"), (True, None)):
        replay = Replay(stream_response(sse("compat_reasoning_content.sse")))
        list(replay.openai(compat=compat).stream(ask(QWEN, reasoning=Reasoning("off"))))
        assert body(replay).get("reasoning_effort") == expected


def test_the_seam_fits_the_setting_to_the_model():
    never_off = ModelInfo("claude-opus-5-5", "anthropic", "Opus", 1_000_000, 128_000,
                          temperature=False, thinking=("adaptive",),
                          efforts=("low", "medium", "high"))
    manual = ModelInfo("claude-sonnet-4-5", "anthropic", "Sonnet 4.5", 200_000, 64_000,
                       thinking=("off", "on"))
    cases = [(never_off, Reasoning("off"), Reasoning("adaptive", "low")),
             (never_off, Reasoning("on", budget_tokens=9000), Reasoning("adaptive")),
             (manual, Reasoning("adaptive", "high", 5000), Reasoning("on", "high", 5000)),
             (manual, Reasoning("off", budget_tokens=5000), Reasoning("off")),
             (QWEN, Reasoning("adaptive", "high"), None)]  # takes no setting: none sent
    for model, asked, sent in cases:
        assert shaped(ask(model, reasoning=asked), model).reasoning == sent, (model.id, asked)


def test_compat_reasoning_content_is_thinking_and_is_never_sent_back():
    replay = Replay(stream_response(sse("compat_reasoning_content.sse")))
    events = [e for e in replay.openai(compat=True).stream(ask(QWEN))
              if not isinstance(e, Usage | Stop)]
    assert events == [ThinkingDelta("The user asks for"), ThinkingDelta(" 6 × 7."),
                      Thinking("The user asks for 6 × 7.", model=QWEN.id),
                      TextDelta("It is"), TextDelta(" 42.")]
    history = (Message("user", "What is 6 * 7?"),
               Message("assistant", "It is 42.", (events[2],)), Message("user", "Sure?"))
    list(replay.openai(compat=True).stream(ChatRequest(QWEN.id, history)))
    assert body(replay, 1)["messages"][1] == {"role": "assistant", "content": "It is 42."}
    assert b"asks for" not in replay.requests[1].content


def _chunks(*deltas: dict, finish: str = "stop") -> bytes:
    """A compatible server's SSE: one chunk per delta, then the finish and [DONE]."""
    def event(choice: dict) -> bytes:
        return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk",
                                       "model": "qwen3", "choices": [choice]}).encode() + b"\n\n"
    return (b"".join(event({"index": 0, "delta": d, "finish_reason": None}) for d in deltas)
            + event({"index": 0, "delta": {}, "finish_reason": finish}) + b"data: [DONE]\n\n")


THOUGHT = "<think>\nSix sevens.\n</think>\n\nIt is 42."


@pytest.mark.parametrize("cut", range(1, len(THOUGHT)))
def test_think_tags_cut_anywhere_come_out_as_thinking(cut):
    """Ollama and Qwen write the reasoning into the text: split out however it is chunked."""
    body_ = _chunks({"role": "assistant", "content": ""}, {"content": THOUGHT[:cut]},
                    {"content": THOUGHT[cut:]})
    replay = Replay(lambda r: httpx2.Response(200, headers=EVENT_STREAM, content=body_))
    events = list(replay.openai(compat=True).stream(ask(QWEN)))
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "\nSix sevens.\n"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 42."
    [block] = [e for e in events if isinstance(e, Thinking)]
    assert block == Thinking("\nSix sevens.\n", model=QWEN.id)
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert events.index(block) < first_text


def test_think_tags_are_left_alone_by_openai_itself():
    body_ = _chunks({"content": "<think>x</think>y"})
    replay = Replay(lambda r: httpx2.Response(200, headers=EVENT_STREAM, content=body_))
    events = list(replay.openai().stream(ask(GPT)))
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("<think>x</think>y")]


def test_a_reasoning_delta_before_tool_calls_ends_as_a_block_before_them():
    body_ = _chunks({"reasoning": "Use the tool."},
                    {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "calculator",
                                                  "arguments": '{"expression": "6*7"}'}}]},
                    finish="tool_calls")
    replay = Replay(lambda r: httpx2.Response(200, headers=EVENT_STREAM, content=body_))
    events = [e for e in replay.openai(compat=True).stream(ask(QWEN))
              if not isinstance(e, Usage | Stop)]
    assert events == [ThinkingDelta("Use the tool."), Thinking("Use the tool.", model=QWEN.id),
                      ToolCall("call_1", "calculator", {"expression": "6*7"},
                               '{"expression": "6*7"}')]


# -- The agent loop ---------------------------------------------------------------------------

def test_the_agent_loop_passes_thinking_through_and_keeps_it_in_the_history(settings):
    thought = Thinking("Use the calculator.", "sig", model="m")
    provider = FakeProvider([
        ([ThinkingDelta("Use the calculator."), thought,
          ToolCall("c0", "calculator", {"expression": "6 * 7"}, "{}"), Usage(10, 5),
          Stop("tool_use")], None),
        ([ThinkingDelta("It is 42."), Thinking("It is 42.", "sig2", model="m"),
          TextDelta("42"), Usage(10, 5), Stop("end_turn")], None)])
    model = ModelInfo("m", "openai", "M", 8000, 1000, input=1.0, output=2.0)
    run = AgentRun(scripted(settings, provider), CallSpec(
        model, ask(model, tools=tuple(t.spec for t in BUILTINS.values())), CallContext("chat")),
        BUILTINS, tool_context={"settings": settings, "kb": None})
    events = list(run)
    kinds = [type(e).__name__ for e in events]
    assert kinds[:4] == ["ThinkingDelta", "Thinking", "ToolCall", "ToolStarted"]
    assert "ThinkingDelta" in kinds[4:] and events[-1] == RunFinished("answered")
    assert provider.requests[1].messages[1].blocks == (
        thought, ToolUse("c0", "calculator", {"expression": "6 * 7"}))
    assert run.messages[-1] == Message("assistant", "42", (Thinking("It is 42.", "sig2",
                                                                    model="m"),))
