"""Model judges of a compare run: stored prompts with an output schema, run on a chosen model
(page "judge", in the ledger and under the budgets). A rubric judge scores each reply; a
pairwise judge sees each pair in both orders, and a disagreement between the orders is a tie."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from lib.compare.expected import EXPECTED
from lib.compare.plan import TOOL_RESULTS
from lib.compare.runs import Run, load_run
from lib.compare.variants import LETTERS
from lib.core import BudgetExceededError, JudgeError, PromptLabError, Settings, now_iso
from lib.llm import CallContext, Calls, CallSpec, Catalog, ChatRequest, Message, ModelInfo
from lib.prompts import Prompt, PromptStore, render, validate
from lib.storage import Database

log = logging.getLogger(__name__)
KINDS = {"rubric": ("input", "output"), "pairwise": ("input", "first", "second")}
ANSWER = {"rubric": "score", "pairwise": "winner"}   # the field a verdict is read from


@dataclass(frozen=True)
class Judge:
    kind: str        # rubric | pairwise
    prompt: str
    ref: str         # a label or "v2"
    model: str       # catalog key


@dataclass(frozen=True)
class ResolvedJudge:
    judge: Judge
    prompt: Prompt
    version: int
    source: str
    schema: dict[str, Any]
    model: ModelInfo

    @property
    def name(self) -> str:
        return f"{self.prompt.name} v{self.version} · {self.model.key}"


def resolve_judge(store: PromptStore, catalog: Catalog, judge: Judge) -> ResolvedJudge:
    """Refuse a judge that cannot give a verdict: wrong variables or no fitting schema."""
    if judge.kind not in KINDS:
        raise JudgeError(f"Unknown judge kind {judge.kind!r}; use rubric or pairwise.")
    prompt = store.get(judge.prompt)
    version = prompt.resolve(judge.ref)
    schema = prompt.output_schema(version)
    field_name = ANSWER[judge.kind]
    if schema is None or field_name not in schema.get("properties", {}) \
            or field_name not in schema.get("required", ()):
        raise JudgeError(f"{judge.prompt} v{version} cannot be a {judge.kind} judge: its output "
                         f"schema must require a '{field_name}' field.")
    declared = {v.name for v in prompt.variables}
    if missing := [n for n in KINDS[judge.kind] if n not in declared]:
        raise JudgeError(f"{judge.prompt} v{version} cannot be a {judge.kind} judge: it needs "
                         f"the variables {', '.join(missing)}.")
    return ResolvedJudge(judge, prompt, version, store.source(judge.prompt, version), schema,
                         catalog.get(judge.model))


@dataclass
class Verdict:
    judge: str
    kind: str
    row: int
    left: int
    right: int               # rubric: the same as left
    outcome: str | None = None   # pairwise: left | right | tie
    score: float | None = None   # rubric
    detail: dict[str, Any] = field(default_factory=dict)


def judge_run(settings: Settings, run_id: int, rj: ResolvedJudge, *, concurrency: int = 2,
              cancel: threading.Event | None = None,
              calls: Calls | None = None,
              user: str | None = None) -> Generator[Verdict, None, None]:
    """Judge every finished cell (rubric) or pair of cells (pairwise) of a run, saving each
    verdict as it comes (the calls are `user`'s, who judges). A refused budget stops the
    rest; other failures are kept on the verdict (no outcome) and judging goes on."""
    run = load_run(settings.db, run_id)
    cancel = cancel or threading.Event()
    calls = calls or Calls(settings)

    def ask(values: dict[str, Any]) -> dict[str, Any]:
        """One structured call (with repairs): the reply's fields, or why there are none."""
        text = render(rj.source, validate(rj.prompt.variables, values))
        m = rj.model
        request = ChatRequest(m.id, (Message("user", text),),
                              temperature=rj.prompt.temperature, max_tokens=rj.prompt.max_tokens,
                              output_schema=rj.schema, schema_name=f"{rj.judge.kind}_verdict")
        call = calls.invoke(CallSpec(m, request, CallContext("judge", rj.prompt.name,
                                                             rj.version, user=user),
                                     repairs=settings.structured_repairs, cancel=cancel))
        for _ in call:
            pass
        v, ids = call.validation, [r.id for r in call.records]
        cost = sum(r.cost_micro for r in call.records)
        if v is None or not v.ok:
            why = "; ".join(v.errors) if v else (str(call.error) if call.error else "no reply")
            return {"error": why, "call_ids": ids, "cost_micro": cost}
        return {**v.data, "call_ids": ids, "cost_micro": cost}

    def task(row: int, a: int, b: int) -> Verdict:
        verdict = Verdict(rj.name, rj.judge.kind, row, a, b)
        if rj.judge.kind == "rubric":
            cell = run.cells[(row, a)]
            reply = ask({"input": cell.prompt_text, "output": cell.output,
                         **_expected(rj, run.rows[row])})
            verdict.detail = reply
            if "error" not in reply:
                verdict.score = float(reply["score"])
        else:
            request = _shared_input(run, row, a, b)
            first = ask({"input": request, "first": run.cells[(row, a)].output,
                         "second": run.cells[(row, b)].output})
            second = ask({"input": request, "first": run.cells[(row, b)].output,
                          "second": run.cells[(row, a)].output})
            verdict.outcome, verdict.detail = both_orders(first, second)
        save_verdict(settings.db, run_id, verdict)
        return verdict

    jobs = judging_jobs(run, rj.judge.kind)
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="judge") as pool:
        futures = [pool.submit(task, *job) for job in jobs]
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BudgetExceededError:
                    cancel.set()
                    for f in futures:
                        f.cancel()
                    raise
                except PromptLabError as exc:
                    log.warning("judge %s on run %s: %s", rj.name, run_id, exc)
                    raise JudgeError(f"The judge could not run: {exc}") from exc
        finally:
            cancel.set()  # closing early stops the calls in flight
            for f in futures:
                f.cancel()


