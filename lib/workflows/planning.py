"""The forecast of a run, before anything is sent: how many model calls each step may make
and what they may cost at most, counted with each model's tokenizer and priced at input plus
the full max output (as Compare's forecast is).

A step's input is its template plus what fills it: the run's inputs as given, an earlier
step's output at its largest (a model's max tokens, a tool's result cap, a list's items).
A map over an input runs once per element; over an earlier output, up to `max_items`; an
orchestrator plans once and dispatches up to `max_tasks`; an agent may take every step it
is allowed.

Each step also has a bound (what its calls may hold, as lib.llm.Call.bound_micro holds it:
its text's UTF-8 bytes as tokens at the dearest input price): the run's one hold is these
bounds, admitted on the counted costs. Text not known yet (an earlier step's output) is
taken at BYTES_PER_TOKEN of its most tokens; a call that finds the hold short reserves on
its own, checked like any call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.agents import RESULT_TOKENS
from lib.core import Settings
from lib.llm import ChatRequest, Message, ModelInfo, counter_for, max_input_tokens
from lib.workflows.graph import Ref, reference
from lib.workflows.resolving import ModelPlan, Resolved, as_text
from lib.workflows.spec import (
    AgentStep,
    MapStep,
    OrchestratorStep,
    TemplateStep,
)


@dataclass(frozen=True)
class StepForecast:
    step: str
    calls: int
    input_tokens: int           # of all its calls
    max_cost_micro: int
    provider: str = ""
    priced: bool = True
    bound_micro: int = 0        # what its calls hold at most (see the module's docstring)


BYTES_PER_TOKEN = 4     # an output not known yet, resent as input: its bytes, typically
FENCE_BYTES = 256       # what fencing a value as untrusted text may add around it


@dataclass(frozen=True)
class Forecast:
    steps: tuple[StepForecast, ...]

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.steps)

    @property
    def max_cost_micro(self) -> int:
        return sum(s.max_cost_micro for s in self.steps)

    @property
    def unpriced(self) -> int:
        """Steps on a model whose price is unknown: their cost is not in the sums."""
        return sum(not s.priced for s in self.steps)

    def cost_by_provider(self, bound: bool = False) -> dict[str, int]:
        """The most cost by provider (`bound`: what the calls may hold)."""
        out: dict[str, int] = {}
        for s in self.steps:
            if s.provider:
                out[s.provider] = out.get(s.provider, 0) + (s.bound_micro if bound
                                                             else s.max_cost_micro)
        return out


def forecast(settings: Settings, resolved: Resolved, inputs: dict[str, Any]) -> Forecast:
    """Each scheduled step's calls and most cost for these (checked) inputs."""
    return Forecast(tuple(_Estimate(settings, resolved, inputs).step(sid)
                          for sid in resolved.graph.scheduled))


class _Estimate:
    def __init__(self, settings: Settings, resolved: Resolved, inputs: dict[str, Any]) -> None:
        self.settings, self.r, self.inputs = settings, resolved, inputs
        self._sizes: dict[str, int] = {}

    def step(self, sid: str) -> StepForecast:
        step = self.r.wf.steps[sid]
        if isinstance(step, MapStep):
            n = self._count(step)
            sub = self._calls(f"{sid}.do", step.do, step.do.inputs)
            return StepForecast(sid, sub[0] * n, sub[1] * n, sub[2] * n, sub[3], sub[4],
                                sub[5] * n)
        plan = self._calls(sid, step, step.inputs)
        if isinstance(step, OrchestratorStep):
            workers = [self._calls(w, self.r.wf.steps[w], self.r.wf.steps[w].inputs)
                       for w in step.workers]
            worst = max(workers, key=lambda w: w[2])
            n = step.max_tasks
            return StepForecast(sid, plan[0] + n * worst[0], plan[1] + n * worst[1],
                                plan[2] + n * worst[2], plan[3] or worst[3],
                                plan[4] and worst[4], plan[5] + n * worst[5])
        return StepForecast(sid, *plan)

    def _calls(self, key: str, step: Any, values: dict[str, Any]
               ) -> tuple[int, int, int, str, bool, int]:
        """(calls, input tokens, most cost, provider, priced, bound) of one run of a step."""
        plan: ModelPlan | None = self.r.models.get(key)
        if plan is None:
            return 0, 0, 0, "", True, 0
        counter = counter_for(plan.model, self.settings)
        tokens = counter.count(plan.source) + sum(self._size(v, counter.count)
                                                  for v in values.values())
        nbytes = _utf8(plan.source) + sum(FENCE_BYTES + self._size(v, _utf8, BYTES_PER_TOKEN)
                                          for v in values.values())
        calls = step.max_steps if isinstance(step, AgentStep) else 1
        cost = calls * plan.model.cost_micro(tokens, plan.max_tokens)
        bound = calls * _bound(plan.model, max_input_tokens(ChatRequest(
            plan.model.id, (Message("user", "x" * nbytes),),
            output_schema=plan.schema)), plan.max_tokens)
        return calls, calls * tokens, cost, plan.model.provider, plan.model.priced, bound

    def _size(self, value: Any, count: Any, per_token: int = 1) -> int:
        """A value's size as `count` counts it (tokens, bytes); an output not known yet at
        `per_token` units a token."""
        r = reference(value)
        if r is None:
            return count(as_text(value))
        if r.source == "inputs":
            return count(as_text(self.inputs.get(r.name, "")))
        if r.source == "item":
            return 256 * per_token   # an element or a sub-task's input: not known yet
        return self._output(r, count) * per_token

    def _output(self, r: Ref, count: Any) -> int:
        """The most tokens a step's output may hold."""
        sid = r.source
        if sid in self._sizes:
            return self._sizes[sid]
        self._sizes[sid] = 0  # (no cycle reaches here: the graph refused them)
        step, plan = self.r.wf.steps[sid], self.r.models.get(sid)
        if isinstance(step, MapStep):
            sub = self.r.models.get(f"{sid}.do")
            size = self._count(step) * (sub.max_tokens if sub else RESULT_TOKENS)
        elif isinstance(step, OrchestratorStep):
            size = step.max_tasks * max((self.r.models[w].max_tokens if w in self.r.models
                                         else RESULT_TOKENS) for w in step.workers)
        elif plan is not None:
            size = plan.max_tokens
        elif isinstance(step, TemplateStep):
            size = count(step.template) + sum(self._size(v, count)
                                              for v in step.inputs.values())
        elif step.kind == "condition":
            size = 1
        else:
            size = RESULT_TOKENS
        self._sizes[sid] = size
        return size

    def _count(self, step: MapStep) -> int:
        """How many elements a map runs over: the input's, else its bound."""
        r = reference(step.over)
        if r is not None and r.source == "inputs" and not r.path:
            value = self.inputs.get(r.name)
            if isinstance(value, list):
                return min(len(value), step.max_items)
        return step.max_items


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def _bound(model: ModelInfo, tokens: int, max_tokens: int) -> int:
    """As lib.llm.Call.bound_micro: input at the dearest input price, full max output."""
    price = max(model.input, model.cache_write, model.cache_read)
    into, out = model.rates(tokens)
    return round(into * tokens * price + out * max_tokens * model.output)
