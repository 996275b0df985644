"""Thinking in Chat: it streams apart from the answer, is kept with the reply in the order the
model wrote it among its tool calls, goes back unchanged in tool-use turns, is exported and
traced; the Reasoning setting reaches the request as the model takes it, its budget is
reserved in the context plan, and reasoning tokens are kept with what they cost."""

from __future__ import annotations

import json
from itertools import count

import pytest
from fakes import FakeProvider, chat_turn, ok, scripted

from lib import chat
from lib.agents import BUILTINS, Step, StepFinished
from lib.chat import Finished, Text, Thought, ThoughtDone, Thoughts, TurnOptions, turn_events
from lib.core import ContextOverflowError
from lib.llm import (
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
    default_mode,
    estimate_counter,
    thinking_budget,
)
from lib.spend import CallRecord

THINKER = ModelInfo("thinker-1", "openai", "Thinker", 200_000, 16_000, input=3.0, output=15.0,
                    thinking=("off", "on", "adaptive"), efforts=("low", "medium", "high"))
MANUAL = ModelInfo("manual-1", "openai", "Manual", 200_000, 16_000, thinking=("off", "on"))
PLAIN = ModelInfo("plain-1", "openai", "Plain", 200_000, 16_000, input=1.0, output=2.0)
CALC = (BUILTINS["calculator"],)
SIGNED = Thinking("Six sevens.", signature="sig-1==", model="thinker-1")
SECRET = Thinking("", data="ENCRYPTED-blob", model="thinker-1")


def thinking(*pieces: str, signature: str = "sig", model: str = "") -> list:
    """A thinking block as a provider streams it: its deltas, then the whole block."""
    return [*(ThinkingDelta(p) for p in pieces),
            Thinking("".join(pieces), signature=signature, model=model)]


def ticks(step: float = 1.0):
    """A clock that moves `step` seconds each time it is read."""
    n = count()
    return lambda: next(n) * step


# -- the turn's events -----------------------------------------------------------------------

def test_thinking_is_its_own_event_apart_from_the_answer():
    events = list(turn_events([ThinkingDelta("Let me "), ThinkingDelta("see."), SIGNED, SECRET,
                               TextDelta("42.")]))
    assert events == [Thought("Let me "), Thought("see."), ThoughtDone(False), ThoughtDone(True),
                      Text("42."), Finished(None)]


def test_blocks_are_kept_in_order_among_each_steps_tool_calls():
    """Interleaved thinking: before a call, between two calls, after the results (the next
    step); each block with how long it streamed, the model filled in where none was named."""
    seen = Thoughts(clock=ticks())
    record = CallRecord("now", "chat", "openai", "thinker-1", 1, "ok", 1.0)
    run = [*thinking("a", "b"), ToolCall("c1", "calculator", {}, "{}"),
           *thinking("c", model="other-model"), ToolCall("c2", "calculator", {}, "{}"),
           StepFinished(Step(1, record)), SECRET, TextDelta("Done."),
           StepFinished(Step(2, record))]
    assert list(seen.watch(run)) == run
    first = seen.blocks("thinker-1", 1)
    assert [(b["text"], b["at"], b["model"]) for b in first] == [
        ("ab", 0, "thinker-1"), ("c", 1, "other-model")]
    assert first[0]["ms"] == 2000 and first[0]["signature"] == "sig"  # first delta to block
    [redacted] = seen.blocks("thinker-1", 2)
    assert (redacted["data"], redacted["text"], redacted["at"]) == ("ENCRYPTED-blob", "", 0)
    assert seen.ms == 3000  # from the first piece of thinking to the last


def test_a_repair_drops_the_failed_attempts_thinking():
    from lib.llm import Repair

    seen = Thoughts(clock=ticks())
    list(seen.watch([*thinking("wrong"), TextDelta("{}"), Repair(1, ("bad",)),
                     *thinking("right")]))
    assert [b["text"] for b in seen.blocks("m")] == ["right"]


# -- stored and sent again -------------------------------------------------------------------

