"""A workflow against the lab: the prompts, models and tools its steps name, each step's
values against what it fills (a prompt's declared variables, a template's names) — every
fault a WorkflowError naming its line. What it resolves is what a run and its forecast use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib.agents import Tool, registered_tools
from lib.core import PromptLabError, Settings, WorkflowError
from lib.llm import ModelInfo, current_catalog
from lib.prompts import Prompt, PromptStore, coerce, declared_names
from lib.workflows.graph import Graph, reference
from lib.workflows.spec import (
    AgentStep,
    ConditionStep,
    MapStep,
    OrchestratorStep,
    PromptStep,
    TemplateStep,
    ToolStep,
    Workflow,
)

ROUTER = "router"   # a model step's `model`: the router picks one per call


@dataclass(frozen=True)
class ModelPlan:
    """A model step resolved: its prompt's version and template, the model, its settings."""

    prompt: Prompt
    version: int
    source: str
    model: ModelInfo            # routed steps: the router's pick for the task, as forecast
    routed: bool
    temperature: float
    max_tokens: int
    schema: dict[str, Any] | None   # what the reply must match (an orchestrator's: its plan)


@dataclass
class Resolved:
    wf: Workflow
    graph: Graph
    models: dict[str, ModelPlan] = field(default_factory=dict)   # by step id ("m.do": a map's)
    tools: dict[str, Tool] = field(default_factory=dict)


def plan_schema(step: OrchestratorStep) -> dict[str, Any]:
    """What an orchestrator's reply must be: up to `max_tasks` sub-tasks, each naming one of
    its workers and the input to give it."""
    return {"type": "object", "additionalProperties": False, "required": ["tasks"],
            "properties": {"tasks": {
                "type": "array", "minItems": 1, "maxItems": step.max_tasks,
                "items": {"type": "object", "additionalProperties": False,
                          "required": ["worker", "input"],
                          "properties": {"worker": {"type": "string",
                                                    "enum": list(step.workers)},
                                         "input": {"type": "string"}}}}}}


def resolve(settings: Settings, wf: Workflow) -> Resolved:
    """Check `wf` against the lab's prompts, models and tools; raises WorkflowError."""
    store, catalog = PromptStore(settings.prompts_dir), current_catalog(settings)
    models: dict[str, ModelPlan] = {}
    for sid, step in wf.steps.items():
        for key, s, loc in ((sid, step, ()), *(((f"{sid}.do", step.do, ("do",)),)
                                                 if isinstance(step, MapStep) else ())):
            if isinstance(s, PromptStep | AgentStep | OrchestratorStep):
                models[key] = _model_plan(settings, store, catalog, wf, sid, s, loc)
    types = {sid: "json" if plan.schema is not None else "str"
             for sid, plan in models.items() if "." not in sid}
    graph = Graph(wf, types)
    out = Resolved(wf, graph, models)
    tools = registered_tools()
    for sid, step in wf.steps.items():
        for s, loc in ((step, ()), *(((step.do, ("do",)),) if isinstance(step, MapStep)
                                      else ())):
            _check_values(out, sid, s, loc, tools)
    return out


def _model_plan(settings: Settings, store: PromptStore, catalog: Any, wf: Workflow, sid: str,
                step: PromptStep | AgentStep | OrchestratorStep, loc: tuple[str, ...]
                ) -> ModelPlan:
    try:
        prompt = store.get(step.prompt)
    except PromptLabError as exc:
        raise wf.error(str(exc), *_at(wf, sid, *loc, "prompt")) from None
    try:
        version = prompt.resolve(step.ref)
        source = store.source(prompt.name, version)
        schema = plan_schema(step) if isinstance(step, OrchestratorStep) \
            else prompt.output_schema(version)
    except PromptLabError as exc:
        raise wf.error(str(exc), *_at(wf, sid, *loc, "ref")) from None
    key = step.model or prompt.model
    routed = key == ROUTER
    try:
        if routed:
            from lib.llm import load_router, model_statuses, route

            model = route(load_router(settings, catalog), model_statuses(
                catalog, settings, check_local=False), prompt.task or None).model
        elif not key:
            raise WorkflowError(f"neither the step nor prompt '{prompt.name}' names a model")
        else:
            model = catalog.get(key)
    except PromptLabError as exc:
        raise wf.error(exc.message, *_at(wf, sid, *loc, "model")) from None
    return ModelPlan(prompt, version, source, model, routed,
                     prompt.temperature if step.temperature is None else step.temperature,
                     prompt.max_tokens if step.max_tokens is None else step.max_tokens, schema)


def _at(wf: Workflow, sid: str, *loc: Any) -> tuple[Any, ...]:
    return ("steps", wf.ids.index(sid), *loc)


def _check_values(out: Resolved, sid: str, step: Any, loc: tuple[str, ...],
                  tools: dict[str, Tool]) -> None:
    """Each value a step gives against the place it fills; every place filled."""
    wf, graph = out.wf, out.graph
    item = "str" if sid in graph.workers else "json"
    here = f"{sid}.do" if loc else sid
    if here in out.models:
        prompt = out.models[here].prompt
        declared = {v.name: v for v in prompt.variables}
        for name, value in step.inputs.items():
            at = _at(wf, sid, *loc, "inputs", name)
            if name not in declared:
                raise wf.error(f"prompt '{prompt.name}' has no variable {name!r}", *at)
            var, r = declared[name], reference(value)
            if r is not None and not graph.fits(r, var.type, item):
                raise wf.error(f"type mismatch: {name} is {var.type}, and {r.text} is "
                               f"{graph.ref_type(r, item)}", *at)
            if r is None:
                try:
                    coerce(var, value)
                except ValueError as exc:
                    raise wf.error(f"type mismatch: {name} ({var.type}) {exc}", *at) from None
        for var in prompt.variables:
            if var.name not in step.inputs and var.required and var.default is None:
                raise wf.error(f"missing input: prompt '{prompt.name}' needs {var.name!r}",
                               *_at(wf, sid, *loc, "inputs"))
    names: set[str] = set()
    if isinstance(step, TemplateStep):
        names = _names(wf, sid, loc, "template", step.template)
    elif isinstance(step, ConditionStep):
        names = _names(wf, sid, loc, "expression", f"{{{{ {step.expression} }}}}")
    for name in sorted(names - set(step.inputs)):
        raise wf.error(f"missing input: {name!r} is not among the step's inputs",
                       *_at(wf, sid, *loc, "template" if isinstance(step, TemplateStep)
                            else "expression"))
    for key, names_ in (("tools", getattr(step, "tools", ())),
                        ("tool", (step.tool,) if isinstance(step, ToolStep) else ())):
        for name in names_:
            if name not in tools:
                raise wf.error(f"unknown tool {name!r}; one of {', '.join(sorted(tools))}",
                               *_at(wf, sid, *loc, key))
            out.tools[name] = tools[name]
    if isinstance(step, ToolStep):
        allowed = set(tools[step.tool].parameters.get("properties", {}))
        for name in step.inputs:
            if name not in allowed:
                raise wf.error(f"tool {step.tool!r} takes no argument {name!r}",
                               *_at(wf, sid, *loc, "inputs", name))


def _names(wf: Workflow, sid: str, loc: tuple[str, ...], key: str, source: str) -> set[str]:
    try:
        return declared_names(source)
    except PromptLabError as exc:
        raise wf.error(f"{key}: {exc}", *_at(wf, sid, *loc, key)) from None


def as_text(value: Any) -> str:
    """A value as a prompt's text variable takes it: structured values as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