def judging_jobs(run: Run, kind: str) -> list[tuple[int, int, int]]:
    """(row, left, right) for every verdict a judge of this kind will give on the run."""
    ok = {k for k, c in run.cells.items() if c.status == "ok"}
    if kind == "rubric":
        return sorted((r, v, v) for r, v in ok)
    return [(r, a, b) for r in range(len(run.rows)) for a, b in run.pairs()
            if (r, a) in ok and (r, b) in ok]


def _expected(rj: ResolvedJudge, row: dict[str, Any]) -> dict[str, Any]:
    declared = {v.name for v in rj.prompt.variables}
    return {"expected": str(row[EXPECTED])} if EXPECTED in row and "expected" in declared else {}


def _shared_input(run: Run, row: int, a: int, b: int) -> str:
    """What both variants were asked: the rendered prompt when they share it, else the row."""
    pa, pb = run.cells[(row, a)].prompt_text, run.cells[(row, b)].prompt_text
    if pa == pb:
        return pa
    return "\n".join(f"{k}: {v}" for k, v in run.rows[row].items()
                     if k not in (EXPECTED, TOOL_RESULTS))


def both_orders(first: dict[str, Any], second: dict[str, Any]) -> tuple[str | None,
                                                                         dict[str, Any]]:
    """A verdict from the two orders: `first` showed A first, `second` showed B first.
    Agreeing orders give their winner; disagreeing ones a tie; a failed order no verdict."""
    detail = {"orders": [first, second]}
    if "error" in first or "error" in second:
        return None, {**detail, "consistent": None}
    as_a = {"first": "left", "second": "right", "tie": "tie"}[first["winner"]]
    as_b = {"first": "right", "second": "left", "tie": "tie"}[second["winner"]]
    consistent = as_a == as_b
    return (as_a if consistent else "tie"), {**detail, "consistent": consistent}


# A verdict's bookkeeping, not what the judge said.
_BOOKKEEPING = {"call_ids", "cost_micro", "error", "score", "winner"}


def _said(reply: dict[str, Any]) -> str:
    """What a judge gave as its reasons: its `reason` field, or every other field it wrote."""
    if "error" in reply:
        return f"unreadable: {reply['error']}"
    if isinstance(reply.get("reason"), str):
        return reply["reason"]
    return "; ".join(f"{k}: {v}" for k, v in reply.items() if k not in _BOOKKEEPING)


def _winner(reply: dict[str, Any], first: int, second: int) -> str:
    """An order's own answer in letters: that order showed `first` first."""
    return {"first": f"{LETTERS[first]} better", "second": f"{LETTERS[second]} better",
            "tie": "tie"}.get(str(reply.get("winner")), "no answer")


@dataclass(frozen=True)
class VerdictText:
    """A verdict as people read it: who judged, what (a rubric's score of one variant, or a
    pair's outcome) and the judge's reasons (per order, for a pairwise judge)."""

    judge: str
    outcome: str
    reasons: tuple[str, ...]


def verdict_text(v: Verdict) -> VerdictText:
    if v.kind == "rubric":
        outcome = (f"{LETTERS[v.left]}: no verdict" if v.score is None
                   else f"{LETTERS[v.left]}: score {v.score:g}")
        return VerdictText(v.judge, outcome, (_said(v.detail),))
    a, b = LETTERS[v.left], LETTERS[v.right]
    outcome = f"{a} vs {b}: " + ("no verdict" if v.outcome is None else
                                 {"left": f"{a} better", "right": f"{b} better",
                                  "tie": "tie"}[v.outcome])
    if v.detail.get("consistent") is False:
        outcome += " (the two orders disagree)"
    orders = v.detail.get("orders") or []
    shown = [(v.left, v.right), (v.right, v.left)]
    reasons = tuple(f"{LETTERS[f]} shown first, said {_winner(o, f, s)}: {_said(o)}"
                    for o, (f, s) in zip(orders, shown, strict=False))
    return VerdictText(v.judge, outcome, reasons)


def verdicts_by_row(verdicts: list[Verdict]) -> dict[int, list[VerdictText]]:
    """Each row's verdicts, as read, in the order they are stored (by judge, then pair)."""
    out: dict[int, list[VerdictText]] = {}
    for v in verdicts:
        out.setdefault(v.row, []).append(verdict_text(v))
    return out


def save_verdict(db: Database, run_id: int, v: Verdict) -> None:
    with db.connect(write=True) as conn:
        conn.execute(
            "INSERT INTO judgements (run_id, judge, kind, row_index, left_variant, "
            "right_variant, outcome, score, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?) ON CONFLICT (run_id, judge, row_index, left_variant, right_variant) DO UPDATE "
            "SET kind = excluded.kind, outcome = excluded.outcome, score = excluded.score, "
            "detail = excluded.detail, created_at = excluded.created_at",
            (run_id, v.judge, v.kind, v.row, v.left, v.right, v.outcome, v.score,
             json.dumps(v.detail), now_iso()))


def load_verdicts(db: Database, run_id: int) -> list[Verdict]:
    with db.connect() as conn:
        rows = conn.execute("SELECT judge, kind, row_index, left_variant, right_variant, outcome,"
                            " score, detail FROM judgements WHERE run_id = ? ORDER BY judge, "
                            "row_index, left_variant, right_variant", (run_id,)).fetchall()
    return [Verdict(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows]
