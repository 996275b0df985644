"""A prompt's manifest (`manifest.toml`): what it is, read and written by the same rules.

`dump` parses its own output with `parse` before anything is written, so the store can never
write a manifest it would refuse to read back. Names and labels are matched whole
(`fullmatch`): a `$` anchor lets "name\\n" through.
"""

from __future__ import annotations

import math
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
# What every reader accepts (the API takes temperature 0..2, max_tokens 1..10**7; providers
# the same or less): the store takes no more.
TEMPERATURE_RANGE = (0.0, 2.0)
MAX_TOKENS_LIMIT = 1_000_000
MAX_TEXT_CHARS = 100_000          # a description, note, default or output schema
MAX_MANIFEST_CHARS = 2_000_000    # a manifest read from disk, before it is parsed
MAX_DEFAULT_DEPTH = 32            # how deep a list / json default may nest


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
        return resolve_ref(f"Prompt '{self.name}'", self.labels,
                           [v.version for v in self.versions], ref)

    def output_schema(self, version: int) -> dict[str, Any] | None:
        """The JSON Schema this version declares for its replies, if any."""
        from lib.llm import check_schema  # lazy: prompts load without the llm package

        text = next((v.output_schema for v in self.versions if v.version == version), "")
        return check_schema(text) if text else None

    def labels_of(self, version: int) -> list[str]:
        return sorted(label for label, v in self.labels.items() if v == version)


def resolve_ref(what: str, labels: dict[str, int], versions: list[int], ref: str | int) -> int:
    """A version number of `versions` from 3, "v3", "latest" or one of `labels`; `what`
    ("Prompt 'x'") starts the PromptStoreError otherwise."""
    if isinstance(ref, int):
        version = ref
    elif ref == "latest":
        version = max(versions)
    elif ref in labels:
        version = labels[ref]
    elif m := VERSION_REF.fullmatch(str(ref)):
        version = int(m.group(1))
    else:
        raise PromptStoreError(f"{what} has no label or version {ref!r}.")
    if version not in versions:
        raise PromptStoreError(f"{what} has no version {version}.")
    return version


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
            check_default(var)
    return variables


def check_default(var: Variable) -> None:
    """A default no deeper, larger or less storable than a reader can take, of its type."""
    stack, size = [(var.default, 1)], 0
    while stack:  # iterative: a default nested 400 deep must not recurse to be refused
        value, depth = stack.pop()
        if depth > MAX_DEFAULT_DEPTH:
            raise VariableError(f"The default of '{var.name}' nests deeper than "
                                f"{MAX_DEFAULT_DEPTH} levels.")
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in (*value.keys(), *value.values())]
        elif isinstance(value, list | tuple):
            stack += [(v, depth + 1) for v in value]
        elif isinstance(value, str):
            size += len(value)
            try:
                check_text(f"default of '{var.name}'", value)
            except PromptStoreError as exc:
                raise VariableError(exc.message, hint=exc.hint) from None
        else:
            size += 8
        if size > MAX_TEXT_CHARS:
            raise VariableError(f"The default of '{var.name}' is longer than "
                                f"{MAX_TEXT_CHARS:,} characters.")
    try:
        coerce(var, var.default)
    except ValueError as exc:
        raise VariableError(f"The default of '{var.name}' ({var.type}) {exc}.") from None


def check_parameters(temperature: Any, max_tokens: Any) -> None:
    """Default model parameters every reader accepts, or an error naming the field."""
    low, high = TEMPERATURE_RANGE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
            math.isfinite(temperature) and low <= temperature <= high):
        raise PromptStoreError(f"Temperature must be a number from {low:g} to {high:g}; "
                               f"got {temperature!r}.")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not (
            1 <= max_tokens <= MAX_TOKENS_LIMIT):
        raise PromptStoreError(f"Max tokens must be a whole number from 1 to "
                               f"{MAX_TOKENS_LIMIT:,}; got {max_tokens!r}.")


def check_task(task: str) -> str:
    """"" (no task) or one of the router's tasks."""
    from lib.llm import TASKS  # lazy: prompts load without the llm package

    if task and task not in TASKS:
        raise PromptStoreError(f"{task!r} is not a task the router knows.",
                               hint=f"Use one of {', '.join(TASKS)}, or none.")
    return task


def check_text(what: str, text: str, limit: int | None = None) -> str:
    """Text that can be stored as UTF-8 (a lone surrogate cannot), within `limit` characters."""
    if not isinstance(text, str):
        raise PromptStoreError(f"The {what} must be text, not {type(text).__name__}.")
    if limit is not None and len(text) > limit:
        raise PromptStoreError(f"The {what} is {len(text):,} characters; the limit is "
                               f"{limit:,}.")
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

    check_text(f"output schema of v{info.version}", info.output_schema, MAX_TEXT_CHARS)
    try:
        check_schema(info.output_schema)
    except SchemaError as exc:
        raise PromptStoreError(f"v{info.version} of '{name}': {exc}") from None


def parse(name: str, text: str) -> Prompt:
    """A manifest's text as a Prompt, or PromptStoreError / VariableError saying what is wrong."""
    if len(text) > MAX_MANIFEST_CHARS:
        raise PromptStoreError(f"The manifest of '{name}' is {len(text):,} characters; the "
                               f"limit is {MAX_MANIFEST_CHARS:,}.")
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
            model=str(data.get("model", "")), temperature=data.get("temperature", 0.7),
            max_tokens=data.get("max_tokens", 512),
            task=check_task(str(data.get("task", ""))))
    except (TypeError, ValueError, AttributeError) as exc:
        raise PromptStoreError(f"The manifest of '{name}' is invalid: {exc}") from None
    try:
        check_parameters(prompt.temperature, prompt.max_tokens)
    except PromptStoreError as exc:
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
        check_text(what, text, MAX_TEXT_CHARS)
    check_variables(prompt.variables)
    for info in prompt.versions:
        if info.output_schema:
            check_output_schema(prompt.name, info)
    check_parameters(prompt.temperature, prompt.max_tokens)
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
    check_text("manifest", text)  # whatever field a character that cannot be saved hid in
    if parse(prompt.name, text) != prompt:
        raise PromptStoreError(f"The manifest of '{prompt.name}' would not read back as "
                               "written; nothing was saved.")
    return text
