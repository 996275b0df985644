"""Every call's request and reply, stored beside its ledger row (SQLite and PostgreSQL): exact,
bounded in size with a mark, in the row's own transaction, and visible only to its owner."""

from __future__ import annotations

import json

import pytest
from fakes import FakeProvider, fail, ok, scripted

from lib import spend
from lib.core import ProviderError, StorageError, now_iso
from lib.llm import (
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Stop,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
    ToolUse,
    Usage,
)

pytestmark = pytest.mark.usefixtures("backend")

MODEL = ModelInfo("m1", "openai", "Model One", 1000, 100, input=2.0, output=8.0)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}},
          "required": ["answer"]}
TOOL = ToolSpec("calculator", "Arithmetic.", {"type": "object", "properties": {
    "expression": {"type": "string"}}, "required": ["expression"]})


def run(settings, request: ChatRequest, attempts, user: str | None = None) -> Call:
    # Asked as built (a builder, as a chat's context plan is), not fitted to MODEL's window:
    # what is stored must be exactly the request written here, however large or odd.
    call = scripted(settings, FakeProvider(attempts)).call(
        CallSpec(MODEL, lambda model, counter: request, CallContext("test", user=user)))
    list(call)
    return call


def test_the_exact_request_and_raw_reply_are_stored(settings):
    request = ChatRequest(
        "m1", (Message("user", "What is 6*7?"),
               Message("assistant", "", (ToolUse("t1", "calculator", {"expression": "6*7"}),)),
               Message("user", "", (ToolResult("t1", "42"),))),
        system="Be brief.", temperature=0.2, max_tokens=64, tools=(TOOL,),
        tool_choice="required", output_schema=SCHEMA, schema_name="answer")
    tool_call = ToolCall("t2", "calculator", {"expression": "1+1"}, '{"expression": "1+1"}')
    call = run(settings, request, [([TextDelta("The answer"), tool_call, Usage(30, 7),
                                      Stop("tool_use")], None)])
    detail = spend.call_detail(settings.db, call.record.id)
    assert detail is not None and detail.record.id == call.record.id
    assert detail.truncated is False
    assert detail.request == {
        "model": "m1", "system": "Be brief.", "temperature": 0.2, "max_tokens": 64,
        "cache_system": False, "tool_choice": "required", "output_schema": SCHEMA,
        "schema_name": "answer",
        "tools": [{"name": "calculator", "description": "Arithmetic.",
                   "parameters": TOOL.parameters}],
        "messages": [
            {"role": "user", "content": "What is 6*7?"},
            {"role": "assistant", "content": "", "blocks": [
                {"type": "tool_use", "id": "t1", "name": "calculator",
                 "arguments": {"expression": "6*7"}}]},
            {"role": "user", "content": "", "blocks": [
                {"type": "tool_result", "call_id": "t1", "content": "42", "is_error": False}]}]}
    assert detail.reply == {"text": "The answer", "stop_reason": "tool_use", "tool_calls": [
        {"id": "t2", "name": "calculator", "arguments": {"expression": "1+1"},
         "raw": '{"expression": "1+1"}'}]}
    assert (detail.record.input_tokens, detail.record.output_tokens) == (30, 7)


def test_a_failed_call_keeps_its_request_and_partial_reply(settings):
    request = ChatRequest("m1", (Message("user", "hi"),))
    call = run(settings, request, [fail(ProviderError("connection", "cut"), "Half")])
    detail = spend.call_detail(settings.db, call.record.id)
    assert detail.record.status == "incomplete" and detail.record.error_kind == "connection"
    assert detail.request["messages"] == [{"role": "user", "content": "hi"}]
    assert detail.reply == {"text": "Half", "tool_calls": [], "stop_reason": None}


def _deep(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


# Hostile or merely large payloads: each is stored within the bound, marked, and never costs
# the ledger row.
BIG = {
    "one long message": lambda: ChatRequest("m1", (Message("user", "x" * 900_000),)),
    "a long system prompt": lambda: ChatRequest("m1", (Message("user", "hi"),),
                                                system="documents " * 60_000),
    "100,000 tiny messages": lambda: ChatRequest(
        "m1", tuple(Message("user", str(i)) for i in range(100_000))),
    "tool arguments nested 5,000 deep": lambda: ChatRequest("m1", (Message(
        "assistant", "", (ToolUse("t", "f", _deep(5_000)),)),)),
    "a schema with 50,000 properties": lambda: ChatRequest(
        "m1", (Message("user", "hi"),), output_schema={
            "type": "object", "properties": {f"p{i}": {"type": "string"}
                                             for i in range(50_000)}}),
}


@pytest.mark.parametrize("build", list(BIG.values()), ids=list(BIG))
def test_a_large_payload_is_cut_to_fit_and_marked(settings, build):
    call = run(settings, build(), [ok("fine")])
    with_ = spend.call_detail(settings.db, call.record.id)
    assert with_.record.status == "ok" and with_.truncated is True
    stored = len(json.dumps(with_.request, ensure_ascii=False)) + len(
        json.dumps(with_.reply, ensure_ascii=False))
    assert stored <= spend.PAYLOAD_CHARS * 1.01  # ensure_ascii=False: as stored
    assert with_.reply["text"] == "fine"  # a short reply survives a long request's cuts
    assert "cut" in json.dumps(with_.request)


def test_odd_values_are_stored_readably(settings):
    request = ChatRequest("m1", (Message("user", "half \ud83d a pair, nul \x00, 🙂"),),
                          temperature=float("inf"))
    call = run(settings, request, [ok("ok \udfff")])
    detail = spend.call_detail(settings.db, call.record.id)
    assert detail.request["messages"][0]["content"] == "half \ufffd a pair, nul \x00, 🙂"
    assert detail.request["temperature"] == "inf"
    assert detail.reply["text"] == "ok \ufffd"
    assert detail.truncated is False


def test_the_payload_is_written_in_the_rows_transaction(settings, monkeypatch):
    """A payload that cannot be written takes its row with it: never one without the other."""
    from lib.spend import ledger

    monkeypatch.setattr(ledger, "bounded", lambda payload: (None, None, 0))  # NOT NULL fails
    before = spend.count_calls(settings.db)
    record = spend.CallRecord(ts=now_iso(), page="test", provider="local", model="m",
                              attempts=1, status="ok", total_ms=1.0)
    with pytest.raises(StorageError):
        spend.record(settings.db, record, payload={"request": {}, "reply": {}})
    assert spend.count_calls(settings.db) == before


def test_a_call_is_visible_only_to_its_owner(settings):
    request = ChatRequest("m1", (Message("user", "alice's secret"),))
    alices = run(settings, request, [ok("yes")], user="alice@example.com").record.id
    nobodys = run(settings, request, [ok("yes")]).record.id
    db = settings.db
    assert spend.call_detail(db, alices, user="alice@example.com").reply["text"] == "yes"
    assert spend.call_detail(db, alices, user="bob@example.com") is None
    assert spend.call_detail(db, alices + 1000, user="bob@example.com") is None
    assert spend.call_detail(db, nobodys, user="bob@example.com") is None  # no owner
    assert spend.call_detail(db, alices).record.user_id == "alice@example.com"  # no sign-in


def test_a_row_without_a_payload_reads_as_not_stored(settings):
    db = settings.db
    record = spend.CallRecord(ts=now_iso(), page="compare", provider="openai", model="m",
                              attempts=1, status="ok", total_ms=1.0)
    call_id = spend.record(db, record)  # as a batch result is recorded
    detail = spend.call_detail(db, call_id)
    assert (detail.request, detail.reply, detail.truncated) == (None, None, False)
