"""Stored workflow runs: each run, its steps as they end, and the run read back as a tree
(run → steps → items → ledger rows) for a trace view."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib import spend
from lib.core import NotFoundError, now_iso
from lib.spend import CallRecord
from lib.storage import Database


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class RunRow:
    id: str
    workflow: str
    version: int | None
    inputs: dict[str, Any]
    status: str
    started_at: str
    finished_at: str | None = None
    ms: float | None = None
    forecast_micro: int = 0
    cost_micro: int = 0
    created_by: str | None = None
    error: str | None = None


@dataclass
class StepNode:
    step: str
    position: int
    kind: str
    status: str
    cause: str | None = None
    output: Any = None
    error: str | None = None
    started_at: str | None = None
    ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro: int = 0
    calls: list[CallRecord] = field(default_factory=list)   # the step's own (not its items')
    items: list[dict[str, Any]] = field(default_factory=list)  # each with its "calls" rows


@dataclass
class RunTree:
    run: RunRow
    steps: list[StepNode]


def create_run(db: Database, run_id: str, workflow: str, version: int | None,
               inputs: dict[str, Any], *, forecast_micro: int = 0,
               user: str | None = None) -> None:
    with db.connect(write=True) as conn:
        conn.execute("INSERT INTO workflow_runs (id, workflow, version, inputs, status, "
                     "started_at, forecast_micro, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (run_id, workflow, version, _json(inputs), "running", now_iso(),
                      forecast_micro, user))


def save_step(db: Database, run_id: str, step: str, position: int, kind: str, status: str,
              *, cause: str | None = None, output: Any = None, error: str | None = None,
              started_at: str | None = None, ms: float | None = None,
              calls: list[int] | None = None, items: list[dict[str, Any]] | None = None,
              input_tokens: int = 0, output_tokens: int = 0, cost_micro: int = 0) -> None:
    """A step's state (written when it ends; again if it is written twice)."""
    row = (run_id, step, position, kind, status, cause,
           None if output is None else _json(output), error, started_at, ms,
           _json(calls or []), _json(items or []), input_tokens, output_tokens, cost_micro)
    with db.connect(write=True) as conn:
        conn.execute(
            "INSERT INTO workflow_steps (run_id, step, position, kind, status, cause, output, "
            "error, started_at, ms, calls, items, input_tokens, output_tokens, cost_micro) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step) "
            "DO UPDATE SET status = excluded.status, cause = excluded.cause, "
            "output = excluded.output, error = excluded.error, "
            "started_at = excluded.started_at, ms = excluded.ms, calls = excluded.calls, "
            "items = excluded.items, input_tokens = excluded.input_tokens, "
            "output_tokens = excluded.output_tokens, cost_micro = excluded.cost_micro", row)


def finish_run(db: Database, run_id: str, status: str, *, ms: float, cost_micro: int,
               error: str | None = None) -> None:
    with db.connect(write=True) as conn:
        conn.execute("UPDATE workflow_runs SET status = ?, finished_at = ?, ms = ?, "
                     "cost_micro = ?, error = ? WHERE id = ?",
                     (status, now_iso(), ms, cost_micro, error, run_id))


def _run_row(row: Any) -> RunRow:
    data = dict(row)
    data["inputs"] = json.loads(data["inputs"])
    return RunRow(**data)


def list_runs(db: Database, workflow: str | None = None, *, user: str | None = None,
              limit: int = 50) -> list[RunRow]:
    """The latest runs, newest first (of one workflow, of one user's, when given)."""
    where, args = [], []
    if workflow is not None:
        where.append("workflow = ?")
        args.append(workflow)
    if user is not None:
        where.append("created_by = ?")
        args.append(user)
    sql = "SELECT * FROM workflow_runs" + (f" WHERE {' AND '.join(where)}" if where else "")
    with db.connect() as conn:
        rows = conn.execute(sql + " ORDER BY started_at DESC, id LIMIT ?",
                            [*args, limit]).fetchall()
    return [_run_row(r) for r in rows]


def load_run(db: Database, run_id: str) -> RunTree:
    """A run as a tree: its steps in file order, each with its ledger rows and items."""
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM workflow_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no workflow run {run_id!r}.")
        steps = conn.execute("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY position",
                             (run_id,)).fetchall()
    calls = {c.id: c for c in spend.run_calls(db, run_id)}
    tree = RunTree(_run_row(row), [])
    for s in steps:
        data = dict(s)
        data.pop("run_id")
        ids, items = json.loads(data.pop("calls")), json.loads(data.pop("items"))
        data["output"] = None if data["output"] is None else json.loads(data["output"])
        for item in items:
            item["calls"] = [calls[i] for i in item.get("calls", []) if i in calls]
        tree.steps.append(StepNode(**data, calls=[calls[i] for i in ids if i in calls],
                                   items=items))
    return tree
