"""The spans (GenAI semantic conventions): `chat {model}` for every model call, one per
ledger row, written as the row is (`traced` wraps the seam's recorder); `invoke_agent` around
an agent run, current while it steps so its calls and tool calls are its children;
`execute_tool {tool}` around every tool call, MCP ones too; `workflow_step {name}`, the hook
workflow steps will use. Each hook hands back what it was given when tracing is off, and a
failure here is logged, never raised into a call."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from lib.spend import CallRecord
from lib.telemetry.messages import (
    finish_reason,
    input_messages,
    output_messages,
    system_instructions,
)
from lib.telemetry.provider import Tracing, active, attributes

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)
E = TypeVar("E")
FAILED = ("error", "incomplete")   # ledger statuses that are errors (cancelled is not)
IN_PROCESS = ("local",)            # providers that run in this process: INTERNAL spans


class Records(Protocol):
    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int: ...


R = TypeVar("R", bound=Records)


class _Model(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> str: ...


class _Context(Protocol):
    @property
    def page(self) -> str: ...
    @property
    def conversation_id(self) -> int | None: ...


class _Finished(Protocol):
    @property
    def reason(self) -> str: ...
    @property
    def error(self) -> Any: ...


class TracedRun(Protocol):
    """What the invoke_agent span reads of an agent run (lib.agents.AgentRun)."""
    run_id: str

    @property
    def model(self) -> _Model: ...
    @property
    def context(self) -> _Context: ...
    @property
    def finished(self) -> _Finished | None: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cost_micro(self) -> int: ...


class _Traced:
    """A recorder whose every stored row is also a chat span; the rest is the recorder's."""

    def __init__(self, inner: Records, tracing: Tracing) -> None:
        self._inner, self._tracing = inner, tracing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int:
        end = time.time_ns()
        try:
            return self._inner.record(call, settles=settles, payload=payload)
        finally:  # the span is written whether or not the row could be stored
            try:
                _chat_span(self._tracing, call, payload or {}, end)
            except Exception:
                log.exception("call %s: its span was not written", call.id)


def traced(recorder: R) -> R:
    """`recorder`, each row it stores also a `chat {model}` span (a child of the span current
    where the call ran); `recorder` itself when tracing is off."""
    tracing = active()
    # The wrapper answers everything else from the recorder: it stands in for its type.
    return recorder if tracing is None else cast(R, _Traced(recorder, tracing))


def _chat_span(tracing: Tracing, row: CallRecord, payload: Mapping[str, Any],
               end: int) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    request: Mapping[str, Any] = payload.get("request") or {}
    reply: Mapping[str, Any] = payload.get("reply") or {}
    failed = row.status in FAILED
    values: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": row.provider,
        "gen_ai.request.model": row.model,
        "gen_ai.response.model": row.model,
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.max_tokens": request.get("max_tokens"),
        "gen_ai.output.type": "json" if request.get("output_schema") else "text",
        "gen_ai.response.finish_reasons": [finish_reason(reply.get("stop_reason"), row.status)],
        "gen_ai.usage.input_tokens": row.input_tokens,
        "gen_ai.usage.output_tokens": row.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": row.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": row.cache_write_tokens,
        "gen_ai.conversation.id": None if row.conversation_id is None
        else str(row.conversation_id),
        "error.type": (row.error_kind or row.status) if failed else None,
        "promptlab.ledger_id": row.id,
        "promptlab.page": row.page,
        "promptlab.status": row.status,
        "promptlab.attempts": row.attempts,
        "promptlab.cost_usd": row.cost_micro / 1_000_000,
        "promptlab.usage_estimated": row.usage_estimated,
        "promptlab.ttft_ms": row.ttft_ms,
        "promptlab.prompt.name": row.prompt_name,
        "promptlab.prompt.version": row.prompt_version,
        "promptlab.run_id": row.run_id,
        "promptlab.step": row.step,
        "promptlab.api_key_id": row.api_key_id,
        "promptlab.repair_of": row.repair_of,
        "promptlab.fallback_of": row.fallback_of,
    }
    if tracing.content:
        values |= {"gen_ai.system_instructions": system_instructions(request),
                   "gen_ai.input.messages": input_messages(request),
                   "gen_ai.output.messages": output_messages(reply, row.status)}
    kind = SpanKind.INTERNAL if row.provider in IN_PROCESS else SpanKind.CLIENT
    span = tracing.tracer.start_span(f"chat {row.model}", kind=kind,
                                     attributes=attributes(values),
                                     start_time=end - round(row.total_ms * 1_000_000))
    if failed:
        span.set_status(StatusCode.ERROR, row.error_kind or row.status)
    span.end(end_time=end)


