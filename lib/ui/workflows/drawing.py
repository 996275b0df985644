"""A workflow's graph as DOT text for st.graphviz_chart (drawn in the browser; no graphviz
package): a node per step shaped and coloured by its kind, an edge per output read, the steps
of one level (they run at once) side by side in a box, an orchestrator's workers hung off it
by dashed edges, the run's outputs double-bordered. Given step statuses (a run), nodes are
coloured by status instead."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.workflows import Resolved, reference

# kind -> (shape, fill): the kinds read apart by outline as well as colour.
KINDS = {
    "prompt": ("box", "#dbeafe"),
    "agent": ("hexagon", "#ede9fe"),
    "tool": ("cds", "#fef3c7"),
    "template": ("note", "#f3f4f6"),
    "condition": ("diamond", "#fce7f3"),
    "map": ("box3d", "#dcfce7"),
    "orchestrator": ("folder", "#cffafe"),
}
STATUS_FILL = {"waiting": "#f3f4f6", "running": "#fde68a", "done": "#86efac",
               "failed": "#fca5a5", "skipped": "#e5e7eb"}


def quoted(text: str) -> str:
    """A DOT string: quotes and backslashes escaped, line breaks as DOT's own."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _what(step: Any) -> str:
    """The second line of a node: what the step runs."""
    kind = step.kind
    if kind in ("prompt", "agent", "orchestrator"):
        model = f" on {step.model}" if step.model else ""
        return f"{kind}: {step.prompt}@{step.ref}{model}"
    if kind == "tool":
        return f"tool: {step.tool}"
    if kind == "map":
        return f"map over {step.over}, {step.concurrency} at once\neach: {_what(step.do)}"
    return kind


def _gate(when: str | None) -> tuple[str, str]:
    """(the step a `when` reads, "if" or "if not"); ("", "") for none."""
    if not when:
        return "", ""
    negated = when.strip().startswith("not ")
    ref = reference(when.strip()[4:] if negated else when)
    return (ref.source if ref else ""), ("if not" if negated else "if")


def dot(resolved: Resolved, status: dict[str, str] | None = None) -> str:
    """The graph of a resolved workflow; `status` (step -> waiting, running, done, failed,
    skipped) colours the steps by how a run stands."""
    wf, graph = resolved.wf, resolved.graph
    outputs = set(graph.outputs)
    lines = ["digraph workflow {", "  rankdir=TB; nodesep=0.35; ranksep=0.45;",
             '  node [fontname="sans-serif", fontsize=11, style="filled", color="#475569", '
             'fontcolor="#111111"];',
             '  edge [color="#64748b", fontcolor="#64748b", fontname="sans-serif"];']

    def node(sid: str, *, worker: bool = False) -> str:
        step = wf.steps[sid]
        shape, fill = KINDS.get(step.kind, ("box", "#ffffff"))
        if status is not None:
            fill = STATUS_FILL.get(status.get(sid, ""), fill)
        style = "filled,dashed" if worker or (status or {}).get(sid) == "skipped" else "filled"
        label = f"{sid}\n{_what(step)}" + (f"\n({status[sid]})" if status and sid in status
                                            else "")
        extra = ", peripheries=2" if sid in outputs else ""
        return (f"  {quoted(sid)} [label={quoted(label)}, shape={shape}, "
                f'fillcolor="{fill}", style="{style}"{extra}];')

    for i, level in enumerate(graph.levels):
        if len(level) > 1:  # these run at once: boxed together
            lines += [f"  subgraph cluster_level{i} {{",
                      f"    label={quoted(f'run at once ({len(level)})')}; style=dashed; "
                      'color="#94a3b8"; fontcolor="#64748b"; fontname="sans-serif"; fontsize=10;',
                      *(f"  {node(s)}" for s in level), "  }"]
        else:
            lines += [node(s) for s in level]
    for worker, owner in graph.workers.items():
        lines.append(node(worker, worker=True))
        lines.append(f'  {quoted(owner)} -> {quoted(worker)} [style=dashed, label="sub-tasks", '
                     'fontsize=9, dir=both, arrowtail=none];')
    for sid in graph.scheduled:
        gate = _gate(wf.steps[sid].when)
        for dep in sorted(graph.deps[sid]):
            label = f' [label="{gate[1]}", fontsize=9, style=bold]' if gate[0] == dep else ""
            lines.append(f"  {quoted(dep)} -> {quoted(sid)}{label};")
    lines.append("}")
    return "\n".join(lines)


def draw(slot: Any, resolved: Resolved, status: dict[str, str] | None = None) -> None:
    """The graph into `slot` (an st.empty, redrawn as a run's steps change state)."""
    slot.graphviz_chart(dot(resolved, status))


def legend() -> None:
    st.caption("Shapes: box prompt · hexagon agent · arrow tool · note template · diamond "
               "condition · 3-D box map · folder orchestrator (its workers dashed). Steps "
               "boxed together run at once; a double border is a run output.")