def stored_run(signature: str = "sig-1==", model: str = "thinker-1") -> dict:
    """A reply's meta as a run with interleaved thinking stores it."""
    call = {"id": "c1", "name": "calculator", "arguments": {"expression": "6 * 7"},
            "result": "42", "is_error": False, "ms": 3.0}
    return {"model": "openai/thinker-1", "run_id": "r1", "run_end": "answered",
            "reasoning_tokens": 90, "reasoning_micro": 1350, "steps": [
                {"number": 1, "text": "Let me compute.", "reasoning_tokens": 60,
                 "thinking": [{"text": "Use the tool.", "signature": signature, "data": "",
                               "model": model, "at": 0, "ms": 1500.0},
                              {"text": "", "signature": "", "data": "ENCRYPTED-blob",
                               "model": model, "at": 1, "ms": 0.0}],
                 "calls": [call, {**call, "id": "c2", "result": "43"}]},
                {"number": 2, "text": "It is 42.", "reasoning_tokens": 30, "calls": [],
                 "thinking": [{"text": "The tool said 42.", "signature": "sig-2", "data": "",
                               "model": model, "at": 0, "ms": 800.0}]}]}


def test_a_runs_thinking_goes_back_unchanged_in_the_order_it_was_written(settings):
    """The next turn sends each step's thinking before the call it came before, byte for byte
    (signature, redacted data, and the model that wrote it: the provider drops another
    model's), then the results."""
    conv = chat.create_conversation(settings.db)
    chat.add_message(settings.db, conv, "user", "What is 6 * 7?")
    chat.add_message(settings.db, conv, "assistant", "It is 42.", meta=stored_run(
        model="claude-other"))
    provider = FakeProvider([ok("Sure.")])
    list(chat_turn(settings, conv, THINKER, "Thanks!", TurnOptions(tools=CALC),
                   calls=scripted(settings, provider)))
    sent = provider.requests[0].messages
    assert [m.role for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1].content == "Let me compute."
    assert sent[1].blocks == (
        Thinking("Use the tool.", "sig-1==", model="claude-other"),
        ToolUse("c1", "calculator", {"expression": "6 * 7"}),
        Thinking("", data="ENCRYPTED-blob", model="claude-other"),
        ToolUse("c2", "calculator", {"expression": "6 * 7"}))
    assert sent[2].blocks == (ToolResult("c1", "42"), ToolResult("c2", "43"))
    assert sent[3] == Message("assistant", "It is 42.")  # the answer's own thinking stays


def test_a_plain_replys_thinking_is_not_sent_again(settings):
    conv = chat.create_conversation(settings.db)
    chat.add_message(settings.db, conv, "user", "Hi")
    chat.add_message(settings.db, conv, "assistant", "Hello.", meta={
        "thinking": [{"text": "Greet back.", "signature": "s", "data": "", "model": "x"}]})
    provider = FakeProvider([ok("Fine.")])
    list(chat_turn(settings, conv, THINKER, "How are you?", calls=scripted(settings,
                                                                            provider)))
    assert [(m.content, m.blocks) for m in provider.requests[0].messages] == [
        ("Hi", ()), ("Hello.", ()), ("How are you?", ())]


def test_exports_keep_the_thinking_in_order(settings):
    conv = chat.create_conversation(settings.db)
    chat.add_message(settings.db, conv, "user", "What is 6 * 7?")
    chat.add_message(settings.db, conv, "assistant", "It is 42.", meta=stored_run())
    chat.add_message(settings.db, conv, "user", "And a word?")
    chat.add_message(settings.db, conv, "assistant", "Yes.", meta={
        "thinking": [{"text": "A short one.", "signature": "s", "data": "", "model": "x"}],
        "thinking_ms": 12_300.0, "reasoning_tokens": 1840})
    text = chat.export_markdown(settings.db, conv)
    # A step that thought twice leaves its tokens to the run's total; once, it says them.
    order = ["<summary>Thought for 2 s</summary>", "Use the tool.", "Let me compute.",
             "**Tool call** `calculator`", "*result:*",
             "<summary>Thought for under 1 s</summary>", "*Redacted by the provider.*", "43",
             "<summary>Thought for 1 s · 30 tokens</summary>", "The tool said 42.", "It is 42.",
             "<summary>Thought for 12 s · 1,840 tokens</summary>", "A short one.", "Yes."]
    # Each piece after the one before it (a bare "43" also turns up in the export's start
    # time, one minute in sixty).
    at = 0
    for piece in order:
        found = text.find(piece, at)
        assert found >= 0, f"{piece!r} is missing or out of order in:\n{text}"
        at = found + len(piece)
    assert text.count("<details>") == text.count("</details>") == 4
    exported = json.loads(chat.export_json(settings.db, conv))
    step = exported["messages"][1]["meta"]["steps"][0]
    assert step["thinking"][0]["signature"] == "sig-1==" and \
        step["thinking"][1]["data"] == "ENCRYPTED-blob"


