"""A workflow run's trace on the Workflows page (`?run=<id>`): the run (status, version,
inputs, forecast against cost, time) over its steps in file order, each with its output or
error, its items (a map's elements, an orchestrator's sub-tasks) and its ledger rows, each
linked to its call's page."""

from __future__ import annotations

import json

import streamlit as st

from lib.core import PromptLabError, Settings, format_cost
from lib.spend import CallRecord
from lib.ui.kit import app
from lib.ui.kit.links import call_link
from lib.ui.kit.text import md, plain
from lib.ui.workflows.marks import MARKS, node_line, run_line, show_value
from lib.workflows import RunRow, RunTree, StepNode, list_runs, load_run

PICK = "wf_trace_pick"


def run_option(run: RunRow) -> str:
    """A run in the picker (options are shown as plain text)."""
    return (f"{run.started_at[:19].replace('T', ' ')} · v{run.version} · {run.status} · "
            f"{format_cost(run.cost_micro)} · {run.id[:8]}")


def _picked(key: str) -> None:
    st.query_params["run"] = st.session_state[key]


def trace_tab(settings: Settings, name: str, wanted: str | None, user: str | None) -> None:
    runs = list_runs(settings.db, name, user=user)
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    if wanted and wanted not in by_id:
        ids.insert(0, wanted)  # a bookmarked run older than the list still opens
    if not ids:
        st.info("No runs of this workflow yet: run it in the Run tab.",
                icon=":material/account_tree:")
        return
    key = f"{PICK}_{name}_{wanted}"
    run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else 0,
                          key=key, on_change=_picked, args=(key,),
                          format_func=lambda i: run_option(by_id[i]) if i in by_id else i)
    tree = _load(settings, run_id, user)
    if tree is None or tree.run.workflow != name:
        app.link_not_found("run of this workflow", app.Link(run_id, None))
        return
    draw(tree)


def _load(settings: Settings, run_id: str, user: str | None) -> RunTree | None:
    """The run, if it exists and is this user's to see (signed in: their own runs)."""
    try:
        tree = load_run(settings.db, run_id)
    except PromptLabError:
        return None
    return None if user is not None and tree.run.created_by != user else tree


def draw(tree: RunTree) -> None:
    run = tree.run
    st.markdown(run_line(run.id, run.status, run.cost_micro, run.ms or 0.0, run.error or ""))
    c = st.columns(4)
    c[0].metric("Version", plain(f"v{run.version}"))
    c[1].metric("Cost", plain(format_cost(run.cost_micro)),
                help=md("Forecast at most {}.", format_cost(run.forecast_micro)))
    c[2].metric("Time", md("{:,.1f} s", (run.ms or 0) / 1000))
    c[3].metric("Steps", md("{:,}", len(tree.steps)))
    st.caption(md("Run {} · started {}{}", run.id, run.started_at[:19].replace("T", " "),
                  f" by {run.created_by}" if run.created_by else ""))
    with st.expander("Inputs", icon=":material/input:"):
        st.code(json.dumps(run.inputs, indent=2, ensure_ascii=False), language="json",
                wrap_lines=True)
    for node in tree.steps:
        _step(node)


def _step(node: StepNode) -> None:
    with st.container(border=True):
        st.markdown(node_line(node))
        st.caption(md("{} step{}", node.kind, f" · started {node.started_at[11:19]}"
                      if node.started_at else ""))
        for call in node.calls:
            _call(call)
        if node.output is not None:
            with st.expander("Output", icon=":material/output:", expanded=not node.items):
                show_value(node.output)
        for item in node.items:
            status = str(item.get("status", "failed"))
            mark = MARKS.get(status, MARKS["failed"])
            with st.expander(md("{} item {} · {} · {}", mark, item.get("index", 0) + 1,
                                item.get("step", ""), status)):
                st.caption(plain("Input"))
                show_value(item.get("item"))
                if "output" in item:
                    st.caption(plain("Output"))
                    show_value(item["output"])
                if item.get("error"):
                    st.error(plain(item["error"]), icon=":material/error:")
                for call in item.get("calls", []):
                    _call(call)


def _call(call: CallRecord) -> None:
    """One ledger row: model, status, tokens, cost, time; linked to its page."""
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.caption(md("└ call #{} · {} · {} · {:,} in / {:,} out · {} · {:,.0f} ms", call.id,
                  call.model, call.status, call.input_tokens, call.output_tokens,
                  format_cost(call.cost_micro, not call.priced), call.total_ms))
    with c2:
        call_link(call.id)
