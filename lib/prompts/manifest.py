"""A prompt's manifest (`manifest.toml`): what it is, read and written by the same rules.

`dump` parses its own output with `parse` before anything is written, so the store can never
write a manifest it would refuse to read back. Names and labels are matched whole
(`fullmatch`): a `$` anchor lets "name\\n" through.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

from lib.core import PromptStoreError, VariableError
from lib.prompts.variables import VARIABLE_TYPES, Variable, coerce

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
LABEL = re.compile(r"[a-z][a-z0-9_-]{0,30}")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
VERSION_REF = re.compile(r"v?(\d{1,9})")
RESERVED_LABELS = ("latest",)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    note: str = ""
    author: str = ""
    created_at: str = ""
    output_schema: str = ""   # JSON Schema text the reply must match; "" for free text


@dataclass(frozen=True)
class Prompt:
    name: str
    description: str = ""
    variables: tuple[Variable, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)
    versions: tuple[VersionInfo, ...] = ()
    model: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    task: str = ""            # what the router should treat it as (lib.llm TASKS); "" for none

    @property
    def latest(self) -> int:
        return max(v.version for v in self.versions)

    def resolve(self, ref: str | int) -> int:
        """A version number from 3, "v3", "latest" or a label such as "production"."""
        if isinstance(ref, int):
            version = ref
        elif ref == "latest":
            version = self.latest
        elif ref in self.labels:
            version = self.labels[ref]
        elif m := VERSION_REF.fullmatch(str(ref)):
            version = int(m.group(1))
        else:
            raise PromptStoreError(f"Prompt '{self.name}' has no label or version {ref!r}.")
        if version not in {v.version for v in self.versions}:
            raise PromptStoreError(f"Prompt '{self.name}' has no version {version}.")
        return version

    def output_schema(self, version: int) -> dict[str, Any] | None:
        """The JSON Schema this version declares for its replies, if any."""
        from lib.llm import check_schema  # lazy: prompts load without the llm package

        text = next((v.output_schema for v in self.versions if v.version == version), "")
        return check_schema(text) if text else None

    def labels_of(self, version: int) -> list[str]:
        return sorted(label for label, v in self.labels.items() if v == version)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PromptStoreError(f"{name!r} is not a valid prompt name.",
                               hint="Use 2-63 lowercase letters, digits, - or _.")
    return name


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise PromptStoreError(f"{label!r} is not a valid label.",
                               hint="Use lowercase letters, digits, - or _, starting with a "
                                    "letter.")
    if label in RESERVED_LABELS:
        raise PromptStoreError(f"'{label}' is reserved: it always means the newest version.")
    return label


def check_variables(variables: tuple[Variable, ...]) -> tuple[Variable, ...]:
    """Names, types and defaults as the reader requires; the same rules on every write."""
    seen: set[str] = set()
    for var in variables:
        if not isinstance(var.name, str) or not VARIABLE.fullmatch(var.name):
            raise VariableError(f"{var.name!r} is not a valid variable name.",
                                hint="Use letters, digits and _, not starting with a digit.")
        if var.name in seen:
            raise VariableError(f"Variable '{var.name}' is declared twice.")
        seen.add(var.name)
        if var.type not in VARIABLE_TYPES:
            raise VariableError(f"Variable '{var.name}' has unknown type {var.type!r}; "
                                f"use one of {', '.join(VARIABLE_TYPES)}.")
        if var.default is not None:
            try:
                coerce(var, var.default)
            except ValueError as exc:
                raise VariableError(f"The default of '{var.name}' ({var.type}) {exc}.") \
                    from None
    return variables


def check_task(task: str) -> str:
    """"" (no task) or one of the router's tasks."""
    from lib.llm import TASKS  # lazy: prompts load without the llm package

    if task and task not in TASKS:
        raise PromptStoreError(f"{task!r} is not a task the router knows.",
                               hint=f"Use one of {', '.join(TASKS)}, or none.")
    return task


def check_text(what: str, text: str) -> str:
    """Text that can be stored as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PromptStoreError(f"The {what} contains a character that cannot be saved "
                               f"(position {exc.start}).",
                               hint="Remove it, or paste the text again.") from None
    return text


def check_output_schema(name: str, info: VersionInfo) -> None:
    """A declared output schema must be a valid JSON Schema, or the manifest is refused."""
    from lib.core import SchemaError
    from lib.llm import check_schema

    try:
        check_schema(info.output_schema)
    except SchemaError as exc:
        raise PromptStoreError(f"v{info.version} of '{name}': {exc}") from None


def parse(name: str, text: str) -> Prompt:
    """A manifest's text as a Prompt, or PromptStoreError / VariableError saying what is wrong."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise PromptStoreError(f"The manifest of '{name}' is invalid: {exc}") from None
    try:
        variables = tuple(Variable(**item) for item in data.get("variables", []))
        labels = {check_label(str(k)): int(v) for k, v in data.get("labels", {}).items()}
        prompt = Prompt(
            name=check_name(name), description=str(data.get("description", "")),
            variables=check_variables(variables), labels=labels,
            versions=tuple(VersionInfo(**v) for v in data.get("versions", [])),
            model=str(data.get("model", "")), temperature=float(data.get("temperature", 0.7)),
            max_tokens=int(data.get("max_tokens", 512)),
            task=check_task(str(data.get("task", ""))))
    except (TypeError, ValueError, AttributeError) as exc:
        raise PromptStoreError(f"The manifest of '{name}' is invalid: {exc}") from None
    if not prompt.versions:
        raise PromptStoreError(f"The manifest of '{name}' lists no versions.")
    for v in prompt.versions:
        if v.output_schema:
            check_output_schema(name, v)
    for label, version in labels.items():
        if version not in {v.version for v in prompt.versions}:
            raise PromptStoreError(f"Label '{label}' of '{name}' points at a missing version.")
    return prompt


def dump(prompt: Prompt) -> str:
    """The manifest text of a prompt, refused unless `parse` reads it back the same."""
    import tomli_w

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}  # TOML has no null

    for what, text in (("description", prompt.description), ("model", prompt.model),
                       *((f"note of v{v.version}", v.note) for v in prompt.versions),
                       *((f"author of v{v.version}", v.author) for v in prompt.versions),
                       *((f"description of '{v.name}'", v.description)
                         for v in prompt.variables)):
        check_text(what, text)
    check_task(prompt.task)
    try:
        text = tomli_w.dumps({
            "description": prompt.description, "model": prompt.model,
            "temperature": prompt.temperature, "max_tokens": prompt.max_tokens,
            **({"task": prompt.task} if prompt.task else {}),  # absent: older files unchanged
            "labels": dict(sorted(prompt.labels.items())),
            "variables": [clean(asdict(v)) for v in prompt.variables],
            "versions": [{k: v for k, v in asdict(info).items()
                          if k != "output_schema" or v} for info in prompt.versions]})
    except (TypeError, ValueError) as exc:  # e.g. a JSON default holding null
        raise PromptStoreError(f"The manifest of '{prompt.name}' cannot be stored: {exc}",
                               hint="TOML has no null: leave such a value out.") from None
    if parse(prompt.name, text) != prompt:
        raise PromptStoreError(f"The manifest of '{prompt.name}' would not read back as "
                               "written; nothing was saved.")
    return text
