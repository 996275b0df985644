"""The prompt store: `prompts/<name>/v1.j2, v2.j2, ...` and a `manifest.toml` per prompt.

A saved edit is a new version file; nothing is ever overwritten. The manifest holds the
description, declared variables, labels (production -> 3), a note / author / time per version,
and default model parameters. Writes are serialised by a lock file and land atomically.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import re
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lib.core import PromptStoreError, VariableError, atomic_write, now_iso
from lib.prompts.sandbox import declared_names, render
from lib.prompts.variables import VARIABLE_TYPES, Variable, validate

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
VERSION_REF = re.compile(r"^v?(\d+)$")


@dataclass(frozen=True)
class VersionInfo:
    version: int
    note: str = ""
    author: str = ""
    created_at: str = ""


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
        elif m := VERSION_REF.match(str(ref)):
            version = int(m.group(1))
        else:
            raise PromptStoreError(f"Prompt '{self.name}' has no label or version {ref!r}.")
        if version not in {v.version for v in self.versions}:
            raise PromptStoreError(f"Prompt '{self.name}' has no version {version}.")
        return version

    def labels_of(self, version: int) -> list[str]:
        return sorted(label for label, v in self.labels.items() if v == version)



def _check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise PromptStoreError(f"{name!r} is not a valid prompt name.",
                            hint="Use 2-63 lowercase letters, digits, - or _.")
    return name


def _variables_from(raw: list[dict[str, Any]]) -> tuple[Variable, ...]:
    out = []
    for item in raw:
        var = Variable(**item)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var.name):
            raise VariableError(f"{var.name!r} is not a valid variable name.")
        if var.type not in VARIABLE_TYPES:
            raise VariableError(f"Variable '{var.name}' has unknown type {var.type!r}; "
                                f"use one of {', '.join(VARIABLE_TYPES)}.")
        out.append(var)
    return tuple(out)


def _manifest_dict(p: Prompt) -> dict[str, Any]:
    """TOML has no null: drop None fields."""
    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}

    return {"description": p.description, "model": p.model, "temperature": p.temperature,
            "max_tokens": p.max_tokens, "labels": dict(sorted(p.labels.items())),
            "variables": [clean(asdict(v)) for v in p.variables],
            "versions": [asdict(v) for v in p.versions]}


class PromptStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if (p / "manifest.toml").is_file() and NAME.match(p.name))

    def get(self, name: str) -> Prompt:
        folder = self.root / _check_name(name)
        try:
            data = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PromptStoreError(f"There is no prompt named '{name}'.") from None
        except tomllib.TOMLDecodeError as exc:
            raise PromptStoreError(f"The manifest of '{name}' is invalid: {exc}") from None
        try:
            return Prompt(
                name=name, description=data.get("description", ""),
                variables=_variables_from(data.get("variables", [])),
                labels={str(k): int(v) for k, v in data.get("labels", {}).items()},
                versions=tuple(VersionInfo(**v) for v in data.get("versions", [])),
                model=data.get("model", ""), temperature=float(data.get("temperature", 0.7)),
                max_tokens=int(data.get("max_tokens", 512)))
        except (TypeError, ValueError) as exc:
            raise PromptStoreError(f"The manifest of '{name}' is invalid: {exc}") from None

    def source(self, name: str, version: int) -> str:
        path = self.root / _check_name(name) / f"v{int(version)}.j2"
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PromptStoreError(f"Prompt '{name}' has no version {version}.") from None

    def render(self, name: str, ref: str | int, values: dict[str, Any]) -> tuple[int, str]:
        """(version, text): the template named by the store, never by free text."""
        prompt = self.get(name)
        version = prompt.resolve(ref)
        return version, render(self.source(name, version), validate(prompt.variables, values))

    def diff(self, name: str, a: int, b: int) -> list[tuple[str, str, str]]:
        """Side-by-side rows (kind, left line, right line); kind is =, -, + or ~."""
        left = self.source(name, a).splitlines()
        right = self.source(name, b).splitlines()
        rows: list[tuple[str, str, str]] = []
        matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                rows += [("=", x, x) for x in left[i1:i2]]
            elif op == "delete":
                rows += [("-", x, "") for x in left[i1:i2]]
            elif op == "insert":
                rows += [("+", "", y) for y in right[j1:j2]]
            else:
                ls, rs = left[i1:i2], right[j1:j2]
                for k in range(max(len(ls), len(rs))):
                    rows.append(("~", ls[k] if k < len(ls) else "", rs[k] if k < len(rs) else ""))
        return rows

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        folder = self.root / _check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_manifest(self, folder: Path, prompt: Prompt) -> None:
        import tomli_w

        atomic_write(folder / "manifest.toml", tomli_w.dumps(_manifest_dict(prompt)))

    def check(self, source: str, variables: tuple[Variable, ...]) -> str:
        """Compile and render with the defaults (or sample values); returns the preview."""
        undeclared = declared_names(source) - {v.name for v in variables}
        if undeclared:
            raise VariableError("The template uses undeclared variables: "
                                f"{', '.join(sorted(undeclared))}.",
                                hint="Declare them, or fix their names.")
        return render(source, validate(variables, _sample_values(variables)))

    def create(self, name: str, source: str, *, description: str = "",
               variables: tuple[Variable, ...] = (), author: str = "", note: str = "",
               model: str = "", temperature: float = 0.7, max_tokens: int = 512) -> Prompt:
        _check_name(name)
        if (self.root / name / "manifest.toml").exists():
            raise PromptStoreError(f"A prompt named '{name}' already exists.")
        self.check(source, variables)
        with self._locked(name) as folder:
            if (folder / "manifest.toml").exists():
                raise PromptStoreError(f"A prompt named '{name}' already exists.")
            _write_new(folder / "v1.j2", source)
            prompt = Prompt(name, description, variables, {},
                            (VersionInfo(1, note or "First version", author, now_iso()),),
                            model, temperature, max_tokens)
            self._write_manifest(folder, prompt)
        return prompt

    def save_version(self, name: str, source: str, *, note: str = "", author: str = "",
                     variables: tuple[Variable, ...] | None = None) -> int:
        """Save an edit as the next version; a template that fails to render is refused."""
        current = self.get(name)
        variables = current.variables if variables is None else variables
        self.check(source, variables)
        with self._locked(name) as folder:
            prompt = self.get(name)  # re-read under the lock: another session may have saved
            # Past any file a crashed save left behind, too: nothing is ever overwritten.
            version = max([prompt.latest, *(int(m.group(1)) for p in folder.glob("v*.j2")
                                             if (m := VERSION_REF.match(p.stem)))]) + 1
            _write_new(folder / f"v{version}.j2", source)
            info = VersionInfo(version, note, author, now_iso())
            self._write_manifest(folder, replace(prompt, variables=variables,
                                                 versions=(*prompt.versions, info)))
        return version

    def set_label(self, name: str, label: str, version: int) -> None:
        """Point a label at a version (moving it, or rolling back to an older one)."""
        if not LABEL.match(label):
            raise PromptStoreError(f"{label!r} is not a valid label.",
                                hint="Use lowercase letters, digits, - or _.")
        if label in ("latest",):
            raise PromptStoreError("'latest' is reserved: it always means the newest version.")
        with self._locked(name) as folder:
            prompt = self.get(name)
            prompt.resolve(version)
            self._write_manifest(folder, replace(prompt, labels={**prompt.labels,
                                                                 label: version}))


def _write_new(path: Path, source: str) -> None:
    """Create a version file; an existing file is never replaced."""
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(source)
    except OSError as exc:
        raise PromptStoreError(f"Could not save {path.name}: {exc.strerror or exc}.") from None


def _sample_values(variables: tuple[Variable, ...]) -> dict[str, Any]:
    """Defaults, or a plain sample of the right type, to prove a template renders."""
    samples = {"str": "sample text", "int": 1, "float": 1.0, "bool": True, "list": ["a", "b"],
               "json": {"key": "value"}}
    return {v.name: v.default if v.default is not None else samples[v.type] for v in variables}
