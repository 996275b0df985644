"""The prompt store: `prompts/<name>/v1.j2, v2.j2, ...` and a `manifest.toml` per prompt.

A saved edit is a new version file; nothing is ever overwritten. The manifest holds the
description, declared variables, labels (production -> 3), a note / author / time per version,
and default model parameters. Writes are serialised by a lock file and land atomically.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from lib.core import PromptStoreError, VariableError, atomic_write, now_iso
from lib.prompts import manifest
from lib.prompts.manifest import (
    MAX_TEXT_CHARS,
    NAME,
    VERSION_REF,
    Prompt,
    VersionInfo,
    check_label,
    check_name,
    check_parameters,
    check_text,
    check_variables,
)
from lib.prompts.sandbox import check_size, declared_names, render
from lib.prompts.variables import Variable, validate


class PromptStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if (p / "manifest.toml").is_file() and NAME.fullmatch(p.name))

    def get(self, name: str) -> Prompt:
        folder = self.root / check_name(name)
        try:
            text = (folder / "manifest.toml").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PromptStoreError(f"There is no prompt named '{name}'.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptStoreError(f"The manifest of '{name}' cannot be read: {exc}") from None
        return manifest.parse(name, text)

    def source(self, name: str, version: int) -> str:
        path = self.root / check_name(name) / f"v{int(version)}.j2"
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
        return diff_rows(self.source(name, a), self.source(name, b))

    # -- writing ---------------------------------------------------------------------------
    def _locked(self, name: str) -> contextlib.AbstractContextManager[Path]:
        return locked(self.root / check_name(name))

    def check(self, source: str, variables: tuple[Variable, ...]) -> str:
        """Everything a save requires, before anything is written: storable text, valid
        variables, a template that compiles and renders with the defaults (or samples).
        Sizes first: nothing is parsed that the limits would refuse."""
        check_size(source)
        check_text("template", source)
        check_variables(variables)
        undeclared = declared_names(source) - {v.name for v in variables}
        if undeclared:
            raise VariableError("The template uses undeclared variables: "
                                f"{', '.join(sorted(undeclared))}.",
                                hint="Declare them, or fix their names.")
        return render(source, validate(variables, _sample_values(variables)))

    def create(self, name: str, source: str, *, description: str = "",
               variables: tuple[Variable, ...] = (), author: str = "", note: str = "",
               model: str = "", temperature: float = 0.7, max_tokens: int = 512,
               task: str = "") -> Prompt:
        check_name(name)
        if (self.root / name / "manifest.toml").exists():
            raise PromptStoreError(f"A prompt named '{name}' already exists.")
        check_parameters(temperature, max_tokens)
        self.check(source, variables)
        prompt = Prompt(name, description, variables, {},
                        (VersionInfo(1, note or "First version", author, now_iso()),),
                        model, temperature, max_tokens, task)
        text = manifest.dump(prompt)  # refused here, before anything is written
        fresh = not (self.root / name).exists()
        try:
            with self._locked(name) as folder:
                if (folder / "manifest.toml").exists():
                    raise PromptStoreError(f"A prompt named '{name}' already exists.")
                write_version(folder / "v1.j2", source, text)
        except BaseException:
            if fresh:  # a failed create leaves no folder behind
                shutil.rmtree(self.root / name, ignore_errors=True)
            raise
        return prompt

    def save_version(self, name: str, source: str, *, note: str = "", author: str = "",
                     variables: tuple[Variable, ...] | None = None,
                     output_schema: str | None = None, task: str | None = None,
                     model: str | None = None, temperature: float | None = None,
                     max_tokens: int | None = None) -> int:
        """Save an edit as the next version; a template that fails to render is refused.
        `output_schema`: JSON Schema text for its replies (None keeps the previous one);
        `task`: the prompt's task for the router ("" for none, None keeps it); `model`,
        `temperature`, `max_tokens`: the prompt's defaults (None keeps each)."""
        current = self.get(name)
        variables = current.variables if variables is None else variables
        check_parameters(current.temperature if temperature is None else temperature,
                         current.max_tokens if max_tokens is None else max_tokens)
        check_text("output schema", output_schema or "", MAX_TEXT_CHARS)
        check_text("model", model or "", MAX_TEXT_CHARS)
        self.check(source, variables)
        with self._locked(name) as folder:
            prompt = self.get(name)  # re-read under the lock: another session may have saved
            # Past any file a crashed save left behind, too: nothing is ever overwritten.
            version = next_version(folder, prompt.latest, ".j2")
            schema = prompt.versions[-1].output_schema if output_schema is None \
                else output_schema.strip()
            info = VersionInfo(version, note, author, now_iso(), schema)
            text = manifest.dump(replace(
                prompt, variables=variables, versions=(*prompt.versions, info),
                task=prompt.task if task is None else task,
                model=prompt.model if model is None else model,
                temperature=prompt.temperature if temperature is None else temperature,
                max_tokens=prompt.max_tokens if max_tokens is None else max_tokens))
            write_version(folder / f"v{version}.j2", source, text)
        return version

    def set_label(self, name: str, label: str, version: int) -> None:
        """Point a label at a version (moving it, or rolling back to an older one)."""
        check_label(label)
        with self._locked(name) as folder:
            prompt = self.get(name)
            prompt.resolve(version)
            text = manifest.dump(replace(prompt, labels={**prompt.labels, label: version}))
            write_manifest(folder, text)


def diff_rows(a: str, b: str) -> list[tuple[str, str, str]]:
    """Two versions' texts side by side: rows (kind, left line, right line); kind is =, -,
    + or ~."""
    left, right = a.splitlines(), b.splitlines()
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


# The writing rules below are shared with the workflow store (lib.workflows): a workflow is
# versioned and labelled exactly like a prompt.

@contextlib.contextmanager
def locked(folder: Path) -> Iterator[Path]:
    """`folder` (created if need be) with its lock file held: one writer at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def next_version(folder: Path, listed: int, suffix: str) -> int:
    """The version after the manifest's newest (`listed`) and past any `v<N><suffix>` file a
    crashed save left behind: nothing is ever overwritten."""
    return max([listed, *(int(m.group(1)) for p in folder.glob(f"v*{suffix}")
                          if (m := VERSION_REF.fullmatch(p.name.removesuffix(suffix))))]) + 1


def write_version(path: Path, source: str, manifest_text: str) -> None:
    """The version file, then the manifest beside it that lists it; if either cannot be
    written, for whatever reason, the version file goes again: a failed save changes nothing
    on disk. PromptStoreError when the disk refuses."""
    folder = path.parent
    created = False
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": an existing file is never replaced
            created = True
            f.write(source)
        write_manifest(folder, manifest_text)
    except BaseException as exc:
        if created:  # ours, half-written or unlisted: not left behind
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise PromptStoreError(f"Could not save {path.name}: {exc.strerror or exc}.") \
                from None
        raise


def write_manifest(folder: Path, text: str) -> None:
    """`folder`'s manifest.toml replaced atomically."""
    try:
        atomic_write(folder / "manifest.toml", text)
    except OSError as exc:
        raise PromptStoreError(f"Could not save the manifest: {exc.strerror or exc}.") \
            from None


def _sample_values(variables: tuple[Variable, ...]) -> dict[str, Any]:
    """Defaults, or a plain sample of the right type, to prove a template renders."""
    samples = {"str": "sample text", "int": 1, "float": 1.0, "bool": True, "list": ["a", "b"],
               "json": {"key": "value"}}
    return {v.name: v.default if v.default is not None else samples[v.type] for v in variables}
