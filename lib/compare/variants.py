"""Compare variants: a prompt version x a model x parameters, resolved against the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lib.agents import registered_tools
from lib.core import CompareError, SchemaError
from lib.llm import Catalog, ChatRequest, Message, ModelInfo, Reasoning, check_schema, default_mode
from lib.prompts import Prompt, PromptStore, Variable

if TYPE_CHECKING:
    from lib.workflows import Resolved, WorkflowStore

LETTERS = "ABCD"


@dataclass(frozen=True)
class Variant:
    prompt: str
    ref: str                 # a label or "v3"
    model: str               # catalog key
    temperature: float = 0.7
    max_tokens: int = 256
    tools: tuple[str, ...] = ()  # built-in tools the model may call: each cell is an agent run
    output_schema: str = ""      # JSON Schema text; "" uses the prompt version's, if it has one
    effort: str = ""             # reasoning effort, one the model takes; "": its own default
    seed: int | None = None      # sampling seed; repeat k of a row is sent seed + k
    # "workflow": `prompt` names a stored workflow and `ref` its label or version; each row is
    # a run of it (its steps' models and parameters are its own: the fields above are unused)
    kind: str = "prompt"


@dataclass(frozen=True)
class ResolvedVariant:
    variant: Variant
    prompt: Prompt
    version: int
    source: str
    model: ModelInfo
    schema: dict[str, Any] | None = None   # the reply's JSON Schema, if it has one

    def label(self, index: int) -> str:
        return variant_label(index, self.as_dict())

    @property
    def notes(self) -> dict[str, str]:
        """What the variant asks that its model refuses, by parameter, dropped rather than
        sent (every cell would fail otherwise): shown with the variant, kept with the run."""
        note = self.model.temperature_note(self.variant.temperature)
        return {"temperature": note} if note else {}

    def as_dict(self) -> dict[str, Any]:
        out = {**asdict(self.variant), "version": self.version, "schema": self.schema}
        if notes := self.notes:
            out["dropped"] = notes
        return out

    @property
    def models(self) -> list[ModelInfo]:
        return [self.model]


@dataclass(frozen=True)
class ResolvedWorkflow:
    """A variant that is a stored workflow version: each row runs it with the row's values as
    its inputs; its reply is the run's output."""

    variant: Variant
    workflow: Resolved
    version: int
    models: list[ModelInfo] = field(default_factory=list)   # its steps' models

    def label(self, index: int) -> str:
        return variant_label(index, self.as_dict())

    @property
    def notes(self) -> dict[str, str]:
        return {}

    @property
    def inputs(self) -> list[Variable]:
        """The workflow's inputs, as the variables a dataset's columns fill."""
        return list(self.workflow.wf.variables)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.variant), "version": self.version, "schema": None,
                "model": "workflow"}


AnyVariant = ResolvedVariant | ResolvedWorkflow


def variant_label(index: int, v: dict[str, Any]) -> str:
    if v.get("kind") == "workflow":
        return f"{LETTERS[index]}: workflow {v['prompt']} v{v['version']}"
    tools = f" · tools: {', '.join(v['tools'])}" if v.get("tools") else ""
    schema = " · JSON schema" if v.get("schema") else ""
    # A temperature the model refused was not sent: the label says so, not "t=0.7".
    temperature = ("t: the model's own (it refuses one)" if "temperature" in v.get("dropped", {})
                   else f"t={v['temperature']:g}")
    effort = f" · effort {v['effort']}" if v.get("effort") else ""
    return (f"{LETTERS[index]}: {v['prompt']} v{v['version']} · {v['model']} · "
            f"{temperature}{effort}{tools}{schema}")


def dropped_notes(variants: list[dict[str, Any]]) -> list[str]:
    """One line per parameter a variant's model refused, which the run did not send."""
    return [f"Variant {LETTERS[i]}: {note}" for i, v in enumerate(variants)
            for note in v.get("dropped", {}).values()]


def resolve(store: PromptStore, catalog: Catalog, variants: list[Variant], *,
            at_least: int = 2, workflows: WorkflowStore | None = None) -> list[AnyVariant]:
    """`at_least`: 1 for an eval of one prompt against its thresholds alone; `workflows`: the
    store a workflow variant is read from."""
    if not at_least <= len(variants) <= 4:
        raise CompareError("Compare needs two to four variants." if at_least == 2 else
                           f"An eval runs {at_least} to four variants.")
    out: list[AnyVariant] = []
    for v in variants:
        if v.kind == "workflow":
            if workflows is None:
                raise CompareError(f"Variant {LETTERS[len(out)]} is a workflow, and no "
                                   "workflow store was given.")
            wf = workflows.resolved(v.prompt, v.ref)
            out.append(ResolvedWorkflow(v, wf, wf.wf.version or 0,
                                        [plan.model for plan in wf.models.values()]))
            continue
        prompt = store.get(v.prompt)
        version = prompt.resolve(v.ref)
        model = catalog.get(v.model)
        if v.effort and v.effort not in model.efforts:
            raise CompareError(f"Variant {LETTERS[len(out)]}: {model.label} takes no effort "
                               f"{v.effort!r}" + (f"; it takes {', '.join(model.efforts)}."
                                                  if model.efforts else "."))
        if unknown := [t for t in v.tools if t not in registered_tools()]:
            raise CompareError(f"Unknown tool {unknown[0]!r}; built-ins are "
                               f"{', '.join(registered_tools())}.")
        try:
            schema = check_schema(v.output_schema) or prompt.output_schema(version)
        except SchemaError as exc:
            raise CompareError(f"Variant {LETTERS[len(out)]}: {exc}") from None
        out.append(ResolvedVariant(v, prompt, version, store.source(v.prompt, version), model,
                                   schema))
    return out


def variables_of(resolved: list[AnyVariant]) -> list[Variable]:
    """The union of the variants' declared variables (a workflow's inputs), first wins."""
    seen: dict[str, Any] = {}
    for r in resolved:
        for var in (r.inputs if isinstance(r, ResolvedWorkflow) else r.prompt.variables):
            seen.setdefault(var.name, var)
    return list(seen.values())


def request_for(r: ResolvedVariant, text: str, repeat: int = 0) -> ChatRequest:
    """`repeat`: which asking of the same row this is (an eval's repeats are distinct calls)."""
    effort = r.variant.effort
    seed = r.variant.seed
    return ChatRequest(r.model.id, (Message("user", text),),
                       temperature=r.model.temperature_for(r.variant.temperature),
                       max_tokens=min(r.variant.max_tokens, r.model.max_output),
                       tools=tuple(registered_tools()[n].spec for n in r.variant.tools),
                       output_schema=r.schema,
                       reasoning=Reasoning(default_mode(r.model), effort) if effort else None,
                       seed=None if seed is None else seed + repeat)
