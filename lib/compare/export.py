"""A compare run as CSV: one line per row and variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lib.compare.judges import Verdict, verdict_text
from lib.compare.runs import CellResult, Run, outcome_label
from lib.compare.variants import LETTERS
from lib.core import csv_text


def export_csv(run: Run, verdicts: Iterable[Verdict] = ()) -> str:
    """One line per row and variant: inputs, output, metrics, checks, that row's votes, and
    each judge's verdicts on the line's variant with the judge's reasons."""
    columns = sorted({k for row in run.rows for k in row})
    check_labels = [c.label for c in run.checks]
    # Per judge, per (row, variant): the verdicts that concern that cell.
    judged: dict[str, dict[tuple[int, int], list[Verdict]]] = {}
    for verdict in verdicts:
        for variant in {verdict.left, verdict.right}:
            judged.setdefault(verdict.judge, {}).setdefault((verdict.row, variant), []).append(
                verdict)
    judges = sorted(judged)
    header = ["row", "variant", "prompt", "version", "model", "temperature", "effort", *columns,
              "output", "status", "input_tokens", "output_tokens", "reasoning_tokens",
              "cost_usd", "ttft_ms", "total_ms",
              "error", *(f"check: {c}" for c in check_labels), "votes",
              *(f"judge: {j}{part}" for j in judges for part in ("", ": reasons"))]
    lines: list[list[Any]] = []
    for i, row in enumerate(run.rows):
        for v, spec in enumerate(run.variants):
            cell = run.cells.get((i, v), CellResult(i, v))
            votes = "; ".join(
                f"{LETTERS[a]} vs {LETTERS[b]}: {outcome_label(a, b, o)}"
                for (r, a, b), o in sorted(run.votes.items()) if r == i and v in (a, b))
            said = []
            for j in judges:
                texts = [verdict_text(x) for x in judged[j].get((i, v), ())]
                said += ["; ".join(t.outcome for t in texts),
                         " | ".join(r for t in texts for r in t.reasons)]
            lines.append([
                i + 1, LETTERS[v], spec["prompt"], spec["version"], spec["model"],
                spec["temperature"], spec.get("effort", ""), *(row.get(c, "") for c in columns),
                cell.output, cell.status, cell.input_tokens, cell.output_tokens,
                cell.reasoning_tokens,
                cell.cost_micro / 1e6 if cell.priced else None,  # unknown: an empty cell
                None if cell.ttft_ms is None else round(cell.ttft_ms),
                None if cell.total_ms is None else round(cell.total_ms), cell.error,
                *(cell.checks.get(c, "") for c in check_labels), votes, *said])
    return csv_text(header, lines)
