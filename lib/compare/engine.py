"""Running a comparison: every cell streamed in parallel under a concurrency limit, each
cell's call in the ledger and its result saved as it finishes."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from lib.agents import AgentRun, Approval, RunFinished, registered_tools, stored_status
from lib.compare.checks import EXPECTS, Check, run_checks
from lib.compare.expected import similarity_with
from lib.compare.plan import CellPlan, Forecast
from lib.compare.runs import CellResult, run_owner, run_status, save_cell, set_status
from lib.compare.variants import AnyVariant, ResolvedVariant, ResolvedWorkflow, request_for
from lib.core import CompareError, PromptLabError, Settings
from lib.llm import (
    CacheMode,
    CallContext,
    Calls,
    CallSpec,
    Counter,
    Error,
    Repair,
    TextDelta,
    capabilities,
    counter_for,
)

log = logging.getLogger(__name__)
# Why a Compare run denies the calls of tools that ask first: no one is there to approve.
COMPARE_DENIES = "Compare runs do not wait for approval"


@dataclass(frozen=True)
class CellEvent:
    row: int
    variant: int
    delta: str = ""
    result: CellResult | None = None   # set once, when the cell is finished
    restart: bool = False              # a repair begins: the text so far is dropped


def execute(settings: Settings, run_id: int, resolved: list[AnyVariant], plan: Forecast,
            checks: list[Check], *, concurrency: int = 4,
            cancel: threading.Event | None = None,
            calls: Calls | None = None, page: str = "compare",
            cache: CacheMode | None = None) -> Generator[CellEvent, None, None]:
    """Stream every cell, row by row, at most `concurrency` calls at once; `cache`: how
    the cells use the response cache (None: as PROMPTLAB_CACHE says for the page).

    Closing the iterator (or setting `cancel`) stops the calls in flight, which are recorded
    as cancelled, and marks cells not yet started as cancelled too. `page`: what the ledger
    says made the calls ("eval" for the command line's runs).
    """
    cancel = cancel or threading.Event()
    events: queue.Queue[CellEvent] = queue.Queue()
    calls = calls or Calls(settings)
    owner = run_owner(settings.db, run_id)  # the run's calls are its owner's
    # The embedder loads only when a similarity check is there to use it.
    similar = similarity_with(settings) if any(c.kind == "semantic" for c in checks) else None
    if any(c.kind in EXPECTS for c in checks) and all(c.expected is None for c in plan.cells):
        raise CompareError("Checks against the expected answer need an 'expected' column in "
                           "the dataset.")

    def run_cell(cell: CellPlan) -> None:
        r = resolved[cell.variant]
        result = CellResult(cell.row, cell.variant, prompt_text=cell.text)
        try:
            if cell.error or cell.over_window:
                result.status = "skipped"
                result.error = cell.error or "The input does not fit the model's window."
            elif cancel.is_set():
                result.status = "cancelled"
            elif isinstance(r, ResolvedWorkflow):
                _run_workflow(cell, r, result)
            else:
                _run_cell(cell, r, result)
        except PromptLabError as exc:
            result.status, result.error = "error", str(exc)
        except Exception as exc:  # a bug must not hang the page: report it on the cell
            log.exception("compare run %s: cell (%d, %d) failed", run_id, cell.row, cell.variant)
            result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            try:
                save_cell(settings.db, run_id, result)
            except PromptLabError as exc:
                result.status, result.error = "error", f"Not saved: {exc}"
            events.put(CellEvent(cell.row, cell.variant, result=result))  # always: see below

    def _run_cell(cell: CellPlan, r: ResolvedVariant, result: CellResult) -> None:
        counter = counter_for(r.model, settings)
        spec = CallSpec(r.model, request_for(r, cell.text, cell.repeat),
                        CallContext(page, r.variant.prompt, r.version, user=owner,
                                    repeat=cell.repeat),
                        repairs=settings.structured_repairs, cancel=cancel, cache=cache)
        if r.variant.tools:
            _run_agent(cell, r, result, spec, counter)
            return
        call = calls.invoke(spec)
        for event in call:
            if isinstance(event, TextDelta):
                events.put(CellEvent(cell.row, cell.variant, delta=event.text))
            elif isinstance(event, Repair):
                events.put(CellEvent(cell.row, cell.variant, restart=True))
            elif isinstance(event, Error):
                result.error = str(event.error)
        records = call.records
        rec = call.record
        assert rec is not None  # a call iterated to its end has written its row
        result.output, result.status = call.text, rec.status
        result.input_tokens = sum(r.input_tokens for r in records)
        result.output_tokens = sum(r.output_tokens for r in records)
        result.cost_micro, result.ttft_ms = sum(r.cost_micro for r in records), rec.ttft_ms
        result.priced = all(r.priced for r in records)
        result.total_ms, result.call_id = sum(r.total_ms for r in records), rec.id
        result.repairs = len(records) - 1
        if call.usage is not None and call.usage.reasoning_tokens:
            result.trace["reasoning_tokens"] = call.usage.reasoning_tokens
        if (v := call.validation) is not None:
            result.structured = v.status
            if not v.ok:
                result.error = "The reply does not match its schema: " + "; ".join(v.errors)
        if rec.status == "ok":
            result.checks = run_checks(checks, call.text, counter.count, {"steps": 1},
                                       cell.expected, similar)

    def _run_workflow(cell: CellPlan, r: ResolvedWorkflow, result: CellResult) -> None:
        """A workflow variant's cell: a run of it on the row's inputs; its reply is the run's
        output (one output: its text; several: them as JSON), streamed from its steps."""
        from lib.workflows import RunDone, StepDelta, StepDone, WorkflowRun

        run = WorkflowRun(settings, r.workflow, cell.inputs, user=owner, calls=calls,
                          cancel=cancel)
        done: RunDone | None = None
        steps: list[StepDone] = []
        for event in run:
            if isinstance(event, StepDelta) and event.step in r.workflow.graph.outputs:
                events.put(CellEvent(cell.row, cell.variant, delta=event.text))
            elif isinstance(event, StepDone):
                steps.append(event)
            elif isinstance(event, RunDone):
                done = event
        if done is None:
            raise CompareError("The workflow run ended without a result.")
        outputs = list(done.outputs.values())
        value = outputs[0] if len(outputs) == 1 else done.outputs
        result.output = value if isinstance(value, str) else json.dumps(value)
        result.status = {"done": "ok", "stopped": "cancelled"}.get(done.status, "error")
        result.error = done.error
        result.input_tokens = sum(s.input_tokens for s in steps)
        result.output_tokens = sum(s.output_tokens for s in steps)
        result.cost_micro, result.total_ms = done.cost_micro, done.ms
        ids = [i for s in steps for i in s.calls]
        result.call_id = ids[-1] if ids else None
        result.trace = {"workflow_run": done.run_id, "workflow": r.variant.prompt,
                        "steps": len(steps), "failed": list(done.failed)}
        if result.status == "ok":
            result.checks = run_checks(checks, result.output, counter_for(
                r.models[0], settings).count if r.models else len, {"steps": len(steps)},
                cell.expected, similar)

    def _run_agent(cell: CellPlan, r: ResolvedVariant, result: CellResult, spec: CallSpec,
                   counter: Counter) -> None:
        """A tool variant's cell: an agent run; the row's canned results stand in for tools."""
        offered = registered_tools()
        # A canned result reaches no system: it needs no approval.
        tools = {n: replace(offered[n], fn=None, canned=cell.canned[n], policy="run")
                 if n in cell.canned else offered[n] for n in r.variant.tools}
        run = AgentRun(calls, spec, tools, tool_context={"settings": settings, "kb": None},
                       approval=Approval(deny=COMPARE_DENIES))
        for event in run:
            if isinstance(event, TextDelta):
                events.put(CellEvent(cell.row, cell.variant, delta=event.text))
        end = run.finished or RunFinished("paused")
        if end.error is not None:
            result.error = str(end.error)
        elif end.reason != "answered":
            result.error = f"The run ended: {end.reason.replace('_', ' ')}."
        last = run.steps[-1] if run.steps else None
        result.output = last.text if last else ""
        result.status = stored_status(end.reason)
        result.input_tokens, result.output_tokens = run.input_tokens, run.output_tokens
        result.cost_micro, result.total_ms = run.cost_micro, run.ms
        result.priced = all(s.record.priced for s in run.steps)
        result.call_id = last.call_id if last else None
        result.trace = {"run_id": run.run_id, "steps": len(run.steps), "end": end.reason,
                        "calls": [{"name": c.name, "arguments": c.arguments,
                                   "result": o.content, "is_error": o.is_error,
                                   **({"server": o.server} if o.server else {})}
                                  for s in run.steps for c, o in s.calls]}
        if run.usage is not None and run.usage.reasoning_tokens:
            result.trace["reasoning_tokens"] = run.usage.reasoning_tokens
        if last is not None and (v := last.validation) is not None:
            result.structured = v.status
        if result.status == "ok":
            result.checks = run_checks(checks, result.output, counter.count, result.trace,
                                       cell.expected, similar)

    # Row by row, so the progress bar moves and early rows finish first.
    ordered = sorted(plan.cells, key=lambda c: (c.row, c.variant))
    models = [m for r in resolved for m in r.models]
    if models and all(capabilities(m.provider).one_at_a_time for m in models):
        # Threads would only queue for the one model, in no order, costing its prompt cache
        # the prefix each cell shares with the one before: in turn is faster.
        concurrency = 1
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="compare")
    try:
        for cell in ordered:
            pool.submit(run_cell, cell)
        done = 0
        while done < len(ordered):  # every cell posts exactly one result, even on failure
            event = events.get()
            if event.result is not None:
                done += 1
            yield event
        set_status(settings.db, run_id, "done")
    finally:
        cancel.set()      # no-op after a full run; stops calls in flight otherwise
        pool.shutdown(wait=True)
        if run_status(settings.db, run_id) == "running":
            set_status(settings.db, run_id, "cancelled")
