"""The workflow store: `workflows/<name>/v1.toml, v2.toml, ...` and a `manifest.toml` per
workflow (description, labels such as production -> 2, a note / author / time per version).

Versioned and labelled exactly like prompts, with the prompt store's own rules (lib.prompts:
names, labels, the lock, the version file then the manifest, nothing overwritten). A version
is saved only once it validates against the lab (lib.workflows.resolving).
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lib.core import PromptStoreError, Settings, WorkflowError, now_iso
from lib.prompts import (
    NAME,
    VersionInfo,
    check_label,
    check_name,
    check_text,
    diff_rows,
    locked,
    next_version,
    resolve_ref,
    write_manifest,
    write_version,
)
from lib.workflows.resolving import Resolved, resolve
from lib.workflows.spec import Workflow, parse

MAX_TEXT_CHARS = 100_000


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow's manifest: what it is, its versions and labels."""

    name: str
    description: str = ""
    labels: dict[str, int] = field(default_factory=dict)
    versions: tuple[VersionInfo, ...] = ()

    @property
    def latest(self) -> int:
        return max(v.version for v in self.versions)

    def resolve(self, ref: str | int) -> int:
        """A version from 3, "v3", "latest" or a label."""
        try:
            return resolve_ref(f"Workflow '{self.name}'", self.labels,
                               [v.version for v in self.versions], ref)
        except PromptStoreError as exc:
            raise WorkflowError(exc.message) from None

    def labels_of(self, version: int) -> list[str]:
        return sorted(label for label, v in self.labels.items() if v == version)


class WorkflowStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.workflows_dir

    # -- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if (p / "manifest.toml").is_file() and NAME.fullmatch(p.name))

    def get(self, name: str) -> WorkflowInfo:
        folder = self.root / _name(name)
        try:
            text = (folder / "manifest.toml").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkflowError(f"There is no workflow named '{name}'.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkflowError(f"The manifest of '{name}' cannot be read: {exc}") from None
        return _parse_manifest(name, text)

    def source(self, name: str, version: int) -> str:
        try:
            return (self.root / _name(name) / f"v{int(version)}.toml").read_text(
                encoding="utf-8")
        except FileNotFoundError:
            raise WorkflowError(f"Workflow '{name}' has no version {version}.") from None

    def load(self, name: str, ref: str | int = "latest") -> Workflow:
        """The version `ref` names, parsed (its shape checked)."""
        version = self.get(name).resolve(ref)
        return parse(name, self.source(name, version), version)

    def resolved(self, name: str, ref: str | int = "latest") -> Resolved:
        """The version `ref` names, checked against the lab's prompts, models and tools."""
        return resolve(self.settings, self.load(name, ref))

    def check(self, name: str, source: str) -> Resolved:
        """Everything a save requires, nothing written: WorkflowError names the line."""
        check_text("workflow", source, 200_000)
        return resolve(self.settings, parse(name, source))

    def diff(self, name: str, a: int, b: int) -> list[tuple[str, str, str]]:
        """Side-by-side rows (kind, left line, right line); kind is =, -, + or ~."""
        return diff_rows(self.source(name, a), self.source(name, b))

    # -- writing ---------------------------------------------------------------------------
    def create(self, name: str, source: str, *, description: str = "", note: str = "",
               author: str = "") -> WorkflowInfo:
        _name(name)
        if (self.root / name / "manifest.toml").exists():
            raise WorkflowError(f"A workflow named '{name}' already exists.")
        self.check(name, source)
        info = WorkflowInfo(name, description, {},
                            (VersionInfo(1, note or "First version", author, now_iso()),))
        text = _dump_manifest(info)
        fresh = not (self.root / name).exists()
        try:
            with locked(self.root / name) as folder:
                if (folder / "manifest.toml").exists():
                    raise WorkflowError(f"A workflow named '{name}' already exists.")
                _write(lambda: write_version(folder / "v1.toml", source, text))
        except BaseException:
            if fresh:  # a failed create leaves no folder behind
                shutil.rmtree(self.root / name, ignore_errors=True)
            raise
        return info

    def save_version(self, name: str, source: str, *, note: str = "", author: str = ""
                     ) -> int:
        """Save an edit as the next version; a file that does not validate is refused."""
        self.get(name)
        self.check(name, source)
        with locked(self.root / _name(name)) as folder:
            info = self.get(name)  # re-read under the lock: another session may have saved
            version = next_version(folder, info.latest, ".toml")
            text = _dump_manifest(replace(info, versions=(
                *info.versions, VersionInfo(version, note, author, now_iso()))))
            _write(lambda: write_version(folder / f"v{version}.toml", source, text))
        return version

    def set_label(self, name: str, label: str, version: int) -> None:
        """Point a label at a version (moving it, or rolling back to an older one)."""
        _write(lambda: check_label(label))
        with locked(self.root / _name(name)) as folder:
            info = self.get(name)
            info.resolve(version)
            text = _dump_manifest(replace(info, labels={**info.labels, label: version}))
            _write(lambda: write_manifest(folder, text))


def _write(action: Callable[[], object]) -> None:
    """The prompt store's rules raise PromptStoreError: here they are a workflow's."""
    try:
        action()
    except PromptStoreError as exc:
        raise WorkflowError(exc.message, hint=exc.hint) from None


def _name(name: str) -> str:
    try:
        return check_name(name)
    except PromptStoreError as exc:
        raise WorkflowError(exc.message.replace("prompt", "workflow"), hint=exc.hint) from None


def _parse_manifest(name: str, text: str) -> WorkflowInfo:
    try:
        data = tomllib.loads(text)
        info = WorkflowInfo(
            _name(name), str(data.get("description", "")),
            {check_label(str(k)): int(v) for k, v in data.get("labels", {}).items()},
            tuple(VersionInfo(**v) for v in data.get("versions", [])))
    except (tomllib.TOMLDecodeError, TypeError, ValueError, AttributeError,
            PromptStoreError) as exc:
        raise WorkflowError(f"The manifest of workflow '{name}' is invalid: {exc}") from None
    if not info.versions:
        raise WorkflowError(f"The manifest of workflow '{name}' lists no versions.")
    for label, version in info.labels.items():
        if version not in {v.version for v in info.versions}:
            raise WorkflowError(f"Label '{label}' of workflow '{name}' points at a missing "
                                "version.")
    return info


def _dump_manifest(info: WorkflowInfo) -> str:
    """The manifest's text, refused unless it reads back the same."""
    import tomli_w

    texts = [("description", info.description),
             *((f"note of v{v.version}", v.note) for v in info.versions),
             *((f"author of v{v.version}", v.author) for v in info.versions)]
    _write(lambda: [check_text(what, text, MAX_TEXT_CHARS) for what, text in texts])
    text = tomli_w.dumps({
        "description": info.description, "labels": dict(sorted(info.labels.items())),
        "versions": [{"version": v.version, "note": v.note, "author": v.author,
                      "created_at": v.created_at} for v in info.versions]})
    if _parse_manifest(info.name, text) != info:
        raise WorkflowError(f"The manifest of workflow '{info.name}' would not read back as "
                            "written; nothing was saved.")
    return text
