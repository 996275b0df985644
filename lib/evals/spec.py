"""An eval file (`evals/<name>.toml`): what to run, against what, and when it fails.

Read and validated in one place; every error names the file, the line and the key, so a
broken file in a pull request says where it is broken. Paths in the file are relative to it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lib.compare import KINDS as CHECK_KINDS
from lib.compare import Check, Variant
from lib.core import CheckError, EvalError, key_line

MAX_REPEATS = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantSpec(_Strict):
    """A stored prompt on a model, or (`workflow`) a stored workflow run on each row."""

    prompt: str = ""
    workflow: str = ""
    ref: str = "latest"
    model: str = "local/smollm2-135m-instruct"
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1, le=128_000)
    tools: tuple[str, ...] = ()
    output_schema: str = ""
    effort: str = ""

    @model_validator(mode="after")
    def _prompt_or_workflow(self) -> VariantSpec:
        if bool(self.prompt) == bool(self.workflow):
            raise ValueError("a variant names a prompt or a workflow (one of them)")
        return self


class BaselineSpec(_Strict):
    """Exactly one of: `ref` (run beside the candidates: the first candidate with this ref,
    or another prompt/model), `run` (a stored Compare run and its variant), `file` (a
    previous eval's result JSON)."""

    ref: str | None = None
    prompt: str | None = None
    model: str | None = None
    run: int | None = Field(None, ge=1)
    variant: int = Field(0, ge=0, le=3)
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BaselineSpec:
        given = [k for k in ("ref", "run", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a baseline is one of ref (a label or version run beside the "
                             "candidates), run (a stored Compare run) or file (a previous "
                             f"result); found {', '.join(given) or 'none'}")
        return self


class DatasetSpec(_Strict):
    path: str | None = None       # CSV or JSONL, relative to the eval file
    stored: str | None = None     # a dataset saved in the lab, by name

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.stored is None):
            raise ValueError("a dataset is either path (a CSV or JSONL file) or stored (a "
                             "saved dataset's name)")
        return self


class CheckSpec(_Strict):
    kind: str
    value: str = ""


class JudgeSpec(_Strict):
    kind: Literal["rubric", "pairwise"]
    prompt: str
    ref: str = "latest"
    model: str = "local/smollm2-135m-instruct"


class GateSpec(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)   # a drop fails the gate only when this unlikely
    min_pass_rate: float | None = Field(None, ge=0, le=1)  # on the Wilson lower 95% bound


class PromoteSpec(_Strict):
    labels: tuple[str, ...] = ()


class EvalSpec(_Strict):
    name: str = ""
    description: str = ""
    repeats: int = Field(1, ge=1, le=MAX_REPEATS)
    seed: int | None = None
    cache: bool = False      # reuse identical answers (exact; each repeat its own key);
    #                          false: as PROMPTLAB_CACHE says for page "eval"
    dataset: DatasetSpec
    variants: tuple[VariantSpec, ...] = Field(min_length=1, max_length=4)
    baseline: BaselineSpec | None = None
    checks: tuple[CheckSpec, ...] = ()
    judges: tuple[JudgeSpec, ...] = ()
    gate: GateSpec = GateSpec()
    promote: PromoteSpec = PromoteSpec()

    @model_validator(mode="after")
    def _fits_compare(self) -> EvalSpec:
        if self.baseline is not None and self.baseline.ref is not None \
                and len(self.variants) > 3:
            raise ValueError("with a baseline run beside them, at most three variants")
        if not self.checks and not self.judges:
            raise ValueError("an eval needs checks or judges: nothing would be measured")
        return self


class EvalFile:
    """A validated eval file: its spec, where it is, and its name."""

    def __init__(self, path: Path, spec: EvalSpec) -> None:
        self.path, self.spec = path, spec
        self.name = spec.name or path.stem
        self.checks = [Check(c.kind, c.value) for c in spec.checks]

    def resolve_path(self, relative: str) -> Path:
        """A path the file names, relative to the file."""
        return (self.path.parent / relative).resolve()

    def variants(self) -> list[Variant]:
        """The candidates, then the baseline when it runs beside them (the last variant)."""
        seed = self.spec.seed
        out = [Variant(v.workflow, v.ref, "workflow", kind="workflow") if v.workflow else
               Variant(v.prompt, v.ref, v.model, v.temperature, v.max_tokens, v.tools,
                       v.output_schema, v.effort, seed) for v in self.spec.variants]
        b = self.spec.baseline
        if b is not None and b.ref is not None:
            first = out[0]
            out.append(Variant(b.prompt or first.prompt, b.ref, b.model or first.model,
                               first.temperature, first.max_tokens, first.tools,
                               first.output_schema, first.effort, seed,
                               "prompt" if b.prompt else first.kind))
        return out

    @property
    def baseline_beside(self) -> bool:
        b = self.spec.baseline
        return b is not None and b.ref is not None


def load(path: Path) -> EvalFile:
    """Read and validate an eval file; EvalError names the line and key of any fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"Cannot read the eval file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path}: not valid TOML: {exc}") from None
    try:
        spec = EvalSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise EvalError(f"{path}{_where(text, loc)}: {_key(loc)}: {err['msg']}"
                        + (f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1
                           else "")) from None
    for i, c in enumerate(spec.checks):
        try:
            if c.kind not in CHECK_KINDS:
                raise CheckError(f"unknown check kind {c.kind!r}; one of "
                                 f"{', '.join(CHECK_KINDS)}")
            Check(c.kind, c.value).validate()
        except CheckError as exc:
            raise EvalError(f"{path}{_where(text, ('checks', i))}: checks[{i}]: "
                            f"{exc}") from None
    return EvalFile(path, spec)


def _key(loc: tuple[Any, ...]) -> str:
    """("variants", 0, "temperature") as variants[0].temperature."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


def _where(text: str, loc: tuple[Any, ...]) -> str:
    """", line N" for the key at `loc` (or the deepest table holding it); "" if not found."""
    line = key_line(text, loc)
    return f", line {line}" if line else ""