def agent_run(run: TracedRun, events: Iterator[E]) -> Iterator[E]:
    """`events` (one pass of `run`) inside an `invoke_agent` span that is the current span
    whenever the run steps, in whichever thread steps it; `events` itself when off."""
    tracing = active()
    return events if tracing is None else _stepping(tracing, run, events)


def _stepping(tracing: Tracing, run: TracedRun, events: Iterator[E]) -> Iterator[E]:
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind, StatusCode

    span = tracing.tracer.start_span("invoke_agent", kind=SpanKind.INTERNAL, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": run.model.provider,
        "gen_ai.request.model": run.model.id, "promptlab.run_id": run.run_id,
        "promptlab.page": run.context.page})
    inside = trace.set_span_in_context(span)
    failure: BaseException | None = None

    def step(advance: Callable[[], E]) -> E:
        # Current only for this step: a generator may be stepped from any thread, and
        # the span must not stay current in the caller's context between events.
        token = context.attach(inside)
        try:
            return advance()
        finally:
            context.detach(token)

    try:
        while True:
            try:
                event = step(lambda: next(events))
            except StopIteration:
                return
            yield event
    except GeneratorExit:
        close = getattr(events, "close", None)
        if close is not None:  # a call cut short writes its row (and span) as it closes
            step(close)
        raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            _ended(span, run, failure, StatusCode.ERROR)
        except Exception:
            log.exception("agent run %s: its span was not finished", run.run_id)


def _ended(span: Span, run: TracedRun, failure: BaseException | None, error: Any) -> None:
    finished = run.finished
    reason = finished.reason if finished is not None else "paused"
    kind = None
    if failure is not None:
        kind = type(failure).__name__
    elif finished is not None and reason in ("error", "refused"):
        kind = getattr(finished.error, "kind", None) or reason
    span.set_attributes(attributes({
        "gen_ai.usage.input_tokens": run.input_tokens,
        "gen_ai.usage.output_tokens": run.output_tokens,
        "gen_ai.conversation.id": None if run.context.conversation_id is None
        else str(run.context.conversation_id),
        "promptlab.cost_usd": run.cost_micro / 1_000_000,
        "promptlab.finish": reason, "error.type": kind}))
    if kind is not None:
        span.set_status(error, kind)
    span.end()


class ToolSpan:
    """An open `execute_tool` span: `ended` says how the call went."""

    def __init__(self, span: Span | None = None, content: bool = False) -> None:
        self._span, self._content = span, content

    def ended(self, result: str, *, error: bool = False, pending: bool = False) -> None:
        if self._span is None:
            return
        from opentelemetry.trace import StatusCode

        self._span.set_attributes(attributes({
            "promptlab.tool.pending": pending or None,
            "error.type": "tool_error" if error else None,
            # The result is the model's next input: message text, recorded only when allowed.
            "gen_ai.tool.call.result": result if self._content and not error and not pending
            else None}))
        if error:
            self._span.set_status(StatusCode.ERROR, "tool_error")


_UNTRACED = ToolSpan()


@contextmanager
def tool_span(name: str, call_id: str, arguments: Mapping[str, Any], *,
              description: str = "", server: str = "") -> Iterator[ToolSpan]:
    """An `execute_tool {name}` span around a tool call (a child of the current span); its
    arguments only when message text may be recorded."""
    tracing = active()
    if tracing is None:
        yield _UNTRACED
        return
    from opentelemetry.trace import SpanKind

    with tracing.tracer.start_as_current_span(
            f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes({
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id or None, "gen_ai.tool.type": "function",
                "gen_ai.tool.description": description or None,
                "promptlab.mcp_server": server or None,
                "gen_ai.tool.call.arguments": json.dumps(arguments, ensure_ascii=False)
                if tracing.content else None})) as span:
        yield ToolSpan(span, tracing.content)


@contextmanager
def workflow_step(workflow: str, step: str) -> Iterator[None]:
    """The hook for workflow steps (none exist yet): run each step inside it, and its model
    and tool calls become children of a `workflow_step {step}` span."""
    tracing = active()
    if tracing is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    with tracing.tracer.start_as_current_span(
            f"workflow_step {step}", kind=SpanKind.INTERNAL,
            attributes={"promptlab.workflow": workflow, "promptlab.workflow.step": step}):
        yield
