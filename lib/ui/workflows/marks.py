"""How a step stands, in one line a person and a test can read: a mark that needs no emoji
font, the step, its state, and what it came to (tokens, cost, time; why it failed or was
skipped). The live run and the trace draw the same lines."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from lib.core import format_cost
from lib.ui.kit.text import Markdown, md
from lib.workflows import StepNode

MARKS = {
    "waiting": Markdown(":gray[:material/hourglass_empty:]"),
    "running": Markdown(":orange[:material/progress_activity:]"),
    "done": Markdown(":green[:material/check_circle:]"),
    "failed": Markdown(":red[:material/cancel:]"),
    "stopped": Markdown(":red[:material/stop_circle:]"),
    "skipped": Markdown(":gray[:material/skip_next:]"),
}
CAUSES = {"dependency": "not run", "stopped": "stopped", "error": "failed"}


def step_line(step: str, status: str, *, cause: str | None = None, detail: str = "",
              ms: float | None = None, tokens: tuple[int, int] = (0, 0), cost: int = 0,
              items: int = 0) -> Markdown:
    """"✓ **merge** · done · 120 in / 40 out tokens · $0.0001 · 1.2 s", and the like."""
    shown = CAUSES.get(cause or "", status) if status == "failed" else status
    mark = MARKS["stopped" if cause == "stopped" else status]
    line = md("{} **{}** · {}", mark, step, shown)
    if items:
        line += md(" · {:,} item{}", items, "s" if items != 1 else "")
    if status == "done" and (any(tokens) or cost):  # a template or condition calls nothing
        line += md(" · {:,} in / {:,} out tokens · {}", tokens[0], tokens[1],
                   format_cost(cost))
    if ms is not None and status in ("done", "failed"):
        line += md(" · {:,.1f} s", ms / 1000)
    if detail:
        line += md(": {}", detail) if status in ("failed", "skipped") else md(" {}", detail)
    return line


def show_value(value: Any, container: Any = None) -> None:
    """An output as it is: text in a code block (never rendered as Markdown), JSON as JSON."""
    where = container if container is not None else st
    if isinstance(value, dict | list):
        where.code(json.dumps(value, indent=2, ensure_ascii=False), language="json",
                   wrap_lines=True)
    else:
        where.code("" if value is None else str(value), language=None, wrap_lines=True)


def run_line(run_id: str, status: str, cost: int, ms: float, error: str = "") -> Markdown:
    """"✓ Run 1a2b3c4d · done · $0.0001 · 3.2 s", and what failed first."""
    mark = MARKS.get(status, MARKS["running"])
    line = md("{} **Run {}** · {} · {} · {:,.1f} s", mark, run_id[:8], status,
              format_cost(cost), ms / 1000)
    return line + md(" — {}", error) if error else line


def node_line(node: StepNode) -> Markdown:
    """A stored step's line (lib.workflows.load_run)."""
    return step_line(node.step, node.status, cause=node.cause,
                     detail=node.error or "", ms=node.ms, items=len(node.items),
                     cost=node.cost_micro, tokens=(node.input_tokens, node.output_tokens))
