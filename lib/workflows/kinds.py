"""One step's work, by kind: a stored prompt's call (on its model or the router's pick), an
agent run, a tool call, a sandboxed template or condition, a map over a list, an
orchestrator's plan and its workers. Every model call goes through the seam with the run's
id and the step's place; a map's or orchestrator's items run a few at a time."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lib import telemetry
from lib.agents import AgentRun, Limits, RunPaused, run_tool
from lib.core import PromptLabError, Settings, WorkflowError, json_loads
from lib.llm import (
    CallContext,
    Calls,
    CallSpec,
    ChatRequest,
    Message,
    TextDelta,
    ToolCall,
    counter_for,
    current_catalog,
    load_router,
    model_statuses,
    route,
)
from lib.prompts import Variable, coerce, render, validate
from lib.spend import CallRecord
from lib.workflows.events import StepDelta, StepRunning
from lib.workflows.graph import reference
from lib.workflows.resolving import Resolved, as_text
from lib.workflows.spec import (
    AgentStep,
    ConditionStep,
    MapStep,
    OrchestratorStep,
    TemplateStep,
    ToolStep,
)


class Stopped(WorkflowError):
    """Stop was pressed while the step ran."""


@dataclass
class StepJob:
    """What a step's work needs, and what it gathers (its ledger rows, its items)."""

    settings: Settings
    resolved: Resolved
    run_id: str
    position: int
    calls: Calls
    cancel: threading.Event
    emit: Callable[[object], None]
    inputs: dict[str, Any]
    outputs: dict[str, Any]                  # the outputs of the steps done so far
    user: str | None = None
    api_key_id: int | None = None
    records: list[CallRecord] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def child(self) -> StepJob:
        """The same job gathering its own rows: an item's."""
        return replace(self, records=[], items=[])


def run(job: StepJob, sid: str) -> Any:
    """The step's output; raises PromptLabError (Stopped when Stop ended it)."""
    step = job.resolved.wf.steps[sid]
    if isinstance(step, MapStep):
        elements = _list(_value(job, step.over, None), step.over)
        if len(elements) > step.max_items:
            raise WorkflowError(f"{step.over} has {len(elements)} items; the map takes at most "
                                f"{step.max_items} (max_items).")
        return _fan(job, sid, step.concurrency,
                    [(f"{sid}.do", step.do, e) for e in elements],
                    lambda i, e, out: out)
    if isinstance(step, OrchestratorStep):
        plan = _one(job, sid, sid, step, None, None)
        tasks = plan["tasks"][:step.max_tasks]
        return _fan(job, sid, step.concurrency,
                    [(t["worker"], job.resolved.wf.steps[t["worker"]], t["input"])
                     for t in tasks],
                    lambda i, t, out: {"worker": tasks[i]["worker"], "input": t,
                                       "output": out})
    return _one(job, sid, sid, step, None, None)


def _fan(job: StepJob, sid: str, concurrency: int, work: list[tuple[str, Any, Any]],
         shape: Callable[[int, Any, Any], Any]) -> list[Any]:
    """Each (key, step, item) run, at most `concurrency` at once; outputs in order. One
    failing fails the step (the others finish first)."""
    def one(i: int, key: str, step: Any, item: Any) -> Any:
        if job.cancel.is_set():
            raise Stopped("Stopped before it began.")
        child = job.child()
        entry: dict[str, Any] = {"index": i, "step": key, "item": item}
        job.items.append(entry)
        job.emit(StepRunning(sid, i))
        try:
            out = _one(child, sid, key, step, item, i)
            entry.update(status="done", output=out)
            return out
        except PromptLabError as exc:
            entry.update(status="failed", error=str(exc))
            raise
        finally:
            entry["calls"] = [r.id for r in child.records if r.id is not None]
            job.records += child.records

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(telemetry.carried(one), i, key, step, item)
                   for i, (key, step, item) in enumerate(work)]
        concurrent.futures.wait(futures)
    job.items.sort(key=lambda e: e["index"])
    for i, f in enumerate(futures):
        exc = f.exception()
        if isinstance(exc, Stopped):
            raise exc
        if exc is not None:
            raise WorkflowError(f"Item {i + 1} of {len(work)}: {exc}") from None
    return [shape(i, item, f.result()) for i, ((_, _, item), f) in enumerate(zip(work, futures,
                                                                                 strict=True))]


