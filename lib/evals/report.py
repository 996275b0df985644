"""An eval's result written out: JSON (the next run's baseline), JUnit XML (one test case per
row × variant, for CI's test view) and Markdown (a pull-request comment). Each file is
written whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from lib.core import format_cost

SNIPPET = 80


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole: a crash or Ctrl-C leaves the old file or none, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


def _snippet(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SNIPPET else text[:SNIPPET - 1] + "…"


def _flagged(result: dict[str, Any]) -> dict[tuple[int, int], list[str]]:
    """(variant, row) -> why the gate counts that row against the variant."""
    out: dict[tuple[int, int], list[str]] = {}
    for f in result["findings"]:
        for row in f["rows"]:
            out.setdefault((f["variant"], row), []).append(f["text"])
    return out


def to_junit(result: dict[str, Any], inputs: list[str]) -> str:
    """A suite per variant, a case per row; a row the gate holds against its variant (a lost
    row of a significant regression, a failed required row) fails with the reasons. Rows
    that fail a check without a significant drop pass, their failed checks in system-out.
    A last case, "gate", carries the verdict, so the suite fails exactly when the exit does."""
    flagged = _flagged(result)
    suites = ET.Element("testsuites", name=f"promptlab eval {result['eval']}")
    for v in result["variants"]:
        suite = ET.SubElement(suites, "testsuite", name=f"{result['eval']}.{v['letter']}")
        failures = 0
        for r in v["rows"]:
            case = ET.SubElement(suite, "testcase", classname=f"eval.{result['eval']}."
                                 f"{v['letter']}", name=f"row {r['row'] + 1}: "
                                 f"{_snippet(inputs[r['row']])}")
            failed_checks = sorted(k for k, ok in r["pass"].items() if not ok)
            if why := flagged.get((v["index"], r["row"])):
                failures += 1
                fail = ET.SubElement(case, "failure", message="; ".join(why))
                fail.text = _row_detail(r, failed_checks)
            elif failed_checks or any(x["error"] for x in r["repeats"]):
                ET.SubElement(case, "system-out").text = _row_detail(r, failed_checks)
        suite.set("tests", str(len(v["rows"])))
        suite.set("failures", str(failures))
    gate = ET.SubElement(suites, "testsuite", name=f"{result['eval']}.gate", tests="1",
                         failures=str(int(result["status"] != "passed")))
    case = ET.SubElement(gate, "testcase", classname=f"eval.{result['eval']}", name="gate")
    if result["status"] != "passed":
        reasons = [f["text"] for f in result["findings"]] or [f"the run is {result['status']}"]
        ET.SubElement(case, "failure", message="; ".join(reasons)).text = "\n".join(reasons)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _row_detail(r: dict[str, Any], failed_checks: list[str]) -> str:
    lines = [f"failed: {', '.join(failed_checks)}"] if failed_checks else []
    for i, x in enumerate(r["repeats"], 1):
        lines.append(f"repeat {i}: {x['status']}"
                     + (f" ({x['error']})" if x["error"] else "")
                     + f": {_snippet(x['output'])}")
    return "\n".join(lines)


def to_markdown(result: dict[str, Any], inputs: list[str]) -> str:
    """A pull-request comment: the verdict, pass rates with intervals, what regressed and how
    sure we are, flaky rows, the cost, and a link to the run in Compare."""
    icon = {"passed": "✅", "failed": "❌"}.get(result["status"], "⚠️")
    out = [f"## {icon} Eval `{result['eval']}`: {result['status']}", ""]
    if result["description"]:
        out += [result["description"], ""]
    rows, reps = result["rows"], result["repeats"]
    out.append(f"{rows} rows" + (f" × {reps} repeats" if reps > 1 else "")
               + (f"; baseline: {result['baseline']}" if result["baseline"] else
                  "; no baseline (thresholds only)")
               + f"; significance level {result['alpha']:g}.")
    out += ["", "| variant | check | pass rate | 95% interval |", "|---|---|---|---|"]
    for v in result["variants"]:
        for label, r in v["pass_rates"].items():
            out.append(f"| {v['letter']}{' (baseline)' if v['role'] == 'baseline' else ''} "
                       f"| {_cell(label)} | {r['rate']:.0%} ({round(r['rate'] * r['n'])}/"
                       f"{r['n']}) | {r['low']:.0%}–{r['high']:.0%} |")
    if result["comparisons"]:
        out += ["", "**Against the baseline** (p: the chance of a drop at least this large "
                "if nothing had changed)", "", "| variant | measure | test | lost | gained "
                "| p or interval | verdict |", "|---|---|---|---|---|---|---|"]
        for c in result["comparisons"]:
            letter = result["variants"][c["variant"]]["letter"]
            stat = (f"{c['p']:.3g}" if "p" in c else
                    f"Δ {c['mean_diff']:+.2g} [{c['low']:+.2g}, {c['high']:+.2g}]")
            out.append(f"| {letter} | {_cell(c['metric'])} | {c['test']} | {c.get('lost', '')}"
                       f" | {c.get('gained', '')} | {stat} | "
                       f"{'**regressed**' if c['regressed'] else 'no significant drop'} |")
    regressions = [f for f in result["findings"] if f["kind"] != "baseline"]
    if regressions:
        out += ["", "### Why it failed", ""]
        for f in regressions:
            letter = result["variants"][f["variant"]]["letter"]
            out.append(f"- **{letter}**: {f['text']}")
            for row in f["rows"][:10]:
                out.append(f"  - row {row + 1}: {_cell(_snippet(inputs[row]))}")
            if len(f["rows"]) > 10:
                out.append(f"  - …and {len(f['rows']) - 10} more rows")
    notes = [f for f in result["findings"] if f["kind"] == "baseline"]
    out += [f"- {result['variants'][f['variant']]['letter']}: {f['text']}" for f in notes]
    flaky = [(v["letter"], v["flaky_rows"]) for v in result["variants"] if v["flaky_rows"]]
    if flaky:
        out += ["", "**Flaky rows** (their repeats disagree): " + "; ".join(
            f"{letter}: rows {', '.join(str(r + 1) for r in rows_)}" for letter, rows_ in flaky)]
    cost = format_cost(result["cost_micro"], not result["priced"])
    out += ["", f"Cost: {cost} ({sum(v['calls'] for v in result['variants'])} calls"
            + (f", judges {format_cost(result['judge_cost_micro'])}"
               if result["judge_cost_micro"] else "") + ")."]
    link = (f"[Compare run {result['run_id']}]({result['run_url']})" if result["run_url"]
            else f"Compare run {result['run_id']}")
    out += [f"Every cell, vote and verdict: {link}.", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
