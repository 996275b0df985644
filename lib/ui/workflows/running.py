"""Running a workflow on the Workflows page: a typed form for its inputs, the forecast (calls,
most cost) and the budget's word before anything is sent, then Run: each step's state live
(waiting, running with its text streaming, done with tokens, cost and time, failed and why,
skipped) and the graph coloured to match, a Stop button that cancels what runs and keeps what
finished; then the outputs, read back from the stored run."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from lib import spend
from lib.core import PromptLabError, Settings, format_cost
from lib.ui.kit import stored_prompts
from lib.ui.kit.text import md, plain
from lib.ui.kit.widgets import guarded, show_error
from lib.ui.workflows import drawing
from lib.ui.workflows.marks import node_line, run_line, show_value, step_line
from lib.workflows import (
    Forecast,
    Resolved,
    RunDone,
    RunStarted,
    RunTree,
    StepDelta,
    StepDone,
    StepFailed,
    StepRunning,
    StepSkipped,
    StepWaiting,
    WorkflowEvent,
    WorkflowRun,
    load_run,
)

LAST = "wf_last_run"    # session: workflow name -> the id of the run started here last
REDRAW_EVERY = 0.1      # seconds between redraws of a step's streaming text


def last_run(name: str) -> str | None:
    return st.session_state.get(LAST, {}).get(name)


def run_tab(settings: Settings, resolved: Resolved, user: str | None) -> None:
    """The graph, the inputs, the forecast and the budget's word, Run and Stop, the last run."""
    wf = resolved.wf
    graph_slot = st.empty()
    drawing.draw(graph_slot, resolved)
    drawing.legend()
    st.markdown("**Inputs**")
    values = stored_prompts.variable_form(list(wf.variables), key=f"wf_in_{wf.name}_{wf.version}")
    run = guarded(lambda: WorkflowRun(settings, resolved, values, user=user))
    ready = run is not None and _affordable(settings, run.forecast, user)
    c1, c2 = st.columns([1, 6])
    go = c1.button("Run", type="primary", icon=":material/play_arrow:", key="wf_run",
                   disabled=not ready, width="stretch")
    stop_slot = c2.empty()
    if go and run is not None:
        _live(run, graph_slot, stop_slot)
    run_id = last_run(wf.name)
    if run_id is not None:
        tree = guarded(lambda: load_run(settings.db, run_id))
        if tree is not None and tree.run.version == wf.version:
            drawing.draw(graph_slot, resolved, {n.step: n.status for n in tree.steps})
            outcome(tree, resolved)


def _affordable(settings: Settings, plan: Forecast, user: str | None) -> bool:
    """The forecast, and whether the run may start: no budget refuses it, and a costly one is
    accepted first."""
    st.markdown(md("**Forecast:** at most {:,} model call{}; at most **{}** (input plus each "
                   "call's maximum output).", plan.calls, "" if plan.calls == 1 else "s",
                   format_cost(plan.max_cost_micro, plan.unpriced)))
    with st.expander("Forecast per step", icon=":material/calculate:"):
        st.dataframe([{"step": s.step, "calls": s.calls, "input tokens": s.input_tokens,
                       "at most": format_cost(s.max_cost_micro, not s.priced),
                       "provider": s.provider or "—"} for s in plan.steps],
                     hide_index=True, width="stretch")
    refused = spend.refusal(settings.db, plan.cost_by_provider(), user=user)
    if refused:
        st.error(plain(refused), icon=":material/block:")
        st.caption("Nothing is sent. Raise the budget on the Costs page, or lower the steps' "
                   "max tokens, or run the steps on the local model, which is free.")
        return False
    needs_ok = plan.max_cost_micro > settings.confirm_above_usd * 1_000_000 or plan.unpriced
    return not needs_ok or st.checkbox(
        md("I accept spending up to {} on this run.",
           format_cost(plan.max_cost_micro, plan.unpriced)), key="wf_confirm")


def _live(run: WorkflowRun, graph_slot: Any, stop_slot: Any) -> None:
    """The run, drawn as it goes; a Stop (a rerun) interrupts the drawing, and the run is
    stopped and run to its end (its finished steps kept) before the page draws again."""
    try:
        run.reserve()  # the budget's refusal, before any call
    except PromptLabError as exc:
        show_error(exc)
        return
    stop_slot.button("Stop", icon=":material/stop_circle:", key="wf_stop")
    board = Board(run.resolved, graph_slot, st.container())
    events = iter(run)
    ended = False
    try:
        for event in events:
            if isinstance(event, RunStarted):  # a Stop or a reload lands on this run
                st.session_state.setdefault(LAST, {})[run.wf.name] = event.run_id
                st.query_params["run"] = event.run_id
            board.apply(event)
            ended = isinstance(event, RunDone)
    except PromptLabError as exc:
        show_error(exc)
        return
    finally:
        if not ended:  # Stop (or the page left): the run stops, storing what it stopped
            run.stop()
            events.close()
    stop_slot.empty()
    st.rerun()  # the outcome is drawn from the stored run, as on any later visit


