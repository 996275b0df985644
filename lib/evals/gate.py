"""The gate: an eval's outcome read against its baseline and thresholds, as the result that
every output (JSON, JUnit, Markdown) is written from.

Per dataset row, a check passes when most of its repeats pass it (an error passes nothing).
Against a baseline, rows are paired: McNemar's exact test on each pass/fail check, a sign
test on a pairwise judge's verdicts, a paired bootstrap interval on a rubric judge's scores.
A drop fails the gate only when it is significant at `alpha`, split evenly across the
variant's tests (Bonferroni), so a few rows flipping by chance do not fail a build. A
required row that fails, or a pass rate whose Wilson lower bound is under `min_pass_rate`,
fails it whatever the statistics say.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from lib import compare
from lib.compare import LETTERS, wilson
from lib.core import EvalError, Settings, json_loads, now_iso
from lib.evals.runner import Outcome, required, row_key
from lib.evals.stats import compare_paired, flaky, paired_bootstrap, pass_at_k, pass_hat_k

ALL = "all checks"   # the row passes every check: what thresholds and required rows read

# A row's measures for one variant, keyed by row key: {"pass": {label: bool}, "all": bool,
# "score": float | None}; a baseline comes from the same run, a stored run or a result file.
Rows = dict[str, dict[str, Any]]


def _majority(marks: list[bool]) -> bool:
    return bool(marks) and sum(marks) * 2 > len(marks)


def _cell_passes(cell: compare.CellResult, labels: list[str]) -> dict[str, bool]:
    ok = cell.status == "ok"
    marks = {label: ok and bool(cell.checks.get(label, False)) for label in labels}
    marks[ALL] = ok and all(marks[label] for label in labels)
    return marks


def _scores(outcome: Outcome) -> dict[tuple[int, int], float]:
    """Rubric scores by (run row, variant), averaged over the eval's rubric judges."""
    seen: dict[tuple[int, int], list[float]] = {}
    for v in outcome.verdicts:
        if v.kind == "rubric" and v.score is not None:
            seen.setdefault((v.row, v.left), []).append(v.score)
    return {k: mean(s) for k, s in seen.items()}


def variant_rows(outcome: Outcome, variant: int) -> list[dict[str, Any]]:
    """Each dataset row's result for a variant: its repeats, its passes, pass@k, flakiness."""
    labels, k = outcome.run.check_labels(), outcome.ef.spec.repeats
    scores = _scores(outcome)
    out = []
    for d, row in enumerate(outcome.rows):
        cells = outcome.cells(d, variant)
        marks = [_cell_passes(c, labels) for c in cells]
        everything = [m[ALL] for m in marks]
        row_scores = [scores[(c.row, variant)] for c in cells if (c.row, variant) in scores]
        out.append({
            "row": d, "key": row_key(row), "required": required(row),
            "pass": {label: _majority([m[label] for m in marks]) for label in labels},
            "all": _majority(everything),
            "pass_at_1": sum(everything) / len(everything) if everything else 0.0,
            "pass_at_k": pass_at_k(len(everything), sum(everything), len(everything))
            if everything else 0.0,
            "pass_hat_k": pass_hat_k(len(everything), sum(everything), len(everything))
            if everything else 0.0,
            "flaky": flaky(everything),
            "score": mean(row_scores) if row_scores else None,
            "repeats": [{"status": c.status, "output": c.output, "checks": c.checks,
                         "error": c.error, "call_id": c.call_id,
                         "temperature": outcome.run.variants[variant]["temperature"],
                         "seed": _seed(outcome, variant, c.row % k)} for c in cells],
        })
    return out


def _seed(outcome: Outcome, variant: int, repeat: int) -> int | None:
    seed = outcome.run.variants[variant].get("seed")
    return None if seed is None else seed + repeat


