"""Stored compare runs: their cells, votes, and the statistics drawn from them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from lib.compare.checks import Check
from lib.compare.stats import VariantScore, scores
from lib.compare.variants import LETTERS, AnyVariant, variant_label
from lib.core import CompareError, NotFoundError, now_iso
from lib.storage import Database

OUTCOMES = ("left", "right", "tie", "both_bad")


def outcome_label(left: int, right: int, outcome: str) -> str:
    """A vote in words, for the pair it was cast on ("C better", not "A better")."""
    return {"left": f"{LETTERS[left]} better", "right": f"{LETTERS[right]} better",
            "tie": "Tie", "both_bad": "Both bad"}[outcome]


@dataclass
class CellResult:
    row: int
    variant: int
    output: str = ""
    status: str = "pending"          # ok | error | incomplete | cancelled | skipped
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro: int = 0
    ttft_ms: float | None = None
    total_ms: float | None = None
    call_id: int | None = None
    error: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    prompt_text: str = ""
    # How the cell ran: a tool variant's steps, calls and run id; reasoning tokens if reported
    trace: dict[str, Any] = field(default_factory=dict)
    structured: str = ""             # valid | repaired | invalid, when the variant has a schema
    repairs: int = 0                 # repair attempts made
    priced: bool = True              # False: a call ran on a model whose price is unknown

    @property
    def reasoning_tokens(self) -> int:
        """Of its output tokens, those the model spent reasoning (0: none reported)."""
        return int(self.trace.get("reasoning_tokens", 0))


def create_run(db: Database, title: str, resolved: list[AnyVariant],
               rows: list[dict[str, Any]], checks: list[Check],
               dataset_id: int | None = None, *, owner: str | None = None) -> int:
    """Store a new run; `owner`: the signed-in user making it (runs are shared, shown)."""
    with db.connect(write=True) as conn:
        cur = conn.execute(
            "INSERT INTO compare_runs (created_at, title, dataset_id, variants, inputs, checks, "
            "owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), title, dataset_id, json.dumps([r.as_dict() for r in resolved]),
             json.dumps(rows), json.dumps([asdict(c) for c in checks]), owner))
    return int(cur.lastrowid)


# A cell saved again replaces every column but the key (a portable upsert).
_CELL_COLUMNS = ("prompt_text", "output", "status", "input_tokens", "output_tokens",
                 "cost_micro", "ttft_ms", "total_ms", "call_id", "error", "checks", "trace",
                 "structured", "repairs", "priced")
_SAVE_CELL = (f"INSERT INTO compare_cells (run_id, row_index, variant_index, "
              f"{', '.join(_CELL_COLUMNS)}) VALUES ({', '.join('?' * (len(_CELL_COLUMNS) + 3))})"
              " ON CONFLICT (run_id, row_index, variant_index) DO UPDATE SET "
              + ", ".join(f"{c} = excluded.{c}" for c in _CELL_COLUMNS))


def save_cell(db: Database, run_id: int, cell: CellResult) -> None:
    with db.connect(write=True) as conn:
        conn.execute(
            _SAVE_CELL,
            (run_id, cell.row, cell.variant, cell.prompt_text, cell.output, cell.status,
             cell.input_tokens, cell.output_tokens, cell.cost_micro, cell.ttft_ms,
             cell.total_ms, cell.call_id, cell.error, json.dumps(cell.checks),
             json.dumps(cell.trace), cell.structured or None, cell.repairs, int(cell.priced)))


def set_status(db: Database, run_id: int, status: str) -> None:
    with db.connect(write=True) as conn:
        mark_status(conn, run_id, status)


def mark_status(conn: Any, run_id: int, status: str) -> None:
    """Set a run's status inside the caller's write transaction (a batch closing its run)."""
    conn.execute("UPDATE compare_runs SET status = ? WHERE id = ?", (status, run_id))


def run_owner(db: Database, run_id: int) -> str | None:
    """Who made a run: its cells' calls (streamed or batched) are theirs."""
    with db.connect() as conn:
        row = conn.execute("SELECT owner FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def run_status(db: Database, run_id: int) -> str:
    with db.connect() as conn:
        row = conn.execute("SELECT status FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else "missing"


@dataclass
class Run:
    id: int
    title: str
    created_at: str
    status: str
    variants: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    checks: list[Check]
    cells: dict[tuple[int, int], CellResult]
    votes: dict[tuple[int, int, int], str]     # (row, left, right) -> outcome
    owner: str | None = None                   # who made it, when sign-in is on

    def pairs(self) -> list[tuple[int, int]]:
        n = len(self.variants)
        return [(a, b) for a in range(n) for b in range(a + 1, n)]

    def variant_label(self, i: int) -> str:
        return variant_label(i, self.variants[i])

    def scores(self) -> list[VariantScore]:
        return scores([(a, b, o) for (_, a, b), o in self.votes.items()], len(self.variants))

    def check_labels(self) -> list[str]:
        """Every check's label, then the per-field results a JSON fields check adds."""
        labels = [c.label for c in self.checks]
        for cell in self.cells.values():
            labels += [k for k in cell.checks if k not in labels]
        return labels

    def pass_rates(self) -> list[dict[str, float]]:
        """Per variant, the share of finished cells passing each check."""
        out, labels = [], self.check_labels()
        for v in range(len(self.variants)):
            cells = [c for (_, vi), c in self.cells.items() if vi == v and c.status == "ok"]
            out.append({label: (sum(cell.checks.get(label, False) for cell in cells)
                                / len(cells)) if cells else 0.0 for label in labels})
        return out

    def structured_rates(self) -> list[dict[str, float] | None]:
        """Per variant with an output schema: shares of valid, repaired and invalid replies."""
        out: list[dict[str, float] | None] = []
        for v in range(len(self.variants)):
            marks = [c.structured for (_, vi), c in self.cells.items()
                     if vi == v and c.structured]
            out.append({s: marks.count(s) / len(marks) for s in ("valid", "repaired",
                                                                 "invalid")} if marks else None)
        return out


def list_runs(db: Database) -> list[tuple[int, str, str, str, str | None]]:
    """(id, title, created_at, status, owner), newest first."""
    with db.connect() as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT id, title, created_at, status, owner FROM compare_runs ORDER BY id DESC")]


def load_run(db: Database, run_id: int) -> Run:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Compare run {run_id} no longer exists.")
        cells = conn.execute("SELECT * FROM compare_cells WHERE run_id = ?", (run_id,)).fetchall()
        votes = conn.execute("SELECT row_index, left_variant, right_variant, outcome FROM votes "
                             "WHERE run_id = ?", (run_id,)).fetchall()
    results = {}
    for c in cells:
        results[(c["row_index"], c["variant_index"])] = CellResult(
            c["row_index"], c["variant_index"], c["output"], c["status"], c["input_tokens"],
            c["output_tokens"], c["cost_micro"], c["ttft_ms"], c["total_ms"], c["call_id"],
            c["error"] or "", json.loads(c["checks"]), c["prompt_text"], json.loads(c["trace"]),
            c["structured"] or "", c["repairs"], bool(c["priced"]))
    return Run(row["id"], row["title"], row["created_at"], row["status"],
               json.loads(row["variants"]), json.loads(row["inputs"]),
               [Check(**c) for c in json.loads(row["checks"])], results,
               {(v[0], v[1], v[2]): v[3] for v in votes}, row["owner"])


def vote(db: Database, run_id: int, row: int, left: int, right: int, outcome: str) -> None:
    """Record (or change) the vote for one pair on one row."""
    if outcome not in OUTCOMES:
        raise CompareError(f"Unknown vote {outcome!r}.")
    if not 0 <= left < right <= 3:
        raise CompareError("A vote compares two different variants, left before right.")
    with db.connect(write=True) as conn:
        conn.execute("INSERT INTO votes (run_id, row_index, left_variant, right_variant, outcome,"
                     " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, row_index, "
                     "left_variant, right_variant) DO UPDATE SET outcome = excluded.outcome, "
                     "created_at = excluded.created_at",
                     (run_id, row, left, right, outcome, now_iso()))
