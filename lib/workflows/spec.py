"""A workflow file (`workflows/<name>/vN.toml`): typed inputs and steps, read and checked for
its shape in one place; every error names the line. The graph's rules (unknown steps,
cycles, types) are lib.workflows.graph's; the prompts, models and tools it names are checked
by lib.workflows.resolving.

    [inputs]
    code = "str"                                   # or { type = "str", default = "..." }

    [[steps]]
    id = "security"
    kind = "prompt"                                # prompt, agent, tool, template, condition,
    prompt = "code-reviewer"                       # map or orchestrator
    ref = "production"
    inputs = { code = "inputs.code", focus = "security" }

A value in `inputs` is a reference when it reads `inputs.<name>`, `<step>.output` (either
followed by `.key` path parts into a JSON value) or `item` (a map's element, an orchestrator
sub-task's input); anything else is a literal.
"""

from __future__ import annotations

import re
import tomllib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lib.core import WorkflowError, key_line
from lib.prompts import Variable

TYPES = ("str", "int", "float", "bool", "list", "json")
KINDS = ("prompt", "agent", "tool", "template", "condition", "map", "orchestrator")
STEP_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_STEPS = 100
MAX_FILE_CHARS = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    type: Literal["str", "int", "float", "bool", "list", "json"] = "str"
    required: bool = True
    default: Any = None
    description: str = ""


class _Step(_Strict):
    inputs: dict[str, Any] = {}     # values by name: references or literals
    when: str | None = None         # a bool reference ("check.output", "not inputs.x")
    description: str = ""


class _Model(_Step):
    prompt: str
    ref: str = "latest"
    model: str = ""                 # a catalog key or "router"; "": the prompt's own model
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=128_000)


class PromptStep(_Model):
    kind: Literal["prompt"]


class AgentStep(_Model):
    kind: Literal["agent"]
    tools: tuple[str, ...] = Field(min_length=1)
    max_steps: int = Field(4, ge=1, le=20)
    knowledge_base: str = ""        # for the knowledge-base tools


class ToolStep(_Step):
    kind: Literal["tool"]
    tool: str                       # its arguments are the step's inputs
    knowledge_base: str = ""


class TemplateStep(_Step):
    kind: Literal["template"]
    template: str = Field(max_length=100_000)   # sandboxed Jinja over the step's inputs
    parse: Literal["text", "json"] = "text"      # json: the rendered text is parsed


class ConditionStep(_Step):
    kind: Literal["condition"]
    expression: str = Field(max_length=2_000)   # a sandboxed Jinja expression: true or false


SubStep = Annotated[PromptStep | AgentStep | ToolStep | TemplateStep, Field(discriminator="kind")]


class MapStep(_Step):
    kind: Literal["map"]
    over: str                       # a reference to a list
    do: SubStep                     # run once per element (`item`)
    concurrency: int = Field(4, ge=1, le=16)
    max_items: int = Field(50, ge=1, le=1_000)


class OrchestratorStep(_Model):
    kind: Literal["orchestrator"]
    workers: tuple[str, ...] = Field(min_length=1)  # the steps its sub-tasks may name
    max_tasks: int = Field(5, ge=1, le=20)
    concurrency: int = Field(4, ge=1, le=16)


Step = Annotated[PromptStep | AgentStep | ToolStep | TemplateStep | ConditionStep | MapStep
                 | OrchestratorStep, Field(discriminator="kind")]
ModelStep = PromptStep | AgentStep | OrchestratorStep


class _Named(_Strict):
    id: str

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STEP_ID.fullmatch(value):
            raise ValueError("a step id is 1-40 lowercase letters, digits or _, starting "
                             "with a letter")
        return value


class WorkflowSpec(_Strict):
    description: str = ""
    inputs: dict[str, InputSpec] = {}
    steps: tuple[Step, ...] = Field(min_length=1, max_length=MAX_STEPS)
    outputs: tuple[str, ...] = ()   # the run's outputs; (): the steps nothing depends on

    @field_validator("inputs", mode="before")
    @classmethod
    def _short_inputs(cls, value: Any) -> Any:
        """`name = "str"` is short for `name = { type = "str" }`."""
        if isinstance(value, dict):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


