"""Running an eval file: the dataset's rows (each asked `repeats` times) through the Compare
engine on page "eval" — the same forecast, budgets, ledger and stored run as a Compare run —
then its judges, then the gate."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib import compare, spend
from lib.compare import Judge, Run, Verdict
from lib.core import EvalError, PromptLabError, Settings, json_loads
from lib.evals.spec import EvalFile
from lib.llm import (
    CacheMode,
    Calls,
    current_catalog,
    model_statuses,
    price_unknown,
    user_catalog_path,
)
from lib.prompts import PromptStore
from lib.workflows import WorkflowStore

log = logging.getLogger(__name__)
PAGE = "eval"   # the ledger's page for an eval's calls (judges keep their own, "judge")

Progress = Callable[[str, int, int], None]   # (stage, done, total)


@dataclass
class Outcome:
    """What an eval run produced, before the gate reads it."""

    ef: EvalFile
    run: Run
    rows: list[dict[str, Any]]      # the dataset's rows (not repeated)
    verdicts: list[Verdict]
    candidates: int                 # variants 0..candidates-1; the baseline after, if beside
    complete: bool = True

    def cells(self, row: int, variant: int) -> list[compare.CellResult]:
        """A dataset row's cells for a variant, one per repeat (missing ones left out)."""
        k = self.ef.spec.repeats
        return [c for r in range(k) if (c := self.run.cells.get((row * k + r, variant)))]


def load_rows(settings: Settings, ef: EvalFile) -> list[dict[str, Any]]:
    """The eval's dataset: a CSV or JSONL file beside it, or a dataset saved in the lab."""
    ds = ef.spec.dataset
    if ds.stored is not None:
        found = [i for i, name, _ in compare.list_datasets(settings.db) if name == ds.stored]
        if not found:
            raise EvalError(f"{ef.path}: no saved dataset is named {ds.stored!r}.")
        return [dict(r) for r in compare.load_dataset(settings.db, found[0]).rows]
    assert ds.path is not None
    path = ef.resolve_path(ds.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvalError(f"{ef.path}: cannot read the dataset {ds.path}: {exc}") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json_loads(line)
            except ValueError as exc:
                raise EvalError(f"{ds.path}, line {n}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise EvalError(f"{ds.path}, line {n}: each line must be one JSON object.")
            rows.append(row)
    else:
        try:
            rows = list(compare.parse_csv(data, path.name).rows)
        except PromptLabError as exc:
            raise EvalError(f"{ds.path}: {exc}") from None
    if not rows:
        raise EvalError(f"{ds.path}: the dataset has no rows.")
    return [dict(r) for r in rows]


def required(row: dict[str, Any]) -> bool:
    """A row the gate requires to pass whatever the statistics say (column `required`)."""
    value = row.get("required", False)
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "y")


def _inputs(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values for the prompt: without the gate's own column."""
    return {k: v for k, v in row.items() if k != "required"}


def run_eval(settings: Settings, ef: EvalFile, *, user: str | None = None,
             progress: Progress | None = None,
             cancel: threading.Event | None = None, calls: Calls | None = None) -> Outcome:
    """Run every row × variant × repeat, then the judges; EvalError before any call if the
    file's prompts, models or budget cannot run it. An interrupted run is marked
    incomplete (its calls in flight cancelled, their holds given back) and re-raised.
    `calls`: the seam to call through (tests pass a scripted one)."""
    progress = progress or (lambda stage, done, total: None)
    cancel = cancel or threading.Event()
    rows = load_rows(settings, ef)
    store, catalog = PromptStore(settings.prompts_dir), current_catalog(settings)
    try:
        resolved = compare.resolve(store, catalog, ef.variants(), at_least=1,
                                   workflows=WorkflowStore(settings))
        judges = [compare.resolve_judge(store, catalog, Judge(j.kind, j.prompt, j.ref, j.model))
                  for j in ef.spec.judges]
    except PromptLabError as exc:
        raise EvalError(f"{ef.path}: {exc}") from None
    if any(j.judge.kind == "pairwise" for j in judges) and len(resolved) < 2:
        raise EvalError(f"{ef.path}: a pairwise judge needs two variants (a candidate and a "
                        "baseline beside it).")
    _usable(settings, [m for r in resolved for m in r.models] + [j.model for j in judges], ef)

    k = ef.spec.repeats
    run_rows = [_inputs(row) for row in rows for _ in range(k)]
    plan = compare.forecast(settings, resolved, run_rows, [i % k for i in range(len(run_rows))])
    if len(plan.problems) == len(plan.cells):
        first = plan.problems[0]
        raise EvalError(f"{ef.path}: no cell can run; row 1: {first.error or 'too long'}")
    refused = spend.refusal(settings.db, plan.cost_by_provider(), user=user) or next(
        (str(price_unknown(m, str(user_catalog_path(settings)), "this eval"))
         for r in resolved for m in r.models if not m.priced
         and spend.applies(settings.db, m.provider, user=user)), None)
    if refused:
        raise EvalError(f"The budget refuses this eval before any call: {refused}")

    title = f"eval {ef.name}" + (f" (×{k} repeats)" if k > 1 else "")
    run_id = compare.create_run(settings.db, title, resolved, run_rows, ef.checks, owner=user)
    total, done = len(plan.cells), 0
    # The engine and each judge set the event they are given when they finish (stopping
    # their own calls): each gets its own, and `cancel` (a Stop) is watched between events.
    inner: list[threading.Event] = []

    def own() -> threading.Event:
        inner.append(threading.Event())
        return inner[-1]

    try:
        events = compare.execute(settings, run_id, resolved, plan, ef.checks, cancel=own(),
                                 concurrency=settings.compare_concurrency, page=PAGE,
                                 calls=calls,
                                 cache=CacheMode.ON if ef.spec.cache else None)
        with contextlib.closing(events):
            for event in events:
                if cancel.is_set():
                    break
                if event.result is not None:
                    done += 1
                    progress("cells", done, total)
        for rj in judges:
            if cancel.is_set():
                break
            jobs = len(compare.judging_jobs(compare.load_run(settings.db, run_id),
                                            rj.judge.kind))
            verdicts = compare.judge_run(settings, run_id, rj, cancel=own(), user=user,
                                         calls=calls)
            with contextlib.closing(verdicts):
                for n, _ in enumerate(verdicts, 1):
                    if cancel.is_set():
                        break
                    progress(f"judge {rj.name}", n, jobs)
    except BaseException:
        cancel.set()
        for stop in inner:
            stop.set()
        compare.set_status(settings.db, run_id, "incomplete")
        raise
    run = compare.load_run(settings.db, run_id)
    complete = not cancel.is_set() and all(c.status not in ("cancelled", "pending")
                                           for c in run.cells.values())
    if not complete:
        compare.set_status(settings.db, run_id, "incomplete")
    return Outcome(ef, run, rows, compare.load_verdicts(settings.db, run_id),
                   len(ef.spec.variants), complete)


def _usable(settings: Settings, models: list[Any], ef: EvalFile) -> None:
    """Refuse a model that cannot be called here (no key, the local model missing)."""
    wanted = {m.key for m in models}
    for status in model_statuses(current_catalog(settings), settings):
        if status.model.key in wanted and not status.available:
            raise EvalError(f"{ef.path}: {status.model.label} cannot be called here: "
                            f"{status.reason}")


def row_key(row: dict[str, Any]) -> str:
    """A dataset row's identity across runs and result files: its values, canonically."""
    return json.dumps(_inputs(row), sort_keys=True, ensure_ascii=False, default=str)

