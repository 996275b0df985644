"""Running a workflow: steps start as soon as what they read is done — those with no edge
between them at once, each in its own thread (the provider rate limits of lib.llm bound them
per provider). Before any call: the inputs checked, the forecast, and one budget hold for the
run (lib.workflows.budget), which a budget may refuse. A failing step fails its dependents,
not its siblings; Stop cancels the running calls, keeps the finished steps, and gives back
what the run still holds. The run and each step are stored as they end (lib.workflows.runs).

    run = WorkflowRun(settings, resolved, {"code": "..."})   # checked; nothing sent yet
    run.forecast                                              # calls and most cost
    for event in run: ...                                     # lib.workflows.events
    run.stop()                                                # from another thread
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lib import telemetry
from lib.core import PromptLabError, Settings, VariableError, WorkflowError, now_iso
from lib.llm import Calls, LedgerRecorder, price_unknown, user_catalog_path
from lib.prompts import validate
from lib.spend import applies
from lib.workflows import kinds, runs
from lib.workflows.budget import RunBudget, StepRecorder
from lib.workflows.events import (
    RunDone,
    RunStarted,
    StepDone,
    StepFailed,
    StepRunning,
    StepSkipped,
    StepWaiting,
)
from lib.workflows.graph import condition
from lib.workflows.planning import forecast
from lib.workflows.resolving import Resolved
from lib.workflows.spec import Workflow

MAX_PARALLEL = 32   # steps of one run in flight at once


def check_inputs(wf: Workflow, values: dict[str, Any]) -> dict[str, Any]:
    """The run's inputs, typed as declared (defaults filled); WorkflowError names the one
    missing, unknown or of the wrong type."""
    unknown = sorted(set(values) - set(wf.spec.inputs))
    if unknown:
        raise WorkflowError(f"{wf.name} has no input {unknown[0]!r}.",
                            hint=f"Its inputs: {', '.join(wf.spec.inputs) or 'none'}.")
    try:
        return validate(wf.variables, values)
    except VariableError as exc:
        raise WorkflowError(exc.message.replace("Variable", "Input"), hint=exc.hint) from None


@dataclass
class _Ended:
    """A step's thread is done: its output, or what stopped it."""

    step: str
    job: kinds.StepJob
    ms: float
    started_at: str
    output: Any = None
    error: BaseException | None = None


