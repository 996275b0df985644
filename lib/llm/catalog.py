"""The model catalog: ids, providers, context windows and prices, from an editable TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lib.core import CatalogError, Settings, atomic_write
from lib.llm.modelinfo import Catalog, ModelInfo
from lib.llm.registry import capabilities, runs_here, served_models

SHIPPED = Path(__file__).with_name("models.toml")


def user_catalog_path(settings: Settings) -> Path:
    return settings.data_dir / "models.toml"


def _fields(table: dict[str, Any]) -> dict[str, Any]:
    """A [[model]] table's values as ModelInfo takes them (arrays as tuples: it is hashed)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def _parse(text: str, source: str) -> tuple[list[ModelInfo], str]:
    try:
        data = tomllib.loads(text)
        models = [ModelInfo(**_fields(m)) for m in data.get("model", [])]
    except (tomllib.TOMLDecodeError, TypeError) as exc:
        raise CatalogError(f"The model catalog {source} is invalid: {exc}") from None
    for m in models:
        if m.context_window <= 0 or m.max_output <= 0 or min(
                m.input, m.output, m.cache_read, m.cache_write) < 0:
            raise CatalogError(f"Model {m.key} in {source} has a non-positive window or a "
                              "negative price.")
    return models, str(data.get("prices_checked", "unknown"))


def _chains(text: str, source: str) -> dict[str, tuple[str, ...]]:
    """The `[fallbacks]` table: "provider/model" = ["provider/model", ...]."""
    table = tomllib.loads(text).get("fallbacks", {})
    if not isinstance(table, dict) or not all(
            isinstance(v, list) and all(isinstance(k, str) for k in v) for v in table.values()):
        raise CatalogError(f"The [fallbacks] table of {source} must map a model key to a list "
                           'of model keys, like "local/x" = ["openai/y"].')
    return {k: tuple(v) for k, v in table.items()}


def load_catalog(settings: Settings) -> Catalog:
    """The shipped catalog overlaid by the user's copy, as the settings change it, with each
    provider's own models (a configured server's, a plugin's) appended."""
    models, checked = _parse(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    chains = _chains(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    user = user_catalog_path(settings)
    if user.is_file():
        mine, checked = _parse(user.read_text(encoding="utf-8"), str(user))
        chains.update(_chains(user.read_text(encoding="utf-8"), str(user)))
        by_key = {m.key: m for m in models}
        by_key.update({m.key: m for m in mine})
        models = list(by_key.values())
    listed = {m.key for m in models}
    models = served_models(models, settings)
    here = [m.key for m in runs_here(models)]
    for m in models:
        # A server of one's own can go away: a model that runs here answers then (unless the
        # catalog file lists the model, with its own chain or none).
        if m.key not in listed and capabilities(m.provider).per_url:
            chains.setdefault(m.key, tuple(here))
    known = {m.key for m in models}
    for key, chain in chains.items():
        if unknown := [k for k in (key, *chain) if k not in known]:
            raise CatalogError(f"The fallback chain of {key} names models not in the catalog: "
                               f"{', '.join(unknown)}.")
    return Catalog(tuple(models), checked, chains)


_current: dict[Settings, tuple[int | None, Catalog]] = {}


def current_catalog(settings: Settings) -> Catalog:
    """The catalog, parsed again only when the user's copy changes: every page rerun and API
    request asks for it, and a price edited in the app applies to the next one."""
    try:
        stamp: int | None = user_catalog_path(settings).stat().st_mtime_ns
    except OSError:
        stamp = None
    hit = _current.get(settings)
    if hit is None or hit[0] != stamp:
        hit = _current[settings] = (stamp, load_catalog(settings))
    return hit[1]


def save_user_catalog(settings: Settings, models: list[ModelInfo], checked: str) -> None:
    """Write the user's catalog (validated first) atomically to the data folder; its router
    rules, if it has any, are kept."""
    import tomli_w

    path = user_catalog_path(settings)
    try:
        kept = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except tomllib.TOMLDecodeError:
        kept = {}  # a broken copy is replaced, as before
    text = tomli_w.dumps({"prices_checked": checked, "model": [dict(m.__dict__) for m in models],
                          **{k: kept[k] for k in ("router", "route", "fallbacks")
                             if k in kept}})
    _parse(text, "the edited table")  # refuse anything the loader would refuse
    atomic_write(user_catalog_path(settings), text)
