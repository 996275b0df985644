"""The agent loop: call the model, run the tool calls it makes (parallel ones concurrently,
a few at a time, at most `max_calls` of one reply), send the results, call again — until it
answers without a tool call, the step limit (then the caller asks the user whether to go on),
the run's cost limit, or Stop.

Each step is one model call with its own ledger row (run id, step number) and its own budget
reservation. Nothing is cut silently: every way a run ends is a RunFinished with a reason —
"no_answer" when the model's last word is empty or a tool call written out as text (a small
model that could not use the tools), which is never passed off as the answer."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from typing import Any

from lib import telemetry
from lib.agents.events import (
    RunEvent,
    RunFinished,
    RunPaused,
    Step,
    StepFinished,
    ToolFinished,
    ToolStarted,
)
from lib.agents.tools import Approval, Outcome, Tool, run_tool
from lib.agents.written import may_be_call, written_call
from lib.core import BudgetExceededError, PromptLabError, ToolError, get_settings
from lib.llm import (
    Call,
    Calls,
    CallSpec,
    ChatRequest,
    Error,
    Message,
    ModelInfo,
    Repair,
    Skipped,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    Usage,
    Validation,
    repair_message,
)
from lib.spend import CallRecord

DEFAULT_STEPS = 8
MAX_TOOL_CALLS = 256  # the highest PROMPTLAB_MAX_TOOL_CALLS


@dataclass(frozen=True)
class Limits:
    max_steps: int = DEFAULT_STEPS
    max_cost_usd: float | None = None    # the run stops once its steps have cost this much
    parallel: int = 4                    # tool calls of one step run at once, at most
    max_calls: int | None = None         # calls run per step; None: PROMPTLAB_MAX_TOOL_CALLS

    def checked(self) -> Limits:
        if not 1 <= self.max_steps <= 100:
            raise ToolError("The step limit must be between 1 and 100.")
        if self.max_cost_usd is not None and self.max_cost_usd < 0:
            raise ToolError("The cost limit cannot be negative.")
        if not 1 <= self.parallel <= 16:
            raise ToolError("Parallel tool calls must be between 1 and 16.")
        calls = get_settings().max_tool_calls if self.max_calls is None else self.max_calls
        if not 1 <= calls <= MAX_TOOL_CALLS:
            raise ToolError(f"Tool calls per step must be between 1 and {MAX_TOOL_CALLS}.")
        return replace(self, max_calls=calls)


class AgentRun:
    """Iterate for events; after a RunPaused, `go_on(n)` and iterate again. `messages` holds
    what the run added to the conversation (assistant calls, tool results, the answer)."""

    def __init__(self, calls: Calls, spec: CallSpec, tools: dict[str, Tool], *,
                 tool_context: dict[str, Any] | None = None, limits: Limits | None = None,
                 typed: Callable[[ToolCall], str | None] | None = None,
                 run_id: str | None = None, step_offset: int = 0,
                 approval: Approval | None = None, approved: tuple[ToolCall, ...] = ()
                 ) -> None:
        """`spec`: the model, the first step's request (each step adds to its messages), who
        calls, Stop, and `repairs` (answers failing the output schema may be sent back this
        many times); every step goes through `calls`, the one seam. `run_id` and
        `step_offset`: go on with a paused run (its steps are numbered on). `approval`: how
        calls of `ask` tools are decided (default: the run pauses for a person);
        `approved`: the paused step's calls a person approved, run first (their results
        stand in for the placeholders the request holds, and are in `resumed`)."""
        if not isinstance(spec.ask, ChatRequest):
            raise ToolError("An agent run starts from a request, not a request builder.")
        self.calls, self.cancel = calls, spec.cancel or threading.Event()
        self.spec = replace(spec, fallbacks=(), repairs=0, cancel=self.cancel)
        self.request, self.context = spec.ask, spec.context
        self.tools = tools
        self.tool_context = tool_context or {}
        self.limits = (limits or Limits()).checked()
        self._typed = typed
        self.approval = approval or Approval()
        self._approved = approved
        self.resumed: list[tuple[ToolCall, Outcome]] = []
        self.run_id = run_id or uuid.uuid4().hex
        self.offset = step_offset
        self.allowed = self.limits.max_steps
        self.steps: list[Step] = []
        self.messages: list[Message] = []
        self.finished: RunFinished | None = None
        self._choice = self.request.tool_choice
        self._seen: dict[str, Outcome] = {}  # (name, arguments) already run in this run
        self._first: Call | None = None
        self._repairs = spec.repairs
        self._repair_of: int | None = None   # the next step repairs this ledger row

    @property
    def _open(self) -> bool:
        """Whether a last word may be a call written out: with tools and a free answer
        (structured answers are JSON by design, and stream)."""
        return bool(self.tools) and self.request.output_schema is None

    def _written(self, text: str) -> bool:
        return self._open and written_call(text, self.tools)

    @property
    def cost_micro(self) -> int:
        return sum(s.cost_micro for s in self.steps)

    @property
    def input_tokens(self) -> int:
        return sum(s.input_tokens for s in self.steps)

    @property
    def output_tokens(self) -> int:
        return sum(s.output_tokens for s in self.steps)

    @property
    def ms(self) -> float:
        """The steps' time (model calls and tools), not counting pauses for the user."""
        return sum(s.ms for s in self.steps)

    def go_on(self, more: int = DEFAULT_STEPS) -> None:
        """Allow `more` steps after a RunPaused."""
        self.allowed = len(self.steps) + max(1, more)

    def __iter__(self) -> Iterator[RunEvent]:
        # Traced (lib.telemetry): an invoke_agent span, current while the run steps, parents
        # its calls and tool calls; the events are the same, and nothing changes when off.
        return telemetry.agent_run(self, self._events())

    def _events(self) -> Iterator[RunEvent]:
        if self._approved and not self.cancel.is_set():
            yield from self._run_approved()
        while self.finished is None:
            if self.cancel.is_set():
                yield self._finish("stopped")
                return
            if len(self.steps) >= self.allowed:
                yield RunPaused(len(self.steps))
                return
            yield from self._step()

    def _finish(self, reason: str, error: Any = None) -> RunFinished:
        self.finished = RunFinished(reason, error)
        return self.finished

    # -- the run as a Response (lib.llm.seam) ---------------------------------------------
    @property
    def model(self) -> ModelInfo:
        return self.spec.model

    @property
    def text(self) -> str:
        """The answer: the last step's text once the run answered, else nothing."""
        answered = self.finished is not None and self.finished.reason == "answered"
        return self.steps[-1].text if answered and self.steps else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [c for s in self.steps for c, _ in s.calls]

    @property
    def usage(self) -> Usage | None:
        return Usage(self.input_tokens, self.output_tokens) if self.steps else None

    @property
    def record(self) -> CallRecord | None:
        return self.steps[-1].record if self.steps else None

    @property
    def records(self) -> list[CallRecord]:
        return [s.record for s in self.steps]

    @property
    def passed_over(self) -> list[Skipped]:
        return []  # agent runs do not fall back: a tool may have run

    @property
    def validation(self) -> Validation | None:
        return self.steps[-1].validation if self.steps else None

    @property
    def error(self) -> PromptLabError | None:
        return self.finished.error if self.finished else None

    @property
    def cache_status(self) -> str | None:
        """The last step's (each step looks up its own request)."""
        return self.steps[-1].record.response_cache if self.steps else None

    def reserve(self) -> None:
        """Reserve the first step's budget now: raises BudgetExceededError (or the reason the
        request cannot be sent) before the caller stores anything."""
        if self._first is None and not self.steps:
            self._first = self._call(self.offset + 1)
            self._first.reserve()

    def bind(self, conversation_id: int) -> None:
        """The run's calls belong to this conversation (created after the reservation)."""
        self.context = replace(self.context, conversation_id=conversation_id)
        if self._first is not None:
            self._first.bind(conversation_id)

    def close(self) -> None:
        if self._first is not None:
            self._first.close()

    def _call(self, number: int) -> Call:
        """A step's call through the seam: the run's messages so far; raises the reason it
        cannot be sent (its window, its provider)."""
        request = replace(self.request, messages=self.request.messages + tuple(self.messages),
                          tool_choice=self._choice,
                          tools=self.request.tools if self._choice != "none" else ())
        return self.calls.call(replace(self.spec, ask=request, context=replace(
            self.context, run_id=self.run_id, step=number, repair_of=self._repair_of)))

    def _step(self) -> Iterator[RunEvent]:
        number = self.offset + len(self.steps) + 1
        try:
            call, self._first = self._first or self._call(number), None
        except PromptLabError as exc:  # the history outgrew the window, the provider went
            yield self._finish("error", exc)
            return
        started = time.perf_counter()
        error = None
        held: list[TextDelta] = []  # text that may turn out to be a call written out
        try:
            for event in call:
                if isinstance(event, TextDelta) and self._open and may_be_call(call.text):
                    held.append(event)
                    continue
                if isinstance(event, TextDelta | ToolCall):
                    yield from held  # not a written call after all: shown in order
                    held.clear()
                    yield event
                elif isinstance(event, ThinkingDelta | Thinking):
                    yield event  # never a written call: shown as it comes
                elif isinstance(event, Error):
                    error = event.error
        except BudgetExceededError as exc:  # refused before anything was sent
            yield self._finish("refused", exc)
            return
        if held and call.text.strip() and not self._written(call.text):
            yield from held
        record = call.record
        assert record is not None  # a call iterated to its end has written its row
        step = Step(number, record, call.text, (time.perf_counter() - started) * 1000)
        self.steps.append(step)
        if record.status == "cancelled":
            yield StepFinished(step)
            yield self._finish("stopped")
            return
        if error is not None or record.status != "ok":
            # A cut stream may hold a finished call: nothing runs on an incomplete turn.
            if call.text:
                self.messages.append(Message("assistant", call.text))
            yield StepFinished(step)
            yield self._finish("error", error)
            return
        self._repair_of = None
        if not call.tool_calls and (not call.text.strip() or self._written(call.text)):
            # Nothing the user can use: said so, never shown as the answer.
            self.messages.append(Message("assistant", call.text, call.blocks))
            yield StepFinished(step)
            yield self._finish("no_answer")
            return
        if not call.tool_calls:
            self.messages.append(Message("assistant", call.text, call.blocks))
            step.validation = v = call.validation
            yield StepFinished(step)
            if v is not None and not v.ok and self._repairs > 0 and len(self.steps) < \
                    self.allowed:  # send the errors back: the next step is the repair
                self._repairs -= 1
                self._repair_of = record.id
                self.messages.append(Message("user", repair_message(
                    self.request.output_schema, v.errors)))
                yield Repair(len(self.steps), v.errors)
                return
            yield self._finish("answered")
            return
        outcomes = yield from self._run_tools(step, call.tool_calls)
        self.messages += [  # the thinking too, in its place: Anthropic wants it back as it was
            Message("assistant", call.text, call.blocks),
            Message("user", "", tuple(ToolResult(c.id, o.content, o.is_error)
                                      for c, o in zip(call.tool_calls, outcomes, strict=True)))]
        if self._choice not in ("auto", "none"):
            self._choice = "auto"  # "required" or a named tool: once, or it never answers
        yield StepFinished(step)
        if any(o.pending for o in outcomes):  # the user types those results, then it goes on
            yield self._finish("awaiting")
            return
        limit = self.limits.max_cost_usd
        if limit is not None and self.cost_micro >= round(limit * 1_000_000):
            yield self._finish("cost_limit")
        elif self.cancel.is_set():
            yield self._finish("stopped")

    def _run_approved(self) -> Iterator[RunEvent]:
        """Run the calls a person approved (in the paused step, numbered `offset`), and put
        their results where the request holds the placeholders."""
        calls, self._approved = self._approved, ()
        for c in calls:
            yield ToolStarted(self.offset, c)
            # Approved: run as a person's own call, whatever the tool's policy.
            outcome = run_tool(self.tools.get(c.name), c, self.tool_context)
            self._seen[f"{c.name}:{json.dumps(c.arguments, sort_keys=True)}"] = outcome
            self.resumed.append((c, outcome))
            yield ToolFinished(self.offset, c, outcome)
        results = {c.id: ToolResult(c.id, o.content, o.is_error) for c, o in self.resumed}
        self.request = replace(self.request, messages=tuple(
            replace(m, blocks=tuple(results.get(b.call_id, b)
                                    if isinstance(b, ToolResult) else b for b in m.blocks))
            for m in self.request.messages))
        if self._first is not None:  # reserved on the placeholders: the step asks anew
            self._first.close()
            self._first = None

    def _run_tools(self, step: Step, calls: list[ToolCall]
                   ) -> Generator[RunEvent, None, list[Outcome]]:  # the outcomes, in call order
        outcomes: dict[int, Outcome] = {}
        pending = {}
        cap = self.limits.max_calls or MAX_TOOL_CALLS  # checked() has set it
        with concurrent.futures.ThreadPoolExecutor(self.limits.parallel) as pool:
            for i, c in enumerate(calls):
                yield ToolStarted(step.number, c)
                if i >= cap:  # told, not run: the model may call it again in the next step
                    outcomes[i] = Outcome(f"Not run: at most {cap} tool calls run per step, "
                                          f"and this reply made {len(calls)}. Call again in "
                                          "the next step for what you still need.", True)
                    continue
                key = f"{c.name}:{json.dumps(c.arguments, sort_keys=True)}"
                if key in self._seen and not c.invalid:
                    # The same call again: answer from the first, and ask for an answer now
                    # (small models otherwise repeat a call until the step limit). The result
                    # comes first: SmolLM2 repeats the start of the last message as its answer.
                    seen = self._seen[key]
                    outcomes[i] = Outcome(f"{seen.content}\n(The same call again: this is its "
                                          "result, as before. Answer the user now.)",
                                          seen.is_error)
                    self._choice = "none"
                    continue
                traced = telemetry.carried(run_tool)  # the pool's thread: in the run's trace
                pending[pool.submit(traced, self.tools.get(c.name), c, self.tool_context,
                                    self._typed(c) if self._typed else None,
                                    self.approval)] = (i, key)
            for future in concurrent.futures.as_completed(pending):
                i, key = pending[future]
                outcomes[i] = self._seen[key] = future.result()
        ordered = [outcomes[i] for i in range(len(calls))]
        for c, o in zip(calls, ordered, strict=True):
            step.calls.append((c, o))
            yield ToolFinished(step.number, c, o)
        return ordered
