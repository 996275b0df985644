"""A/B compare: 2-4 variants (prompt version x model x parameters) over one input or a dataset.

forecast() renders every cell and prices it before anything is spent; execute() streams the
cells in parallel under a concurrency limit; runs, cells and votes are stored for later.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lib import db
from lib.calls import Call, CallContext, RetryPolicy
from lib.catalog import Catalog, ModelInfo
from lib.checks import Check, run_checks
from lib.errors import PromptLabError, TemplateError
from lib.ledger import now_iso
from lib.prompts import Prompt, PromptStore
from lib.providers import get_provider
from lib.providers.base import ChatRequest, Error, Message, Provider, TextDelta
from lib.settings import Settings
from lib.stats import VariantScore, scores
from lib.templating import render, validate
from lib.tokens import counter_for

LETTERS = "ABCD"
OUTCOMES = ("left", "right", "tie", "both_bad")


def outcome_label(left: int, right: int, outcome: str) -> str:
    """A vote in words, for the pair it was cast on ("C better", not "A better")."""
    return {"left": f"{LETTERS[left]} better", "right": f"{LETTERS[right]} better",
            "tie": "Tie", "both_bad": "Both bad"}[outcome]


@dataclass(frozen=True)
class Variant:
    prompt: str
    ref: str                 # a label or "v3"
    model: str               # catalog key
    temperature: float = 0.7
    max_tokens: int = 256


@dataclass(frozen=True)
class ResolvedVariant:
    variant: Variant
    prompt: Prompt
    version: int
    source: str
    model: ModelInfo

    def label(self, index: int) -> str:
        return variant_label(index, self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.variant), "version": self.version}


def variant_label(index: int, v: dict[str, Any]) -> str:
    return (f"{LETTERS[index]}: {v['prompt']} v{v['version']} · {v['model']} · "
            f"t={v['temperature']:g}")


def resolve(store: PromptStore, catalog: Catalog, variants: list[Variant]) -> list[ResolvedVariant]:
    if not 2 <= len(variants) <= 4:
        raise PromptLabError("Compare needs two to four variants.")
    out = []
    for v in variants:
        prompt = store.get(v.prompt)
        version = prompt.resolve(v.ref)
        model = catalog.get(v.model)
        out.append(ResolvedVariant(v, prompt, version, store.source(v.prompt, version), model))
    return out


def variables_of(resolved: list[ResolvedVariant]) -> list:
    """The union of the variants' declared variables, first declaration wins."""
    seen: dict[str, Any] = {}
    for r in resolved:
        for var in r.prompt.variables:
            seen.setdefault(var.name, var)
    return list(seen.values())


# -- forecast -------------------------------------------------------------------------------

@dataclass
class CellPlan:
    row: int
    variant: int
    text: str = ""
    error: str = ""
    input_tokens: int = 0
    max_cost_micro: int = 0
    over_window: bool = False


@dataclass
class Forecast:
    cells: list[CellPlan]
    n_rows: int
    n_variants: int

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.cells)

    @property
    def max_cost_micro(self) -> int:
        return sum(c.max_cost_micro for c in self.cells)

    @property
    def problems(self) -> list[CellPlan]:
        return [c for c in self.cells if c.error or c.over_window]

    def cost_by_provider(self, resolved: list[ResolvedVariant]) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            if not (c.error or c.over_window):
                provider = resolved[c.variant].model.provider
                out[provider] = out.get(provider, 0) + c.max_cost_micro
        return out

    def per_variant(self) -> list[dict[str, Any]]:
        out = []
        for v in range(self.n_variants):
            cells = [c for c in self.cells if c.variant == v]
            out.append({"variant": LETTERS[v], "rows": len(cells),
                        "input_tokens": sum(c.input_tokens for c in cells),
                        "max_cost_micro": sum(c.max_cost_micro for c in cells),
                        "over_window": sum(c.over_window for c in cells),
                        "errors": sum(bool(c.error) for c in cells)})
        return out


def request_for(r: ResolvedVariant, text: str) -> ChatRequest:
    return ChatRequest(r.model.id, (Message("user", text),),
                       temperature=r.variant.temperature if r.model.temperature else None,
                       max_tokens=min(r.variant.max_tokens, r.model.max_output))


def forecast(settings: Settings, resolved: list[ResolvedVariant],
             rows: list[dict[str, Any]]) -> Forecast:
    """Render every row for every variant, count its input with that model's tokenizer, and
    price it at input plus the maximum output. Nothing is sent anywhere."""
    cells = []
    for v, r in enumerate(resolved):
        counter = counter_for(r.model, settings)
        for i, row in enumerate(rows):
            cell = CellPlan(i, v)
            try:
                cell.text = render(r.source, validate(r.prompt.variables, row))
            except TemplateError as exc:
                cell.error = str(exc)
                cells.append(cell)
                continue
            request = request_for(r, cell.text)
            cell.input_tokens = counter.count_request(request)
            cell.max_cost_micro = r.model.cost_micro(cell.input_tokens, request.max_tokens)
            cell.over_window = cell.input_tokens + request.max_tokens > r.model.context_window
            cells.append(cell)
    return Forecast(cells, len(rows), len(resolved))