class Board:
    """Each step's line (and its text) in a slot of its own, redrawn as its events come; the
    graph recoloured when a step changes state."""

    def __init__(self, resolved: Resolved, graph_slot: Any, body: Any) -> None:
        self.resolved, self.graph_slot = resolved, graph_slot
        steps = resolved.graph.scheduled
        self.status = {s: "waiting" for s in steps}
        self.needs: dict[str, tuple[str, ...]] = {}
        self.texts: dict[str, dict[int | None, str]] = {s: {} for s in steps}
        self.items = dict.fromkeys(steps, 0)
        self.drawn = dict.fromkeys(steps, 0.0)
        self.head = body.empty()
        self.slots = {s: body.empty() for s in steps}

    def apply(self, event: WorkflowEvent) -> None:
        if isinstance(event, RunStarted):
            self.head.caption(md("Run {} of {} v{} · at most {} · running…", event.run_id[:8],
                                 event.workflow, event.version,
                                 format_cost(event.forecast.max_cost_micro,
                                             event.forecast.unpriced)))
        elif isinstance(event, RunDone):
            self.head.markdown(run_line(event.run_id, event.status, event.cost_micro,
                                        event.ms, event.error))
        elif isinstance(event, StepWaiting):
            self.needs[event.step] = event.needs
            self._draw(event.step)
        elif isinstance(event, StepRunning):
            self.items[event.step] += event.item is not None
            self._moved(event.step, "running")
        elif isinstance(event, StepDelta):
            texts = self.texts[event.step]
            texts[event.item] = texts.get(event.item, "") + event.text
            if time.monotonic() - self.drawn[event.step] >= REDRAW_EVERY:
                self._draw(event.step)
        elif isinstance(event, StepDone | StepFailed | StepSkipped):
            status = {StepDone: "done", StepFailed: "failed", StepSkipped: "skipped"}[
                type(event)]
            self._moved(event.step, status, event)

    def _moved(self, sid: str, status: str, event: Any = None) -> None:
        changed = self.status[sid] != status
        self.status[sid] = status
        self._draw(sid, event)
        if changed:
            drawing.draw(self.graph_slot, self.resolved, self.status)

    def _draw(self, sid: str, event: Any = None) -> None:
        self.drawn[sid] = time.monotonic()
        status, items = self.status[sid], self.items[sid]
        if isinstance(event, StepDone):
            line = step_line(sid, status, ms=event.ms, items=items, cost=event.cost_micro,
                             tokens=(event.input_tokens, event.output_tokens))
        elif isinstance(event, StepFailed):
            line = step_line(sid, status, cause=event.cause, detail=event.error, ms=event.ms,
                             items=items)
        elif isinstance(event, StepSkipped):
            line = step_line(sid, status, detail=event.reason)
        elif status == "waiting":
            needs = self.needs.get(sid, ())
            line = step_line(sid, status, detail=f"for {', '.join(needs)}" if needs else "")
        else:
            line = step_line(sid, status, items=items)
        with self.slots[sid].container(border=True):
            st.markdown(line)
            if isinstance(event, StepDone):
                show_value(event.output)
            elif texts := self.texts[sid]:
                show_value("\n\n".join(t if i is None else f"[{i + 1}] {t}"
                                       for i, t in sorted(texts.items(),
                                                          key=lambda kv: kv[0] or 0)))


def outcome(tree: RunTree, resolved: Resolved) -> None:
    """A stored run in brief: how it ended, each step's line, the outputs."""
    run = tree.run
    with st.container(border=True):
        st.markdown(run_line(run.id, run.status, run.cost_micro, run.ms or 0.0,
                             run.error or ""))
        for node in tree.steps:
            st.markdown(node_line(node))
        outputs = [n for n in tree.steps if n.step in resolved.graph.outputs
                   and n.status == "done"]
        if outputs:
            st.markdown("**Outputs**")
        for node in outputs:
            st.caption(md("{}", node.step))
            show_value(node.output)
        st.caption(md("Every step, item and ledger row of this run: the Trace tab, or the "
                      "link /workflows?name={}&run={}.", run.workflow, run.id))