def saved_run(db) -> int:
    """A conversation whose reply is `stored_run()`, its steps' calls in the ledger (run r1)."""
    from lib import spend

    conv = chat.create_conversation(db)
    meta = stored_run()
    for number in (1, 2):
        meta["steps"][number - 1]["call_id"] = spend.record(db, CallRecord(
            "2026-12-06T10:00:00", "chat", "openai", "thinker-1", 1, "ok", 10.0,
            conversation_id=conv, run_id="r1", step=number))
    chat.add_message(db, conv, "user", "What is 6 * 7?")
    chat.add_message(db, conv, "assistant", "It is 42.", meta=meta)
    return conv


def test_a_runs_trace_keeps_its_thinking(settings):
    saved_run(settings.db)
    trace = chat.run_trace(settings.db, "r1")
    kinds = [[(k, p if k == "text" else None) for k, p in s.parts()] for s in trace.steps]
    assert kinds == [[("thinking", None), ("text", "Let me compute."), ("call", None),
                      ("thinking", None), ("call", None)],
                     [("thinking", None), ("text", "It is 42.")]]


# -- the Reasoning setting -------------------------------------------------------------------

def test_a_model_is_offered_its_own_mode_first_and_reserves_a_budget_only_for_on():
    assert [default_mode(m) for m in (THINKER, MANUAL, PLAIN)] == ["adaptive", "off",
                                                                   "adaptive"]
    on = Reasoning("on", "high", 4096)
    assert thinking_budget(THINKER, on) == thinking_budget(MANUAL, on) == 4096
    assert thinking_budget(PLAIN, on) == 0  # it is not sent that way: nothing to reserve
    assert thinking_budget(THINKER, Reasoning("adaptive", budget_tokens=4096)) == 0
    assert thinking_budget(THINKER, None) == 0


@pytest.mark.parametrize("model,reserved", [(THINKER, 2048), (MANUAL, 2048), (PLAIN, 0)])
def test_the_setting_reaches_the_request_and_its_budget_is_reserved(settings, model,
                                                                    reserved):
    provider = FakeProvider([ok("Hi.")])
    options = TurnOptions(max_tokens=1000, reasoning=Reasoning("on", "high", 2048))
    turn = chat_turn(settings, None, model, "Hello?", options,
                     calls=scripted(settings, provider))
    list(turn)
    if model is THINKER:  # it takes all of it (the seam fits it to any other model)
        assert provider.requests[0].reasoning == Reasoning("on", "high", 2048)
    [_, reply] = chat.list_messages(settings.db, turn.conversation_id)
    assert reply.meta["anatomy"]["reserved thinking"] == reserved
    assert reply.meta["anatomy"]["reserved output"] == 1000


def test_the_plan_reserves_the_thinking_budget_beside_the_output():
    counter = estimate_counter(THINKER, None)
    small = ModelInfo("s", "openai", "Small", 3000, 2000, thinking=("on",))
    history = [Message("user", "word " * 50), Message("assistant", "word " * 50)]
    plain = chat.plan_context(counter, small, "", history, "hi", 1000)
    budgeted = chat.plan_context(counter, small, "", history, "hi", 1000, thinking=1000)
    assert plain.reserved_thinking == 0 and budgeted.reserved_thinking == 1000
    assert budgeted.used == budgeted.input_tokens + 2000
    assert sum(budgeted.bands().values()) == budgeted.used
    assert budgeted.dropped >= plain.dropped
    with pytest.raises(ContextOverflowError, match="and its thinking"):
        chat.plan_context(counter, small, "", [], "hi", 1000, thinking=2000)