# -- running --------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class CellEvent:
    row: int
    variant: int
    delta: str = ""
    result: CellResult | None = None   # set once, when the cell is finished


def create_run(settings: Settings, title: str, resolved: list[ResolvedVariant],
               rows: list[dict[str, Any]], checks: list[Check],
               dataset_id: int | None = None) -> int:
    with db.connect(settings.db_path, write=True) as conn:
        cur = conn.execute(
            "INSERT INTO compare_runs (created_at, title, dataset_id, variants, inputs, checks) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now_iso(), title, dataset_id, json.dumps([r.as_dict() for r in resolved]),
             json.dumps(rows), json.dumps([asdict(c) for c in checks])))
    return int(cur.lastrowid)


def _save_cell(settings: Settings, run_id: int, cell: CellResult) -> None:
    with db.connect(settings.db_path, write=True) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO compare_cells (run_id, row_index, variant_index, prompt_text,"
            " output, status, input_tokens, output_tokens, cost_micro, ttft_ms, total_ms, call_id,"
            " error, checks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, cell.row, cell.variant, cell.prompt_text, cell.output, cell.status,
             cell.input_tokens, cell.output_tokens, cell.cost_micro, cell.ttft_ms,
             cell.total_ms, cell.call_id, cell.error, json.dumps(cell.checks)))


def execute(settings: Settings, run_id: int, resolved: list[ResolvedVariant], plan: Forecast,
            checks: list[Check], *, concurrency: int = 4,
            cancel: threading.Event | None = None,
            provider_for: Callable[[ModelInfo], Provider] | None = None,
            policy: RetryPolicy | None = None) -> Iterator[CellEvent]:
    """Stream every cell, row by row, at most `concurrency` calls at once.

    Closing the iterator (or setting `cancel`) stops the calls in flight, which are recorded
    as cancelled, and marks cells not yet started as cancelled too.
    """
    cancel = cancel or threading.Event()
    events: queue.Queue[CellEvent] = queue.Queue()
    policy = policy or RetryPolicy(deadline_s=settings.deadline_s)

    def run_cell(cell: CellPlan) -> None:
        r = resolved[cell.variant]
        result = CellResult(cell.row, cell.variant, prompt_text=cell.text)
        try:
            if cell.error or cell.over_window:
                result.status = "skipped"
                result.error = cell.error or "The input does not fit the model's window."
            elif cancel.is_set():
                result.status = "cancelled"
            else:
                _run_cell(cell, r, result)
        except PromptLabError as exc:
            result.status, result.error = "error", str(exc)
        except Exception as exc:  # a bug must not hang the page: report it on the cell
            result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            try:
                _save_cell(settings, run_id, result)
            except PromptLabError as exc:
                result.status, result.error = "error", f"Not saved: {exc}"
            events.put(CellEvent(cell.row, cell.variant, result=result))  # always: see below

    def _run_cell(cell: CellPlan, r: ResolvedVariant, result: CellResult) -> None:
        provider = (provider_for or (lambda m: get_provider(m.provider, settings)))(r.model)
        counter = counter_for(r.model, settings)
        call = Call(provider, r.model, request_for(r, cell.text),
                    CallContext("compare", r.variant.prompt, r.version),
                    db_path=settings.db_path, policy=policy,
                    count_input=counter.count_request, count_output=counter.count,
                    cancel=cancel, estimated_input=not counter.exact)
        for event in call:
            if isinstance(event, TextDelta):
                events.put(CellEvent(cell.row, cell.variant, delta=event.text))
            elif isinstance(event, Error):
                result.error = str(event.error)
        rec = call.record
        result.output, result.status = call.text, rec.status
        result.input_tokens, result.output_tokens = rec.input_tokens, rec.output_tokens
        result.cost_micro, result.ttft_ms = rec.cost_micro, rec.ttft_ms
        result.total_ms, result.call_id = rec.total_ms, rec.id
        if rec.status == "ok":
            result.checks = run_checks(checks, call.text, counter.count)

    # Row by row, so the progress bar moves and early rows finish first.
    ordered = sorted(plan.cells, key=lambda c: (c.row, c.variant))
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
        _set_status(settings, run_id, "done")
    finally:
        cancel.set()      # no-op after a full run; stops calls in flight otherwise
        pool.shutdown(wait=True)
        if _status(settings, run_id) == "running":
            _set_status(settings, run_id, "cancelled")