class WorkflowRun:
    """One run of a resolved workflow; iterate once for its events."""

    def __init__(self, settings: Settings, resolved: Resolved, inputs: dict[str, Any], *,
                 user: str | None = None, api_key_id: int | None = None,
                 calls: Calls | None = None, cancel: threading.Event | None = None) -> None:
        """`calls`: the seam to call through (tests: a scripted provider); each step gets
        its own copy, whose recorder draws on the run's hold."""
        self.settings, self.resolved, self.wf = settings, resolved, resolved.wf
        self.inputs = check_inputs(self.wf, inputs)
        self.forecast = forecast(settings, resolved, self.inputs)
        self.user, self.api_key_id = user, api_key_id
        self.calls = calls or Calls(settings)
        self.cancel = cancel or threading.Event()
        self.run_id = uuid.uuid4().hex
        self.budget = RunBudget(settings.db, user=user, api_key=api_key_id)
        self.status: dict[str, str] = {s: "waiting" for s in resolved.graph.scheduled}
        self.outputs: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self._reserved = False

    def stop(self) -> None:
        self.cancel.set()

    def reserve(self) -> None:
        """Hold the forecast now: BudgetExceededError before any call if a budget cannot
        take it (or a model under a budget has no price)."""
        if self._reserved:
            return
        db = self.settings.db
        for plan in self.resolved.models.values():
            if not plan.model.priced and applies(db, plan.model.provider,
                                                 api_key=self.api_key_id, user=self.user):
                raise price_unknown(plan.model, str(user_catalog_path(self.settings)),
                                    "this workflow run")
        self.budget.hold(self.forecast.cost_by_provider(),
                         self.forecast.cost_by_provider(bound=True))
        self._reserved = True

    def __iter__(self) -> Any:
        return self._events()

    def _events(self) -> Any:
        graph, db, started = self.resolved.graph, self.settings.db, time.perf_counter()
        self.reserve()
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        pool = concurrent.futures.ThreadPoolExecutor(
            max(1, min(len(graph.scheduled), MAX_PARALLEL)), thread_name_prefix="workflow")
        running: set[str] = set()
        cost = 0
        try:
            runs.create_run(db, self.run_id, self.wf.name, self.wf.version, self.inputs,
                            forecast_micro=self.forecast.max_cost_micro, user=self.user)
            yield RunStarted(self.run_id, self.wf.name, self.wf.version, self.forecast,
                             tuple(tuple(level) for level in graph.levels))
            for sid in graph.scheduled:
                yield StepWaiting(sid, tuple(sorted(graph.deps[sid])))
            while True:
                for sid in [s for s in graph.scheduled if self.status[s] == "waiting"]:
                    decided = self._decide(sid)
                    if decided == "run":
                        self.status[sid] = "running"
                        running.add(sid)
                        pool.submit(telemetry.carried(self._work), sid, q)
                    elif isinstance(decided, StepFailed | StepSkipped):
                        self._save(sid, decided)
                        yield decided
                if not running:
                    break
                event = q.get()
                if isinstance(event, _Ended):
                    running.discard(event.step)
                    ended = self._ended(event)
                    cost += sum(r.cost_micro for r in event.job.records)
                    self._save(event.step, ended, event)
                    yield ended
                else:
                    yield event
        finally:
            if running:  # the caller stopped listening: the run stops with it
                self.cancel.set()
            pool.shutdown(wait=True)
            # Steps that ended after the caller stopped listening are stored all the same.
            while running:
                try:
                    event = q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(event, _Ended):
                    running.discard(event.step)
                    cost += sum(r.cost_micro for r in event.job.records)
                    self._save(event.step, self._ended(event), event)
            if self.cancel.is_set():  # and the steps that never began say so
                for sid in [s for s in graph.scheduled if self.status[s] == "waiting"]:
                    self.status[sid] = "failed"
                    self._save(sid, StepFailed(sid, "Stopped before it began.", "stopped"))
            self.budget.release()
            status, failed, error = self._outcome()
            runs.finish_run(db, self.run_id, status, ms=(time.perf_counter() - started) * 1000,
                            cost_micro=cost, error=error or None)
        yield RunDone(self.run_id, status,
                      {s: self.outputs[s] for s in graph.outputs if s in self.outputs},
                      failed, tuple(s for s, v in self.status.items() if v == "skipped"),
                      cost, (time.perf_counter() - started) * 1000, error)

    def _decide(self, sid: str) -> str | StepFailed | StepSkipped | None:
        """"run", the event that ends the step without running it, or None: not yet."""
        deps = sorted(self.resolved.graph.deps[sid])
        if any(self.status[d] in ("waiting", "running") for d in deps):
            return None
        if self.cancel.is_set():
            self.status[sid] = "failed"
            return StepFailed(sid, "Stopped before it began.", "stopped")
        if failed := [d for d in deps if self.status[d] == "failed"]:
            self.status[sid] = "failed"
            return StepFailed(sid, f"Not run: it needs {failed[0]}, which failed.",
                              "dependency")
        if skipped := [d for d in deps if self.status[d] == "skipped"]:
            self.status[sid] = "skipped"
            return StepSkipped(sid, f"It needs {skipped[0]}, which was skipped.")
        when = self.wf.steps[sid].when
        if when is not None:
            ref, negated = condition(when)
            assert ref is not None  # the graph refused any other
            if bool(ref.value(self.inputs, self.outputs)) == negated:
                self.status[sid] = "skipped"
                return StepSkipped(sid, f"`{when}` is false.")
        return "run"

    def _work(self, sid: str, q: queue.SimpleQueue[Any]) -> None:
        """A step, in its thread; its events go on the queue, its end last."""
        calls = dataclasses.replace(self.calls, recorder=StepRecorder(
            self.calls.recorder or LedgerRecorder(self.settings.db), self.budget, self.run_id,
            self.wf.position(sid)))
        job = kinds.StepJob(self.settings, self.resolved, self.run_id, self.wf.position(sid),
                            calls, self.cancel, q.put, self.inputs, dict(self.outputs),
                            self.user, self.api_key_id)
        started, at = time.perf_counter(), now_iso()
        q.put(StepRunning(sid))
        try:
            with telemetry.workflow_step(self.wf.name, sid):
                output = kinds.run(job, sid)
            q.put(_Ended(sid, job, (time.perf_counter() - started) * 1000, at, output))
        except BaseException as exc:  # every end reaches the run, which says what it was
            q.put(_Ended(sid, job, (time.perf_counter() - started) * 1000, at, error=exc))

    def _ended(self, e: _Ended) -> StepDone | StepFailed:
        if e.error is None:
            self.status[e.step], self.outputs[e.step] = "done", e.output
            rows = e.job.records
            return StepDone(e.step, e.output, e.ms, sum(r.input_tokens for r in rows),
                            sum(r.output_tokens for r in rows),
                            sum(r.cost_micro for r in rows),
                            tuple(r.id for r in rows if r.id is not None))
        self.status[e.step] = "failed"
        stopped = isinstance(e.error, kinds.Stopped) or (
            self.cancel.is_set() and isinstance(e.error, PromptLabError))
        text = str(e.error) if isinstance(e.error, PromptLabError) \
            else f"{type(e.error).__name__}: {e.error}"
        self.errors[e.step] = text
        return StepFailed(e.step, text, "stopped" if stopped else "error", e.ms)

    def _save(self, sid: str, event: StepDone | StepFailed | StepSkipped,
              ended: _Ended | None = None) -> None:
        job = ended.job if ended else None
        own = {i for item in (job.items if job else []) for i in item.get("calls", [])}
        runs.save_step(
            self.settings.db, self.run_id, sid, self.wf.position(sid), self.wf.steps[sid].kind,
            self.status[sid], cause=getattr(event, "cause", None),
            output=getattr(event, "output", None),
            error=getattr(event, "error", None) or getattr(event, "reason", None),
            started_at=ended.started_at if ended else None, ms=ended.ms if ended else None,
            calls=[r.id for r in (job.records if job else []) if r.id is not None
                   and r.id not in own],
            items=job.items if job else None,
            input_tokens=getattr(event, "input_tokens", 0),
            output_tokens=getattr(event, "output_tokens", 0),
            cost_micro=getattr(event, "cost_micro", 0))

    def _outcome(self) -> tuple[str, tuple[str, ...], str]:
        """(status, the failed steps, the first error)."""
        failed = tuple(s for s, v in self.status.items() if v == "failed")
        error = next(iter(self.errors.values()), "")
        if self.cancel.is_set() and any(v != "done" for v in self.status.values()
                                        if v != "skipped"):
            return "stopped", failed, error
        return ("failed" if failed else "done"), failed, error


def start(settings: Settings, name: str, ref: str | int = "latest",
          inputs: dict[str, Any] | None = None, **options: Any) -> WorkflowRun:
    """A run of stored workflow `name` at `ref` (label or version) with `inputs`, checked and
    forecast, nothing sent: iterate it. WorkflowError names a bad file or input."""
    from lib.workflows.store import WorkflowStore

    return WorkflowRun(settings, WorkflowStore(settings).resolved(name, ref), inputs or {},
                       **options)
