"""Tool calls through the real anthropic and openai SDK clients over a fake HTTP transport:
arguments split at awkward places and reassembled, parallel calls interleaved, a call then
text, cut streams, invalid JSON; each checks the events, HTTP attempts and the ledger row."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator

import httpx2
import pytest
from fakes import Replay, scripted
from test_adapters import CLAUDE, GPT, provider_for

from lib import spend
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Error,
    Message,
    RetryPolicy,
    Stop,
    ToolCall,
    ToolCallParts,
    ToolResult,
    ToolSpec,
    ToolUse,
    counter_for,
    stop_reason,
)

# The arguments as the model writes them: an escaped quote, a \u escape and raw multi-byte text.
RAW = '{"expression": "2 * (3 + 4)", "note": "caf\\u00e9 \\"quoted\\" é 日本"}'
ARGS = {"expression": "2 * (3 + 4)", "note": 'café "quoted" é 日本'}
# Cut inside a string, between a backslash and its quote, inside \u00e9, around the CJK text.
CUTS = [5, 17, 38, 41, 48, 50, 55, 60]
CALC = ToolSpec("calculator", "Evaluate arithmetic.", {
    "type": "object", "properties": {"expression": {"type": "string"}},
    "required": ["expression"]})


def fragments(raw: str, cuts: list[int]) -> list[str]:
    edges = [0, *[c for c in cuts if c < len(raw)], len(raw)]
    parts = [raw[a:b] for a, b in itertools.pairwise(edges)]
    assert "".join(parts) == raw
    return parts


class Trickle(httpx2.SyncByteStream):
    """The body three bytes at a time: UTF-8 characters split across network reads; optionally
    the connection drops after `upto` bytes."""

    def __init__(self, body: bytes, upto: int | None = None) -> None:
        self.body, self.upto = body, upto

    def __iter__(self) -> Iterator[bytes]:
        end = len(self.body) if self.upto is None else self.upto
        for i in range(0, end, 3):
            yield self.body[i:min(i + 3, end)]
        if self.upto is not None:
            raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


def respond(body: bytes, upto: int | None = None):
    return lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                           stream=Trickle(body, upto))


# -- recorded-format streams -------------------------------------------------------------

def anthropic_sse(blocks: list[tuple[str, object]], stop: str = "tool_use") -> bytes:
    """blocks: ("text", str) or ("tool", (id, name, [fragments]))."""
    events = [("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE.id,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 120, "output_tokens": 1}}})]
    for i, (kind, value) in enumerate(blocks):
        if kind == "text":
            events += [("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {"type": "text", "text": ""}}),
                       ("content_block_delta", {"type": "content_block_delta", "index": i,
                                                "delta": {"type": "text_delta", "text": value}})]
        else:
            cid, name, parts = value
            events.append(("content_block_start", {
                "type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": cid, "name": name, "input": {}}}))
            events += [("content_block_delta", {"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p}})
                       for p in parts]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events += [("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 42}}),
        ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                   for name, data in events).encode()


def openai_sse(deltas: list[dict], finish: str = "tool_calls") -> bytes:
    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": GPT.id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    chunks = [chunk({"role": "assistant", "content": None})] + [chunk(d) for d in deltas]
    chunks += [chunk({}, finish), {"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                    "model": GPT.id, "choices": [], "usage": {
                                        "prompt_tokens": 120, "completion_tokens": 42,
                                        "total_tokens": 162}}]
    return ("".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
            + "data: [DONE]\n\n").encode()


def call_delta(index: int, fragment: str, cid: str | None = None, name: str | None = None):
    part: dict = {"index": index, "function": {"arguments": fragment}}
    if cid:
        part.update(id=cid, type="function")
        part["function"]["name"] = name
    return {"tool_calls": [part]}


def run(kind: str, replay: Replay, settings, request: ChatRequest | None = None):
    model = CLAUDE if kind == "anthropic" else GPT
    request = request or ChatRequest(model.id, (Message("user", "What is 2 * (3 + 4)?"),),
                                     tools=(CALC,), max_tokens=100)
    calls = scripted(settings, provider_for(kind, replay), policy=RetryPolicy())
    call = calls.call(CallSpec(model, request, CallContext("test")))
    events = list(call)
    return call, events, spend.get_call(settings.db, call.record.id)


def calls_in(events) -> list[ToolCall]:
    return [e for e in events if isinstance(e, ToolCall)]


# -- tests ----------------------------------------------------------------------------------

def test_anthropic_call_split_awkwardly_then_text(settings):
    body = anthropic_sse([("text", "Let me work it out."),
                          ("tool", ("toolu_1", "calculator", fragments(RAW, CUTS))),
                          ("text", "Calling the calculator.")])
    replay = Replay(respond(body))
    _, events, row = run("anthropic", replay, settings)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["TextDelta", "ToolCall", "TextDelta", "Stop"]
    [tc] = calls_in(events)
    assert (tc.id, tc.name, tc.arguments, tc.raw, tc.invalid) == (
        "toolu_1", "calculator", ARGS, RAW, "")
    assert events[-1] == Stop("tool_use")
    assert replay.attempts == 1 and row.status == "ok" and row.output_tokens == 42


def test_openai_parallel_calls_interleaved(settings):
    first, second = fragments(RAW, CUTS), fragments('{"expression": "10 / 4"}', [3, 9, 20])
    deltas = [call_delta(0, first[0], "call_a", "calculator"),
              call_delta(1, second[0], "call_b", "calculator")]
    for i in range(1, max(len(first), len(second))):  # fragments of both, alternating
        deltas += [call_delta(0, first[i])] if i < len(first) else []
        deltas += [call_delta(1, second[i])] if i < len(second) else []
    replay = Replay(respond(openai_sse(deltas)))
    _, events, row = run("openai", replay, settings)
    assert [(c.id, c.arguments) for c in calls_in(events)] == [
        ("call_a", ARGS), ("call_b", {"expression": "10 / 4"})]
    assert events[-1] == Stop("tool_use")
    assert replay.attempts == 1 and row.status == "ok"


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_invalid_json_arguments_are_flagged_not_raised(kind, settings):
    raw = '{"expression": "1 +'  # the model stopped writing mid-string
    body = (anthropic_sse([("tool", ("toolu_9", "calculator", [raw[:6], raw[6:]]))])
            if kind == "anthropic" else
            openai_sse([call_delta(0, raw[:6], "call_9", "calculator"), call_delta(0, raw[6:])]))
    _, events, row = run(kind, Replay(respond(body)), settings)
    [tc] = calls_in(events)
    assert tc.arguments == {} and tc.raw == raw and "not valid JSON" in tc.invalid
    assert isinstance(events[-1], Stop) and row.status == "ok"


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_unknown_tool_name_comes_through_for_the_loop_to_answer(kind, settings):
    body = (anthropic_sse([("tool", ("toolu_2", "launch_rockets", ['{}']))])
            if kind == "anthropic" else
            openai_sse([call_delta(0, "{}", "call_2", "launch_rockets")]))
    _, events, _ = run(kind, Replay(respond(body)), settings)
    assert [c.name for c in calls_in(events)] == ["launch_rockets"]


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_stream_cut_inside_a_call_runs_nothing_and_keeps_the_turn(kind, settings):
    parts = fragments(RAW, CUTS)
    body = (anthropic_sse([("text", "Let me work it out."),
                           ("tool", ("toolu_1", "calculator", parts))])
            if kind == "anthropic" else
            openai_sse([{"content": "Let me work it out."},
                        call_delta(0, parts[0], "call_a", "calculator")]
                       + [call_delta(0, p) for p in parts[1:]]))
    marker = b"input_json_delta" if kind == "anthropic" else b'"arguments"'
    starts = [m.start() for m in re.finditer(re.escape(marker), body)]
    cut = starts[3] + 30  # inside the fourth fragment of the arguments
    replay = Replay(respond(body, upto=cut))
    _, events, row = run(kind, replay, settings)
    assert not calls_in(events)
    assert [type(e).__name__ for e in events] == ["TextDelta", "Error"]
    assert events[-1].partial and events[-1].error.kind in ("connection", "incomplete")
    assert replay.attempts == 1 and row.status == "incomplete"


def test_a_stream_that_yielded_a_call_is_not_retried(settings):
    body = anthropic_sse([("tool", ("toolu_1", "calculator", fragments(RAW, CUTS)))])
    cut = body.index(b"message_delta")  # the call is complete, the message is not
    replay = Replay(respond(body, upto=cut), respond(body))
    _, events, row = run("anthropic", replay, settings)
    assert len(calls_in(events)) == 1 and isinstance(events[-1], Error)
    assert events[-1].partial and replay.attempts == 1 and row.status == "incomplete"


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_history_with_calls_and_results_and_tool_choice_reach_the_api(kind, settings):
    model = CLAUDE if kind == "anthropic" else GPT
    history = (Message("user", "What is 2 * (3 + 4)?"),
               Message("assistant", "Let me check.", (ToolUse("t1", "calculator", ARGS),)),
               Message("user", "", (ToolResult("t1", "14"),)))
    request = ChatRequest(model.id, history, tools=(CALC,), tool_choice="calculator",
                          max_tokens=100)
    body = (anthropic_sse([("text", "It is 14.")], stop="end_turn") if kind == "anthropic"
            else openai_sse([{"content": "It is 14."}], finish="stop"))
    replay = Replay(respond(body))
    _, events, _ = run(kind, replay, settings, request)
    assert events[-1] == Stop("end_turn")
    sent = json.loads(replay.requests[0].content)
    if kind == "anthropic":
        assert sent["tools"] == [{"name": "calculator", "description": "Evaluate arithmetic.",
                                  "input_schema": CALC.parameters}]
        assert sent["tool_choice"] == {"type": "tool", "name": "calculator"}
        assert sent["messages"][1]["content"] == [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "calculator", "input": ARGS}]
        assert sent["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": "t1", "content": "14", "is_error": False}]
    else:
        assert sent["tools"][0]["function"]["parameters"] == CALC.parameters
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "calculator"}}
        assert sent["messages"][1]["tool_calls"][0]["function"] == {
            "name": "calculator", "arguments": json.dumps(ARGS)}
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": "t1", "content": "14"}


def test_tool_definitions_and_calls_are_counted(settings):
    counter = counter_for(GPT, settings)
    plain = ChatRequest(GPT.id, (Message("user", "hi"),))
    with_tools = ChatRequest(GPT.id, (Message("user", "hi"),
                                      Message("assistant", "", (ToolUse("t1", "calculator",
                                                                        ARGS),)),
                                      Message("user", "", (ToolResult("t1", "14" * 50),))),
                             tools=(CALC,))
    assert counter.count_request(with_tools) > counter.count_request(plain) + 60


def test_stop_reasons_share_one_vocabulary():
    assert [stop_reason(r) for r in ("stop", "length", "tool_calls", "content_filter",
                                     "end_turn", "stop_sequence", "refusal", None)] == [
        "end_turn", "max_tokens", "tool_use", "refusal", "end_turn", "stop_sequence",
        "refusal", "end_turn"]


def test_a_megabyte_of_one_byte_fragments_reassembles():
    raw = json.dumps({"text": "x" * 1_000_000})
    parts = ToolCallParts()
    parts.add(0, id="c", name="echo")
    for ch in raw:
        parts.add(0, fragment=ch)
    [tc] = [parts.finish(0)]
    assert len(tc.arguments["text"]) == 1_000_000 and not tc.invalid
