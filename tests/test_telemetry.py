"""Traces (lib.telemetry): a span per model call with the GenAI conventions' attributes, an
agent run as the parent of its calls and tool calls (tool calls run in other threads), errors
as error spans, message text only when allowed, and nothing at all when no endpoint is set.
Spans go to the SDK's in-memory exporter, and over OTLP/HTTP to a real receiver on loopback
(tests/otlpreceiver.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fakes import FakeProvider, fail, ok, scripted
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from otlpreceiver import OtlpReceiver, attributes

from lib import telemetry
from lib.agents import BUILTINS, AgentRun, RunFinished
from lib.core import ROOT, ProviderError
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Stop,
    ToolCall,
    Usage,
)

PAID = ModelInfo("m", "openai", "Paid model", 8000, 1000, input=1.0, output=2.0)
SECRET = "zebra-question"        # what the user asks: never in a span unless allowed
ANSWER = "It is 42, zebra-answer."


@contextmanager
def memory(content: bool = False) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with telemetry.tracing(provider, content=content):
        yield exporter
    provider.shutdown()


def tool_calls(*calls: tuple[str, str, dict]) -> tuple[list, None]:
    """One attempt that calls tools (id, name, arguments)."""
    return [*(ToolCall(i, n, a, json.dumps(a)) for i, n, a in calls), Usage(100, 20),
            Stop("tool_use")], None


def agent(settings, attempts) -> tuple[AgentRun, list]:
    request = ChatRequest(PAID.id, (Message("user", f"What is 6 * 7? {SECRET}"),),
                          system="Be brief.", tools=tuple(t.spec for t in BUILTINS.values()))
    run = AgentRun(scripted(settings, FakeProvider(attempts)),
                   CallSpec(PAID, request, CallContext("chat")), BUILTINS,
                   tool_context={"settings": settings, "kb": None})
    return run, list(run)


def by_name(spans) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in spans:
        out.setdefault(s.name, []).append(s)
    return out


def test_a_call_is_one_chat_span_with_the_genai_attributes(settings):
    with memory() as exported:
        response = scripted(settings, FakeProvider([ok("Hello", " there.")])).invoke(CallSpec(
            PAID, ChatRequest(PAID.id, (Message("user", "Hi"),), temperature=0.3,
                              max_tokens=200),
            CallContext("compare", prompt_name="greet", prompt_version=2)))
        list(response)
    [span] = exported.get_finished_spans()
    row = response.record
    assert span.name == "chat m" and span.kind == SpanKind.CLIENT and span.parent is None
    assert span.status.status_code == StatusCode.UNSET
    a = dict(span.attributes)
    assert {k: a[k] for k in a if k.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m", "gen_ai.response.model": "m",
        "gen_ai.request.temperature": 0.3, "gen_ai.request.max_tokens": 200,
        "gen_ai.output.type": "text", "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 0, "gen_ai.usage.cache_creation.input_tokens": 0}
    assert a["promptlab.ledger_id"] == row.id and row.id is not None
    assert (a["promptlab.page"], a["promptlab.status"], a["promptlab.attempts"]) == \
        ("compare", "ok", 1)
    assert (a["promptlab.prompt.name"], a["promptlab.prompt.version"]) == ("greet", 2)
    assert a["promptlab.cost_usd"] == pytest.approx(row.cost_micro / 1e6) and row.cost_micro > 0
    assert "error.type" not in a
    assert span.end_time - span.start_time == pytest.approx(row.total_ms * 1e6, abs=1)


def test_a_failed_call_is_an_error_span_and_a_retried_one_is_still_one_span(settings):
    failing = FakeProvider([fail(ProviderError("auth", "The key was refused."))])
    retried = FakeProvider([fail(ProviderError("overloaded", "Busy.")), ok("Fine.")],
                           name="another")  # the first opened its breaker
    with memory() as exported:
        first = scripted(settings, failing).invoke(CallSpec(
            PAID, ChatRequest(PAID.id, (Message("user", "Hi"),)), CallContext("chat")))
        list(first)
        second = scripted(settings, retried).invoke(CallSpec(
            PAID, ChatRequest(PAID.id, (Message("user", "Hi"),)), CallContext("chat")))
        list(second)
    error, retry = exported.get_finished_spans()
    assert error.status.status_code == StatusCode.ERROR and error.status.description == "auth"
    assert error.attributes["error.type"] == "auth"
    assert error.attributes["promptlab.status"] == "error"
    assert error.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert error.attributes["promptlab.ledger_id"] == first.record.id
    # Two attempts, one ledger row: one span, which says so.
    assert (retry.attributes["promptlab.attempts"], retry.attributes["promptlab.status"]) == \
        (2, "ok")
    assert retry.status.status_code == StatusCode.UNSET and "error.type" not in retry.attributes


def test_an_agent_run_is_the_parent_of_its_calls_and_tool_calls(settings):
    with memory() as exported:
        run, events = agent(settings, [
            tool_calls(("c0", "calculator", {"expression": "6 * 7"}),
                       ("c1", "no_such_tool", {})),
            ok(ANSWER)])
    assert events[-1] == RunFinished("answered")
    spans = by_name(exported.get_finished_spans())
    [root] = spans["invoke_agent"]
    [good] = spans["execute_tool calculator"]
    [bad] = spans["execute_tool no_such_tool"]
    chats = spans["chat m"]
    assert len(chats) == 2 and len(exported.get_finished_spans()) == 5
    assert root.parent is None and root.kind == SpanKind.INTERNAL
    # Tool calls ran in the loop's pool threads: the run's context went with them.
    for child in (*chats, good, bad):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    assert [c.attributes["promptlab.step"] for c in chats] == [1, 2]
    assert {c.attributes["promptlab.run_id"] for c in chats} == {run.run_id}
    assert [c.attributes["promptlab.ledger_id"] for c in chats] == \
        [s.record.id for s in run.steps]
    assert chats[0].attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert (good.attributes["gen_ai.operation.name"], good.attributes["gen_ai.tool.name"],
            good.attributes["gen_ai.tool.call.id"]) == ("execute_tool", "calculator", "c0")
    assert good.status.status_code == StatusCode.UNSET
    assert bad.attributes["error.type"] == "tool_error"
    assert bad.status.status_code == StatusCode.ERROR
    a = root.attributes
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["gen_ai.request.model"],
            a["promptlab.run_id"], a["promptlab.finish"]) == \
        ("invoke_agent", "openai", "m", run.run_id, "answered")
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == \
        (run.input_tokens, run.output_tokens) == (110, 25)
    assert "error.type" not in a
    assert root.start_time <= min(c.start_time for c in chats)
    assert root.end_time >= max(c.end_time for c in (*chats, good, bad))


def test_an_agent_run_that_fails_is_an_error_span(settings):
    with memory() as exported:
        _, events = agent(settings, [fail(ProviderError("auth", "The key was refused."))])
    assert events[-1].reason == "error"
    [root] = by_name(exported.get_finished_spans())["invoke_agent"]
    assert root.status.status_code == StatusCode.ERROR
    assert (root.attributes["error.type"], root.attributes["promptlab.finish"]) == \
        ("auth", "error")


def everything(spans) -> str:
    """Every name, attribute and event of the spans, as text."""
    return json.dumps([[s.name, {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in s.attributes.items()},
                        [[e.name, dict(e.attributes or {})] for e in s.events]]
                       for s in spans])


def test_message_text_stays_out_of_spans_by_default(settings):
    with memory() as exported:
        agent(settings, [tool_calls(("c0", "calculator", {"expression": "6 * 7"})),
                         ok(ANSWER)])
    text = everything(exported.get_finished_spans())
    assert "zebra" not in text and "Be brief" not in text and "6 * 7" not in text
    assert not any(k in text for k in ("gen_ai.input.messages", "gen_ai.output.messages",
                                       "gen_ai.system_instructions", "gen_ai.tool.call."
                                       "arguments", "gen_ai.tool.call.result"))


def test_message_text_is_recorded_when_the_setting_allows_it(settings):
    with memory(content=True) as exported:
        agent(settings, [tool_calls(("c0", "calculator", {"expression": "6 * 7"})),
                         ok(ANSWER)])
    spans = by_name(exported.get_finished_spans())
    first, second = spans["chat m"]
    assert json.loads(first.attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}]
    assert json.loads(first.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": f"What is 6 * 7? {SECRET}"}]}]
    assert json.loads(first.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "tool_call", "id": "c0", "name": "calculator",
             "arguments": {"expression": "6 * 7"}}]}]
    # The second call was sent the call and its result, as the conventions shape them.
    assert json.loads(second.attributes["gen_ai.input.messages"])[1:] == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c0", "name": "calculator",
                                         "arguments": {"expression": "6 * 7"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c0",
                                    "response": "42"}]}]
    assert json.loads(second.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "finish_reason": "stop",
         "parts": [{"type": "text", "content": ANSWER}]}]
    [tool] = spans["execute_tool calculator"]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"expression": "6 * 7"}
    assert tool.attributes["gen_ai.tool.call.result"] == "42"


def test_spans_reach_a_real_otlp_receiver_over_http(settings, monkeypatch):
    receiver = OtlpReceiver().start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "promptlab-test")
        provider = telemetry.exporting_provider()  # BatchSpanProcessor, OTLP/HTTP exporter
        with telemetry.tracing(provider):
            run, _ = agent(settings, [tool_calls(("c0", "calculator",
                                                  {"expression": "6 * 7"})), ok(ANSWER)])
        assert provider.force_flush()  # sent, and answered by the receiver
        received = receiver.wait_for(lambda spans: len(spans) >= 4)
        provider.shutdown()
    finally:
        receiver.stop()
    assert sorted(s.name for s in received) == [
        "chat m", "chat m", "execute_tool calculator", "invoke_agent"]
    spans = by_name(received)
    [root] = spans["invoke_agent"]
    assert root.parent_span_id == b""
    for child in (*spans["chat m"], *spans["execute_tool calculator"]):
        assert child.parent_span_id == root.span_id and child.trace_id == root.trace_id
    a = attributes(root)
    assert (a["gen_ai.operation.name"], a["gen_ai.request.model"], a["promptlab.run_id"]) == \
        ("invoke_agent", "m", run.run_id)
    chats = [attributes(s) for s in spans["chat m"]]
    assert [(c["gen_ai.operation.name"], c["gen_ai.provider.name"],
             c["gen_ai.response.finish_reasons"], c["promptlab.ledger_id"]) for c in chats] == [
        ("chat", "openai", ("tool_call",), run.steps[0].record.id),
        ("chat", "openai", ("stop",), run.steps[1].record.id)]
    assert attributes(spans["execute_tool calculator"][0])["gen_ai.tool.call.id"] == "c0"
    assert "zebra" not in str(received)  # the default: no message text on the wire


def test_nothing_is_set_up_or_imported_without_an_endpoint(tmp_path):
    """A process with no OTLP endpoint: setup says no, and a call, an agent run and a tool
    call never import the OpenTelemetry SDK (no provider, no cost)."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT / 'tests')!r})
from fakes import FakeProvider, ok, scripted
from lib import telemetry
from lib.agents import BUILTINS, AgentRun
from lib.core import load_settings
from lib.llm import CallContext, CallSpec, ChatRequest, Message, ModelInfo, MemoryRecorder
settings = load_settings({{"PROMPTLAB_DATA_DIR": {str(tmp_path)!r},
                          "PROMPTLAB_OTEL_CONTENT": "1"}})
on = telemetry.setup(settings)
model = ModelInfo("m", "openai", "M", 8000, 1000)
request = ChatRequest("m", (Message("user", "6 * 7?"),),
                      tools=tuple(t.spec for t in BUILTINS.values()))
from lib.llm import ToolCall, Usage, Stop
attempts = [([ToolCall("c0", "calculator", {{"expression": "6 * 7"}}, "{{}}"), Usage(1, 1),
              Stop("tool_use")], None), ok("42.")]
rows = MemoryRecorder()
calls = scripted(settings, FakeProvider(attempts), recorder=rows)
events = list(AgentRun(calls, CallSpec(model, request, CallContext("chat")), BUILTINS,
                       tool_context={{"settings": settings, "kb": None}}))
print(on, telemetry.enabled(), len(rows.calls),
      sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "False False 2 []"
