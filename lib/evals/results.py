"""Eval results: one row per candidate (prompt, version) of an eval run, newest last. What a
label move asks for (lib.evals.promotion) and what the Prompts page shows beside a version."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib.core import now_iso
from lib.storage import Database

_COLUMNS = ("id, created_at, eval_name, eval_path, prompt, version, passed, run_id, summary, "
            "created_by")


@dataclass(frozen=True)
class EvalRecord:
    """One eval's verdict on one prompt version; `id` and `created_at` are set once stored."""

    eval_name: str
    prompt: str
    version: int
    passed: bool
    eval_path: str = ""
    run_id: int | None = None              # the Compare run the eval made, if any
    summary: dict[str, Any] = field(default_factory=dict)  # pass rates, regressions, cost
    created_by: str | None = None
    id: int | None = None
    created_at: str = ""


def record_result(db: Database, record: EvalRecord) -> int:
    """Store a result (its created_at: now, unless given); its id."""
    with db.connect(write=True) as conn:
        cur = conn.execute(
            "INSERT INTO eval_results (created_at, eval_name, eval_path, prompt, version, "
            "passed, run_id, summary, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.created_at or now_iso(), record.eval_name, record.eval_path, record.prompt,
             int(record.version), int(record.passed), record.run_id,
             json.dumps(record.summary, ensure_ascii=False), record.created_by))
        return int(cur.lastrowid)


def latest_result(db: Database, prompt: str, version: int,
                  eval_name: str) -> EvalRecord | None:
    """The newest result of `eval_name` for that version: a failing newest result stands, even
    after an older passing one."""
    with db.connect() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM eval_results WHERE prompt = ? AND "
                           "version = ? AND eval_name = ? ORDER BY id DESC LIMIT 1",
                           (prompt, int(version), eval_name)).fetchone()
    return None if row is None else _record(row)


def latest_by_version(db: Database, prompt: str) -> dict[int, EvalRecord]:
    """Each version's newest result of any eval."""
    with db.connect() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM eval_results WHERE id IN (SELECT MAX(id) "
                            "FROM eval_results WHERE prompt = ? GROUP BY version)",
                            (prompt,)).fetchall()
    return {int(row["version"]): _record(row) for row in rows}


def _record(row: Any) -> EvalRecord:
    return EvalRecord(row["eval_name"], row["prompt"], int(row["version"]), bool(row["passed"]),
                      row["eval_path"], row["run_id"], json.loads(row["summary"]),
                      row["created_by"], int(row["id"]), row["created_at"])


def record_outcome(db: Database, result: dict[str, Any], *, by: str | None = None) -> list[int]:
    """Store an eval result (lib.evals.gate.judge) for each candidate it ran: a candidate
    passes when the run is complete and the gate holds nothing against it."""
    ids = []
    for v in result["variants"]:
        if v["role"] != "candidate":
            continue
        held = [f["text"] for f in result["findings"]
                if f["variant"] == v["index"] and f["kind"] != "baseline"]
        ids.append(record_result(db, EvalRecord(
            result["eval"], v["prompt"], v["version"],
            result["status"] in ("passed", "failed") and not held, result["file"],
            result["run_id"], {"status": result["status"], "findings": held,
                               "pass_rates": v["pass_rates"], "cost_micro": v["cost_micro"],
                               "run_url": result["run_url"]}, by)))
    return ids