class Workflow:
    """A parsed workflow: its spec, its step ids in file order, and its text (for lines)."""

    def __init__(self, name: str, spec: WorkflowSpec, ids: tuple[str, ...], text: str,
                 version: int | None = None) -> None:
        self.name, self.spec, self.ids, self.text, self.version = name, spec, ids, text, version
        self.steps: dict[str, Any] = dict(zip(ids, spec.steps, strict=True))

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Its inputs as the variables a form, a dataset's columns or a request fill."""
        return tuple(Variable(n, i.type, i.required, i.default, i.description)
                     for n, i in self.spec.inputs.items())

    def position(self, step: str) -> int:
        """The step's place in the file, from 1: the ledger rows' step number."""
        return self.ids.index(step) + 1

    def line(self, *loc: Any) -> int | None:
        """The line of a key of the file: ("steps", 2, "inputs", "code")."""
        return key_line(self.text, loc)

    def step_line(self, step: str, *loc: Any) -> int | None:
        return self.line("steps", self.ids.index(step), *loc)

    def error(self, message: str, *loc: Any) -> WorkflowError:
        """A WorkflowError for the key at `loc`, its line named."""
        line = self.line(*loc)
        name = self.name + (f" v{self.version}" if self.version else "")
        where = f"{name}, line {line}: " if line else f"{name}: "
        return WorkflowError(where + message, line=line)


def parse(name: str, text: str, version: int | None = None) -> Workflow:
    """The file's text as a Workflow, or WorkflowError naming the line of the first fault
    of its shape (TOML, unknown kind or field, a value of the wrong type, a repeated id)."""
    if len(text) > MAX_FILE_CHARS:
        raise WorkflowError(f"{name}: the file is {len(text):,} characters; the limit is "
                            f"{MAX_FILE_CHARS:,}.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m[1]) if (m := re.search(r"at line (\d+)", str(exc))) else None
        raise WorkflowError(f"{name}: not valid TOML: {exc}", line=line) from None
    steps = data.get("steps")
    ids: list[str] = []
    if isinstance(steps, list):  # ids apart: a union's errors would bury a missing one
        for i, step in enumerate(steps):
            raw = step.get("id") if isinstance(step, dict) else None
            try:
                ids.append(_Named(id=raw).id)
            except ValidationError as exc:
                raise _fault(name, text, exc, ("steps", i, "id")) from None
            if ids[-1] in ids[:-1]:
                raise _fault(name, text, None, ("steps", i, "id"),
                             f"step id {ids[-1]!r} is used twice")
            steps[i] = {k: v for k, v in step.items() if k != "id"}
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise _fault(name, text, exc) from None
    return Workflow(name, spec, tuple(ids), text, version)


def _fault(name: str, text: str, exc: ValidationError | None, loc: tuple[Any, ...] = (),
           message: str = "") -> WorkflowError:
    if exc is not None:
        err = exc.errors()[0]
        loc = loc or _plain(tuple(err["loc"])) + (
            ("kind",) if err["type"] == "union_tag_invalid" else ())
        message = message or _message(err)
    line = key_line(text, loc)
    where = f", line {line}" if line else ""
    return WorkflowError(f"{name}{where}: {_key(loc)}: {message}", line=line)


def _message(err: Any) -> str:
    if err["type"] == "union_tag_invalid":
        return f"unknown kind {err['input'].get('kind')!r}; one of {', '.join(KINDS)}"
    if err["type"] == "union_tag_not_found":
        return f"a step needs a kind: one of {', '.join(KINDS)}"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"])


def _plain(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's location without the union's tags: ("steps", 0, "prompt", "x") as
    ("steps", 0, "x")."""
    return tuple(part for i, part in enumerate(loc)
                 if not (part in KINDS and i > 0 and loc[i - 1] != "kind"
                         and (isinstance(loc[i - 1], int) or loc[i - 1] == "do")))


def _key(loc: tuple[Any, ...]) -> str:
    """("steps", 0, "inputs", "code") as steps[0].inputs.code."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"
