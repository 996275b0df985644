"""Promotion gated on evals: an eval file's `[promote] labels` guard those labels of its
variants' prompts, and a guarded label moves to a version only if every required eval's
newest result for that version passed, or when a person overrides it, saying who and why.
Every move, gated or not, is a row of label_moves."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.core import ConfigError, PromotionError, now_iso
from lib.evals.results import latest_result
from lib.prompts import PromptStore
from lib.storage import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shortfall:
    """What stands between a version and a label: required evals with no result for it, and
    those whose newest result failed (eval name -> that result's id)."""

    missing: tuple[str, ...]
    failing: dict[str, int]

    def __bool__(self) -> bool:
        return bool(self.missing or self.failing)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"no result of {', '.join(self.missing)}")
        if self.failing:
            parts.append(f"a failing newest result of {', '.join(self.failing)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class LabelMove:
    id: int
    moved_at: str
    prompt: str
    label: str
    from_version: int | None
    to_version: int
    moved_by: str | None
    eval_name: str | None        # the required eval that decided (the first at fault if any)
    eval_result_id: int | None   # its newest result for the version then, if it had one
    overridden: bool
    reason: str


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"There is no eval file {path}.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"The eval file {path} cannot be read: {exc}") from None


def _name(data: dict[str, Any], path: Path) -> str:
    name = data.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else path.stem


def eval_name_of(path: Path) -> str:
    """An eval file's name: its `name` field, else its stem (ConfigError if unreadable)."""
    return _name(_read(path), path)


def guarding(evals_dir: Path, prompt: str, label: str) -> list[str]:
    """The names of the evals whose file lists `label` under `[promote] labels` and has a
    variant of `prompt`. A broken file is skipped with a warning: the runner reports it."""
    names: list[str] = []
    for path in sorted(evals_dir.glob("*.toml")) if evals_dir.is_dir() else []:
        try:
            data = _read(path)
        except ConfigError as exc:
            log.warning("promotion: skipped %s", exc)
            continue
        promote, variants = data.get("promote"), data.get("variants")
        labels = promote.get("labels") if isinstance(promote, dict) else None
        if not isinstance(labels, list) or label not in labels or not isinstance(variants, list):
            continue
        if any(isinstance(v, dict) and v.get("prompt") == prompt for v in variants):
            names.append(_name(data, path))
    return list(dict.fromkeys(names))


def shortfall(db: Database, prompt: str, version: int, require: list[str]) -> Shortfall:
    """Which required evals lack a passing newest result for that version."""
    missing, failing = [], {}
    for name in dict.fromkeys(require):
        result = latest_result(db, prompt, version, name)
        if result is None:
            missing.append(name)
        elif not result.passed:
            failing[name] = int(result.id or 0)
    return Shortfall(tuple(missing), failing)


def promote(db: Database, store: PromptStore, prompt: str, version: int, label: str, *,
            require: list[str], by: str | None, override: bool = False,
            reason: str = "") -> LabelMove:
    """Point `label` of `prompt` at `version` if every required eval passed for it; otherwise
    PromotionError naming what is missing or failing, unless `override` (with a reason), when
    it moves and the override is recorded. The move and its row succeed or fail together."""
    current = store.get(prompt)
    version = current.resolve(int(version))  # PromptStoreError for an unknown version
    short = shortfall(db, prompt, version, require)
    if short and not override:
        raise PromotionError(
            f"'{label}' of '{prompt}' was not moved to v{version}: {short.describe()} for "
            "that version.", missing=short.missing, failing=tuple(short.failing),
            hint="Run the eval on this version, or override with a reason.")
    if short and not reason.strip():
        raise PromotionError("An override needs a reason: say why the version ships anyway.",
                             missing=short.missing, failing=tuple(short.failing))
    decided = (short.missing + tuple(short.failing))[:1] or tuple(require[:1])
    eval_name = decided[0] if decided else None
    result = latest_result(db, prompt, version, eval_name) if eval_name else None
    row = (now_iso(), prompt, label, current.labels.get(label), version, by, eval_name,
           None if result is None else result.id, int(bool(short)), reason.strip())
    with db.connect(write=True) as conn:
        cur = conn.execute(
            "INSERT INTO label_moves (moved_at, prompt, label, from_version, to_version, "
            "moved_by, eval_name, eval_result_id, overridden, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        # Inside the transaction: a label the store refuses leaves no row behind.
        store.set_label(prompt, label, version)
        move_id = int(cur.lastrowid)
    if short:
        log.warning("promotion: %s of %s moved to v%s by %s over %s", label, prompt, version,
                    by or "someone unnamed", short.describe())
    return LabelMove(move_id, row[0], prompt, label, row[3], version, by, eval_name, row[7],
                     bool(short), row[9])


def label_moves(db: Database, prompt: str, *, limit: int = 50) -> list[LabelMove]:
    """A prompt's label moves, newest first."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, moved_at, prompt, label, from_version, to_version, moved_by, "
            "eval_name, eval_result_id, overridden, reason FROM label_moves WHERE prompt = ? "
            "ORDER BY id DESC LIMIT ?", (prompt, int(limit))).fetchall()
    return [LabelMove(int(r["id"]), r["moved_at"], r["prompt"], r["label"], r["from_version"],
                      int(r["to_version"]), r["moved_by"], r["eval_name"], r["eval_result_id"],
                      bool(r["overridden"]), r["reason"]) for r in rows]