def test_reasoning_tokens_are_kept_with_what_they_cost(settings):
    """Reasoning is billed as output: the reply keeps its tokens and their price."""
    provider = FakeProvider([ok("42.", usage=Usage(20, 500, reasoning_tokens=460))])
    turn = chat_turn(settings, None, THINKER, "Think hard.",
                     calls=scripted(settings, provider))
    list(turn)
    reply = chat.list_messages(settings.db, turn.conversation_id)[-1]
    assert reply.meta["reasoning_tokens"] == 460
    assert reply.meta["reasoning_micro"] == THINKER.cost_micro(0, 460) == 6900
    assert reply.meta["cost_micro"] == THINKER.cost_micro(20, 500)  # counted once, as output


# -- through the call (these wait on the provider half: the call passing thinking on) ---------

def test_a_reply_streams_its_thinking_apart_and_keeps_it(settings):
    provider = FakeProvider([([*thinking("Six ", "sevens.", signature="sig-1=="),
                               TextDelta("It is "), TextDelta("42."),
                               Usage(20, 60, reasoning_tokens=40), Stop("end_turn")], None)])
    turn = chat_turn(settings, None, THINKER, "What is 6 * 7?",
                     calls=scripted(settings, provider))
    events = list(turn)
    assert [e for e in events if isinstance(e, Thought | ThoughtDone | Text)] == [
        Thought("Six "), Thought("sevens."), ThoughtDone(False), Text("It is "), Text("42.")]
    reply = chat.list_messages(settings.db, turn.conversation_id)[-1]
    assert reply.content == "It is 42."  # the thinking is not the answer
    [block] = reply.meta["thinking"]
    assert (block["text"], block["signature"], block["model"]) == (
        "Six sevens.", "sig-1==", "thinker-1")  # the answering model where none was named
    assert reply.meta["reasoning_tokens"] == 40 and reply.meta["thinking_ms"] >= 0


def test_a_tool_runs_interleaved_thinking_is_stored_and_sent_back(settings):
    """Thinking, a tool call, then (after the result) thinking and the answer: each step
    keeps its own thinking, and a run that goes on sends the first step's back unchanged."""
    provider = FakeProvider([
        ([*thinking("Use the tool.", signature="sig-1==", model="thinker-1"),
          ToolCall("c1", "calculator", {"expression": "6 * 7"}, "{}"),
          Usage(50, 10, reasoning_tokens=6), Stop("tool_use")], None),
        ([SECRET, TextDelta("It is 42."), Usage(60, 5, reasoning_tokens=3), Stop("end_turn")],
         None)])
    turn = chat_turn(settings, None, THINKER, "What is 6 * 7?", TurnOptions(tools=CALC),
                     calls=scripted(settings, provider))
    list(turn)
    reply = chat.list_messages(settings.db, turn.conversation_id)[-1]
    first, second = reply.meta["steps"]
    assert [(b["text"], b["signature"], b["at"]) for b in first["thinking"]] == [
        ("Use the tool.", "sig-1==", 0)]
    assert [b["data"] for b in second["thinking"]] == ["ENCRYPTED-blob"]
    assert (first["reasoning_tokens"], second["reasoning_tokens"]) == (6, 3)
    assert reply.meta["reasoning_tokens"] == 9
    assert reply.meta["reasoning_micro"] == THINKER.cost_micro(0, 9)
    # Within the run, the second step was sent the first step's thinking before its call.
    assert provider.requests[1].messages[1].blocks == (
        Thinking("Use the tool.", "sig-1==", model="thinker-1"),
        ToolUse("c1", "calculator", {"expression": "6 * 7"}))

