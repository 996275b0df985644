"""The forecast: every row rendered for every variant, counted and priced before anything is
spent; cells that cannot run (a render error, an overflowing window) are flagged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib.agents import DEFAULT_STEPS
from lib.compare.expected import EXPECTED
from lib.compare.variants import LETTERS, AnyVariant, ResolvedWorkflow, request_for
from lib.core import CompareError, Settings, TemplateError, WorkflowError, json_loads
from lib.llm import counter_for
from lib.prompts import render, validate


@dataclass
class CellPlan:
    row: int
    variant: int
    text: str = ""
    error: str = ""
    input_tokens: int = 0
    max_cost_micro: int = 0
    over_window: bool = False
    canned: dict[str, str] = field(default_factory=dict)  # tool results given by the row
    expected: str | None = None     # the row's expected answer, if the dataset has one
    priced: bool = True             # False: its model's price is unknown (so is its cost)
    repeat: int = 0                 # an eval's repeat of the same row: a distinct call
    costs: dict[str, int] = field(default_factory=dict)  # its most cost, by provider
    inputs: dict[str, Any] = field(default_factory=dict)  # a workflow cell's checked inputs


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
    def unpriced(self) -> int:
        """Cells to run on a model whose price is unknown: their cost is not in the sums."""
        return sum(not c.priced for c in self.cells if not (c.error or c.over_window))

    @property
    def problems(self) -> list[CellPlan]:
        return [c for c in self.cells if c.error or c.over_window]

    def cost_by_provider(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            if not (c.error or c.over_window):
                for provider, cost in c.costs.items():
                    out[provider] = out.get(provider, 0) + cost
        return out

    def per_variant(self) -> list[dict[str, Any]]:
        out = []
        for v in range(self.n_variants):
            cells = [c for c in self.cells if c.variant == v]
            out.append({"variant": LETTERS[v], "rows": len(cells),
                        "input_tokens": sum(c.input_tokens for c in cells),
                        "max_cost_micro": sum(c.max_cost_micro for c in cells),
                        "unpriced": sum(not c.priced for c in cells),
                        "over_window": sum(c.over_window for c in cells),
                        "errors": sum(bool(c.error) for c in cells)})
        return out


def forecast(settings: Settings, resolved: list[AnyVariant],
             rows: list[dict[str, Any]], repeats: list[int] | None = None) -> Forecast:
    """Render every row for every variant, count its input with that model's tokenizer, and
    price it at input plus the maximum output. Nothing is sent anywhere. `repeats`: per row,
    which asking of its dataset row it is (an eval's repeats; 0 for every row by default)."""
    cells = []
    for v, r in enumerate(resolved):
        if isinstance(r, ResolvedWorkflow):
            cells += [_workflow_cell(settings, r, i, v, row, repeats[i] if repeats else 0)
                      for i, row in enumerate(rows)]
            continue
        counter = counter_for(r.model, settings)
        for i, row in enumerate(rows):
            cell = CellPlan(i, v, expected=expected_of(row), priced=r.model.priced,
                            repeat=repeats[i] if repeats else 0)
            try:
                cell.text = render(r.source, validate(r.prompt.variables, row))
            except TemplateError as exc:
                cell.error = str(exc)
                cells.append(cell)
                continue
            if r.variant.tools:
                try:
                    cell.canned = canned_results(row)
                except CompareError as exc:
                    cell.error = str(exc)
                    cells.append(cell)
                    continue
            request = request_for(r, cell.text, cell.repeat)
            cell.input_tokens = counter.count_request(request)
            # An agent run may take every step it is allowed, each at least this big.
            steps = DEFAULT_STEPS if r.variant.tools else 1
            cell.max_cost_micro = steps * r.model.cost_micro(cell.input_tokens,
                                                             request.max_tokens)
            cell.over_window = cell.input_tokens + request.max_tokens > r.model.context_window
            cell.costs = {r.model.provider: cell.max_cost_micro}
            cells.append(cell)
    return Forecast(cells, len(rows), len(resolved))


def _workflow_cell(settings: Settings, r: ResolvedWorkflow, row_index: int, variant: int,
                   row: dict[str, Any], repeat: int) -> CellPlan:
    """A row as a workflow run: its inputs checked and its steps forecast, nothing sent."""
    from lib.workflows import check_inputs
    from lib.workflows import forecast as run_forecast

    declared = r.workflow.wf.spec.inputs
    cell = CellPlan(row_index, variant, expected=expected_of(row), repeat=repeat,
                    text="\n".join(f"{k}: {row[k]}" for k in declared if k in row))
    try:
        cell.inputs = check_inputs(r.workflow.wf, {k: row[k] for k in declared if k in row})
        plan = run_forecast(settings, r.workflow, cell.inputs)
    except WorkflowError as exc:
        cell.error = str(exc)
        return cell
    cell.input_tokens = sum(s.input_tokens for s in plan.steps)
    cell.max_cost_micro, cell.costs = plan.max_cost_micro, plan.cost_by_provider()
    cell.priced = not plan.unpriced
    return cell


def expected_of(row: dict[str, Any]) -> str | None:
    value = row.get(EXPECTED)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


TOOL_RESULTS = "tool_results"  # a dataset column: {"tool name": "result to give the model"}


def canned_results(row: dict[str, Any]) -> dict[str, str]:
    """The row's canned tool results, if it has the column."""
    value = row.get(TOOL_RESULTS)
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except ValueError:
            raise CompareError(f"The {TOOL_RESULTS} column must hold a JSON object keyed by "
                               "tool name.") from None
    if not isinstance(value, dict):
        raise CompareError(f"The {TOOL_RESULTS} column must hold a JSON object keyed by tool "
                           "name.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