def _rates(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for label in [*labels, ALL]:
        marks = [r["all"] if label == ALL else r["pass"].get(label, False) for r in rows]
        low, high = wilson(sum(marks), len(marks))
        out[label] = {"rate": sum(marks) / len(marks) if marks else 0.0, "low": low,
                      "high": high, "n": len(marks)}
    return out


def baseline_rows(settings: Settings, outcome: Outcome) -> tuple[Rows | None, str]:
    """The baseline's rows by key, and what the baseline is, in words."""
    b = outcome.ef.spec.baseline
    if b is None:
        return None, ""
    if b.ref is not None:
        i = outcome.candidates
        return ({r["key"]: r for r in variant_rows(outcome, i)},
                f"{outcome.run.variant_label(i)} (run beside)")
    if b.run is not None:
        run = compare.load_run(settings.db, b.run)
        if b.variant >= len(run.variants):
            raise EvalError(f"Compare run {b.run} has no variant {LETTERS[b.variant]}.")
        labels = run.check_labels()
        grouped: dict[str, list[dict[str, bool]]] = {}
        for (i, v), cell in run.cells.items():
            if v == b.variant:
                grouped.setdefault(row_key(run.rows[i]), []).append(_cell_passes(cell, labels))
        return ({key: {"pass": {lb: _majority([m[lb] for m in marks]) for lb in labels},
                       "all": _majority([m[ALL] for m in marks]), "score": None}
                 for key, marks in grouped.items()},
                f"Compare run {b.run}, {run.variant_label(b.variant)}")
    assert b.file is not None
    path = outcome.ef.resolve_path(b.file)
    try:
        previous = json_loads(path.read_text(encoding="utf-8"))
        first = previous["variants"][0]
        return ({r["key"]: r for r in first["rows"]},
                f"{path.name}: {first['label']} ({previous.get('created_at', '?')})")
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise EvalError(f"The baseline file {b.file} cannot be read as an eval result: "
                        f"{exc}") from None


def judge(settings: Settings, outcome: Outcome, *, run_url: str = "") -> dict[str, Any]:
    """The whole result: every variant's rows and rates, the comparisons, and the verdict."""
    ef, run = outcome.ef, outcome.run
    labels, alpha = run.check_labels(), ef.spec.gate.alpha
    base, base_what = baseline_rows(settings, outcome)
    variants, comparisons, findings = [], [], []
    for v in range(len(run.variants)):
        rows = variant_rows(outcome, v)
        cells = [c for (_, vi), c in run.cells.items() if vi == v]
        meta = run.variants[v]
        variants.append({
            "index": v, "letter": LETTERS[v], "label": run.variant_label(v),
            "role": "candidate" if v < outcome.candidates else "baseline",
            "prompt": meta["prompt"], "version": meta["version"], "model": meta["model"],
            "temperature": meta["temperature"], "seed": meta.get("seed"),
            "calls": sum(c.call_id is not None for c in cells),
            "cost_micro": sum(c.cost_micro for c in cells),
            "priced": all(c.priced for c in cells),
            "pass_rates": _rates(rows, labels), "rows": rows,
            "flaky_rows": [r["row"] for r in rows if r["flaky"]]})
    for v in range(outcome.candidates):
        rows = variants[v]["rows"]
        tests = len(labels) + sum(1 for j in ef.spec.judges if base is not None
                                  and (j.kind == "rubric" or ef.baseline_beside))
        each = alpha / max(1, tests)
        if base is not None:
            paired = [(base[r["key"]], r) for r in rows if r["key"] in base]
            if not paired:
                findings.append(_finding("baseline", v, "No row of the baseline matches a "
                                         "row of this dataset: nothing to compare.", []))
            for label in labels:
                pairs = [(b["pass"].get(label, False), c["pass"].get(label, False))
                         for b, c in paired if label in b["pass"]]
                if not pairs:
                    continue
                cmp = compare_paired([p[0] for p in pairs], [p[1] for p in pairs], each)
                keyed = [c["row"] for b, c in paired if label in b["pass"]]
                lost = [keyed[i] for i in cmp.rows_lost]
                comparisons.append({"variant": v, "metric": label, "test": "McNemar exact",
                                    "lost": cmp.lost, "gained": cmp.gained, "p": cmp.p,
                                    "alpha": each, "regressed": cmp.regressed,
                                    "rows_lost": lost})
                if cmp.regressed:
                    findings.append(_finding(
                        "regression", v, f"'{label}' regressed: {cmp.lost} rows lost, "
                        f"{cmp.gained} gained (p = {cmp.p:.3g} < {each:.3g})", lost))
            diffs = [c["score"] - b["score"] for b, c in paired
                     if c.get("score") is not None and b.get("score") is not None]
            if diffs:
                low, high = paired_bootstrap(diffs, level=1 - each)
                regressed = high < 0
                comparisons.append({"variant": v, "metric": "rubric score",
                                    "test": "paired bootstrap", "mean_diff": mean(diffs),
                                    "low": low, "high": high, "alpha": each,
                                    "regressed": regressed, "rows_lost": []})
                if regressed:
                    findings.append(_finding(
                        "regression", v, f"rubric scores fell by {-mean(diffs):.2g} on average "
                        f"({(1 - each):.1%} interval {low:.2g} to {high:.2g})", []))
        if ef.baseline_beside:
            comparisons += _pairwise(outcome, v, each, findings)
        for r in rows:
            if r["required"] and not all(x["status"] == "ok" and _all_checks(x, labels)
                                         for x in r["repeats"]):
                findings.append(_finding("required", v, f"required row {r['row'] + 1} failed",
                                         [r["row"]]))
        if (floor := ef.spec.gate.min_pass_rate) is not None:
            rate = variants[v]["pass_rates"][ALL]
            if rate["low"] < floor:
                findings.append(_finding(
                    "threshold", v, f"pass rate {rate['rate']:.0%} (95% lower bound "
                    f"{rate['low']:.0%}) is under the floor of {floor:.0%}", []))
        failed = [c for c in run.cells.values() if c.variant == v and c.status == "error"]
        if failed and len(failed) == len(outcome.rows) * ef.spec.repeats:
            # A provider down after its retries: an error (exit 1), not a regression.
            raise EvalError(f"Every call of variant {LETTERS[v]} failed: {failed[0].error}")
    status = ("incomplete" if not outcome.complete else
              "failed" if findings and any(f["kind"] != "baseline" for f in findings)
              else "passed")
    judged_cost = sum(int(v.detail.get("cost_micro", 0)) for v in outcome.verdicts)
    return {"eval": ef.name, "file": str(ef.path), "description": ef.spec.description,
            "created_at": now_iso(), "status": status, "run_id": run.id, "run_url": run_url,
            "repeats": ef.spec.repeats, "alpha": alpha, "rows": len(outcome.rows),
            "baseline": base_what or None, "variants": variants,
            "comparisons": comparisons, "findings": findings,
            "cost_micro": sum(v["cost_micro"] for v in variants) + judged_cost,
            "judge_cost_micro": judged_cost,
            "priced": all(v["priced"] for v in variants)}


def _all_checks(repeat: dict[str, Any], labels: list[str]) -> bool:
    return all(repeat["checks"].get(label, False) for label in labels)


def _pairwise(outcome: Outcome, v: int, alpha: float,
              findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A pairwise judge's verdicts of candidate v against the baseline beside it."""
    b, k = outcome.candidates, outcome.ef.spec.repeats
    by_judge: dict[str, dict[int, int]] = {}
    for verdict in outcome.verdicts:
        if verdict.kind != "pairwise" or (verdict.left, verdict.right) != (v, b):
            continue
        net = by_judge.setdefault(verdict.judge, {})
        step = {"left": 1, "right": -1}.get(verdict.outcome or "", 0)
        net[verdict.row // k] = net.get(verdict.row // k, 0) + step
    out = []
    for name, net in by_judge.items():
        lost_rows = sorted(d for d, n in net.items() if n < 0)
        gained = sum(n > 0 for n in net.values())
        # As McNemar's pairs: a row the judge gave the baseline is a (pass, fail) pair.
        cmp = compare_paired([True] * len(lost_rows) + [False] * gained,
                             [False] * len(lost_rows) + [True] * gained, alpha)
        out.append({"variant": v, "metric": f"judge {name}", "test": "sign test",
                    "lost": len(lost_rows), "gained": gained, "p": cmp.p, "alpha": alpha,
                    "regressed": cmp.regressed, "rows_lost": lost_rows})
        if cmp.regressed:
            findings.append(_finding(
                "regression", v, f"the judge {name} preferred the baseline on "
                f"{len(lost_rows)} rows and this variant on {gained} (p = {cmp.p:.3g} < "
                f"{alpha:.3g})", lost_rows))
    return out


def _finding(kind: str, variant: int, text: str, rows: list[int]) -> dict[str, Any]:
    return {"kind": kind, "variant": variant, "text": text, "rows": rows}


def exit_code(result: dict[str, Any]) -> int:
    """0 passed, 100 the gate failed, 1 anything else (an incomplete run)."""
    return {"passed": 0, "failed": 100}.get(result["status"], 1)