def _set_status(settings: Settings, run_id: int, status: str) -> None:
    with db.connect(settings.db_path, write=True) as conn:
        conn.execute("UPDATE compare_runs SET status = ? WHERE id = ?", (status, run_id))


def _status(settings: Settings, run_id: int) -> str:
    with db.connect(settings.db_path) as conn:
        row = conn.execute("SELECT status FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else "missing"


# -- stored runs and votes -------------------------------------------------------------------

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

    def pairs(self) -> list[tuple[int, int]]:
        n = len(self.variants)
        return [(a, b) for a in range(n) for b in range(a + 1, n)]

    def variant_label(self, i: int) -> str:
        return variant_label(i, self.variants[i])

    def scores(self) -> list[VariantScore]:
        return scores([(a, b, o) for (_, a, b), o in self.votes.items()], len(self.variants))

    def pass_rates(self) -> list[dict[str, float]]:
        """Per variant, the share of finished cells passing each check."""
        out = []
        for v in range(len(self.variants)):
            cells = [c for (_, vi), c in self.cells.items() if vi == v and c.status == "ok"]
            out.append({c.label: (sum(cell.checks.get(c.label, False) for cell in cells)
                                  / len(cells)) if cells else 0.0 for c in self.checks})
        return out


def list_runs(path: Path) -> list[tuple[int, str, str, str]]:
    """(id, title, created_at, status), newest first."""
    with db.connect(path) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT id, title, created_at, status FROM compare_runs ORDER BY id DESC")]


def load_run(path: Path, run_id: int) -> Run:
    with db.connect(path) as conn:
        row = conn.execute("SELECT * FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise PromptLabError(f"Compare run {run_id} no longer exists.")
        cells = conn.execute("SELECT * FROM compare_cells WHERE run_id = ?", (run_id,)).fetchall()
        votes = conn.execute("SELECT row_index, left_variant, right_variant, outcome FROM votes "
                             "WHERE run_id = ?", (run_id,)).fetchall()
    results = {}
    for c in cells:
        results[(c["row_index"], c["variant_index"])] = CellResult(
            c["row_index"], c["variant_index"], c["output"], c["status"], c["input_tokens"],
            c["output_tokens"], c["cost_micro"], c["ttft_ms"], c["total_ms"], c["call_id"],
            c["error"] or "", json.loads(c["checks"]), c["prompt_text"])
    return Run(row["id"], row["title"], row["created_at"], row["status"],
               json.loads(row["variants"]), json.loads(row["inputs"]),
               [Check(**c) for c in json.loads(row["checks"])], results,
               {(v[0], v[1], v[2]): v[3] for v in votes})


def vote(path: Path, run_id: int, row: int, left: int, right: int, outcome: str) -> None:
    """Record (or change) the vote for one pair on one row."""
    if outcome not in OUTCOMES:
        raise PromptLabError(f"Unknown vote {outcome!r}.")
    if not 0 <= left < right <= 3:
        raise PromptLabError("A vote compares two different variants, left before right.")
    with db.connect(path, write=True) as conn:
        conn.execute("INSERT INTO votes (run_id, row_index, left_variant, right_variant, outcome,"
                     " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, row_index, "
                     "left_variant, right_variant) DO UPDATE SET outcome = excluded.outcome, "
                     "created_at = excluded.created_at",
                     (run_id, row, left, right, outcome, now_iso()))


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is prefixed with a quote (OWASP's advice)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def export_csv(run: Run) -> str:
    """One line per row and variant: inputs, output, metrics, checks and that row's votes."""
    columns = sorted({k for row in run.rows for k in row})
    check_labels = [c.label for c in run.checks]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "variant", "prompt", "version", "model", "temperature", *columns,
                     "output", "status", "input_tokens", "output_tokens", "cost_usd", "ttft_ms",
                     "total_ms", "error", *(f"check: {c}" for c in check_labels), "votes"])
    for i, row in enumerate(run.rows):
        for v, spec in enumerate(run.variants):
            cell = run.cells.get((i, v), CellResult(i, v))
            votes = "; ".join(
                f"{LETTERS[a]} vs {LETTERS[b]}: {outcome_label(a, b, o)}"
                for (r, a, b), o in sorted(run.votes.items()) if r == i and v in (a, b))
            writer.writerow([_cell(x) for x in (
                i + 1, LETTERS[v], spec["prompt"], spec["version"], spec["model"],
                spec["temperature"], *(row.get(c, "") for c in columns), cell.output,
                cell.status, cell.input_tokens, cell.output_tokens,
                f"{cell.cost_micro / 1e6:.6f}",
                "" if cell.ttft_ms is None else f"{cell.ttft_ms:.0f}",
                "" if cell.total_ms is None else f"{cell.total_ms:.0f}", cell.error,
                *(cell.checks.get(c, "") for c in check_labels), votes)])
    return out.getvalue()