def _one(job: StepJob, sid: str, key: str, step: Any, item: Any, index: int | None) -> Any:
    values = {k: _value(job, v, item) for k, v in step.inputs.items()}
    if isinstance(step, ToolStep):
        t = job.resolved.tools[step.tool]
        outcome = run_tool(t, ToolCall(f"{job.run_id}-{sid}", t.name, values, ""),
                           _tool_context(job, step.knowledge_base, item))
        if outcome.is_error:
            raise WorkflowError(f"Tool {t.name}: {outcome.content}")
        return outcome.content
    if isinstance(step, TemplateStep):
        text = render(step.template, values)
        if step.parse != "json":
            return text
        try:
            return json_loads(text)
        except ValueError as exc:
            raise WorkflowError(f"The template's text is not JSON: {exc}") from None
    if isinstance(step, ConditionStep):
        return render(f"{{% if {step.expression} %}}true{{% else %}}false{{% endif %}}",
                      values) == "true"
    return _ask(job, sid, key, step, values, index)


def _ask(job: StepJob, sid: str, key: str, step: Any, values: dict[str, Any],
         index: int | None) -> Any:
    """A model step: its prompt rendered with the values, sent through the seam."""
    plan, settings = job.resolved.models[key], job.settings
    declared = {v.name: v for v in plan.prompt.variables}
    text = render(plan.source, validate(plan.prompt.variables, {
        k: as_text(v) if declared[k].type == "str" else v for k, v in values.items()}))
    request = ChatRequest(model=plan.model.id, messages=(Message("user", text),),
                          temperature=plan.temperature, max_tokens=plan.max_tokens,
                          output_schema=plan.schema)
    model = plan.model
    context = CallContext("workflow", plan.prompt.name, plan.version, run_id=job.run_id,
                          step=job.position, user=job.user, api_key_id=job.api_key_id)
    if plan.routed:  # chosen per call, with its input counted: the length rules apply
        catalog = current_catalog(settings)
        routed = route(load_router(settings, catalog),
                       model_statuses(catalog, settings, check_local=False),
                       plan.prompt.task or None,
                       counter_for(model, settings).count_request(request))
        model = routed.model
        context = replace(context, route=routed.reason, baseline=routed.baseline)
    spec = CallSpec(model, request, context, cancel=job.cancel,
                    repairs=settings.structured_repairs if plan.schema else 0)
    if isinstance(step, AgentStep):
        return _agent(job, sid, step, spec, index)
    response = job.calls.invoke(spec)
    for event in response:
        if isinstance(event, TextDelta):
            job.emit(StepDelta(sid, event.text, index))
    job.records += response.records
    _check_ended(job, response.record)
    if response.error is not None:
        raise WorkflowError(str(response.error))
    if plan.schema is None:
        return response.text
    v = response.validation
    if v is None or not v.ok:
        raise WorkflowError("The reply does not match the prompt's output schema: "
                            + "; ".join(v.errors if v else ("no reply")))
    return v.data


def _agent(job: StepJob, sid: str, step: AgentStep, spec: CallSpec, index: int | None
           ) -> Any:
    tools = {name: job.resolved.tools[name] for name in step.tools}
    request = spec.ask
    assert isinstance(request, ChatRequest)  # _ask built it
    spec = replace(spec, ask=replace(request, tools=tuple(t.spec for t in tools.values())))
    agent = AgentRun(job.calls, spec, tools, limits=Limits(max_steps=step.max_steps),
                     tool_context=_tool_context(job, step.knowledge_base, None))
    for event in agent:
        if isinstance(event, TextDelta):
            job.emit(StepDelta(sid, event.text, index))
        elif isinstance(event, RunPaused):
            break
    job.records += agent.records
    _check_ended(job, agent.record)
    finished = agent.finished
    if finished is None or finished.reason != "answered":
        why = "its step limit" if finished is None else finished.reason
        raise WorkflowError(f"The agent did not answer ({why})"
                            + (f": {finished.error}" if finished and finished.error else "."))
    v = agent.validation
    return v.data if v is not None and v.ok and request.output_schema else agent.text


def _check_ended(job: StepJob, record: CallRecord | None) -> None:
    if job.cancel.is_set() and (record is None or record.status == "cancelled"):
        raise Stopped("Stopped while it ran.")


def _tool_context(job: StepJob, knowledge_base: str, item: Any) -> dict[str, Any]:
    """The knowledge-base tools' context: the base the step names (or reads from a value)."""
    kb = None
    name = _value(job, knowledge_base, item) if knowledge_base else ""
    if name:
        from lib import knowledge

        kb = knowledge.get_kb(job.settings.db, str(name))
    return {"settings": job.settings, "kb": kb}


def _value(job: StepJob, value: Any, item: Any) -> Any:
    """A step's value: what a reference names, or the literal."""
    r = reference(value)
    return value if r is None else r.value(job.inputs, job.outputs, item)


def _list(value: Any, where: str) -> list[Any]:
    try:
        out = coerce(Variable("over", "list"), value)
    except ValueError as exc:
        raise WorkflowError(f"{where} {exc}.") from None
    return list(out)
