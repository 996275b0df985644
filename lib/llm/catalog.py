"""The model catalog: ids, providers, context windows and prices, from an editable TOML file,
with the models the providers' endpoints list (lib.llm.discovery) merged in."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from lib.core import CatalogError, Settings, atomic_write
from lib.llm.discovery import ensure_listings, listing_changes, model_listings
from lib.llm.modelinfo import DEFAULT_OUTPUT, DEFAULT_WINDOW, Catalog, ModelInfo
from lib.llm.registry import capabilities, runs_here, served_models

SHIPPED = Path(__file__).with_name("models.toml")


def user_catalog_path(settings: Settings) -> Path:
    return settings.data_dir / "models.toml"


def _fields(table: dict[str, Any]) -> dict[str, Any]:
    """A [[model]] table's values as ModelInfo takes them (arrays as tuples: it is hashed)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def _valid(m: ModelInfo, source: str) -> ModelInfo:
    if m.context_window <= 0 or m.max_output <= 0 or min(
            m.input, m.output, m.cache_read, m.cache_write) < 0:
        raise CatalogError(f"Model {m.key} in {source} has a non-positive window or a "
                           "negative price.")
    return m


def _tables(text: str, source: str) -> tuple[list[dict[str, Any]], str]:
    """The file's [[model]] tables (each with an id and a provider) and its prices' date."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"The model catalog {source} is invalid: {exc}") from None
    tables = data.get("model", [])
    if not isinstance(tables, list) or not all(
            isinstance(t, dict) and isinstance(t.get("id"), str)
            and isinstance(t.get("provider"), str) for t in tables):
        raise CatalogError(f"The model catalog {source} is invalid: each [[model]] needs an "
                           "id and a provider.")
    return [_fields(t) for t in tables], str(data.get("prices_checked", "unknown"))


def _parse(text: str, source: str) -> tuple[list[ModelInfo], str]:
    """A complete catalog (the shipped one): every entry gives every field it needs."""
    tables, checked = _tables(text, source)
    try:
        models = [ModelInfo(**t) for t in tables]
    except TypeError as exc:
        raise CatalogError(f"The model catalog {source} is invalid: {exc}") from None
    return [_valid(m, source) for m in models], checked


def _overlay(table: dict[str, Any], base: ModelInfo | None, source: str) -> ModelInfo:
    """A user's entry over the model it names: the fields it gives win, the rest are the
    model's (or, for a model nobody else lists, the id and the default limits). An entry is
    a price someone set: the model is priced, even a discovered one."""
    try:
        if base is None:
            return _valid(ModelInfo(**{"label": table["id"], "context_window": DEFAULT_WINDOW,
                                       "max_output": DEFAULT_OUTPUT, **table}), source)
        return _valid(replace(base, **{"priced": True, **table}), source)
    except TypeError as exc:
        raise CatalogError(f"The model catalog {source} is invalid: {exc}") from None


def _chains(text: str, source: str) -> dict[str, tuple[str, ...]]:
    """The `[fallbacks]` table: "provider/model" = ["provider/model", ...]."""
    table = tomllib.loads(text).get("fallbacks", {})
    if not isinstance(table, dict) or not all(
            isinstance(v, list) and all(isinstance(k, str) for k in v) for v in table.values()):
        raise CatalogError(f"The [fallbacks] table of {source} must map a model key to a list "
                           'of model keys, like "local/x" = ["openai/y"].')
    return {k: tuple(v) for k, v in table.items()}


# A dated snapshot ("claude-sonnet-4-5-20250929", "gpt-4.1-2025-04-14") of a model listed by
# its alias is that model: a listing names both, or the catalog holds the alias.
SNAPSHOT = re.compile(r"(.+)-(\d{8}|\d{4}-\d{2}-\d{2})")


def _new(discovered: list[ModelInfo], known: set[str]) -> list[ModelInfo]:
    """The discovered models the catalog does not hold: it keeps its own entry of the rest."""
    every = known | {m.key for m in discovered}
    out = []
    for m in discovered:
        snapshot = SNAPSHOT.fullmatch(m.id)
        if m.key in known or (snapshot and f"{m.provider}/{snapshot[1]}" in every):
            continue
        out.append(m)
        known.add(m.key)
    return out


def load_catalog(settings: Settings) -> Catalog:
    """The shipped catalog overlaid by the user's copy, as the settings change it, with each
    provider's own models (a configured server's, a plugin's) and the models discovered from
    the providers' endpoints (lib.llm.discovery: as last listed, never asked here) appended."""
    shipped_text = SHIPPED.read_text(encoding="utf-8")
    models, checked = _parse(shipped_text, str(SHIPPED))
    chains = _chains(shipped_text, str(SHIPPED))
    user = user_catalog_path(settings)
    mine: list[dict[str, Any]] = []
    if user.is_file():
        text = user.read_text(encoding="utf-8")
        mine, checked = _tables(text, str(user))
        chains.update(_chains(text, str(user)))
    listed = {m.key for m in models} | {f"{t['provider']}/{t['id']}" for t in mine}
    # The user's entries of shipped models first: the settings adjust them (a local window).
    overlaid = {f"{t['provider']}/{t['id']}": t for t in mine}
    models = [_overlay(overlaid.pop(m.key), m, str(user)) if m.key in overlaid else m
              for m in models]
    models = served_models(models, settings)
    models += _new([m for listing in model_listings(settings) for m in listing.models],
                   {m.key for m in models})
    by_key = {m.key: m for m in models}
    for key, table in overlaid.items():  # a served, a discovered or a new model of the user's
        by_key[key] = _overlay(table, by_key.get(key), str(user))
    models = list(by_key.values())
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


_current: dict[Settings, tuple[tuple[int | None, int], Catalog]] = {}


def current_catalog(settings: Settings) -> Catalog:
    """The catalog, merged again only when the user's copy or a listing changes: every page
    rerun and API request asks for it, and a price edited in the app applies to the next one.
    A listing due is asked for in the background (discovery.ensure_listings), never waited on."""
    ensure_listings(settings)
    try:
        mtime: int | None = user_catalog_path(settings).stat().st_mtime_ns
    except OSError:
        mtime = None
    stamp = (mtime, listing_changes())
    hit = _current.get(settings)
    if hit is None or hit[0] != stamp:
        hit = _current[settings] = (stamp, load_catalog(settings))
    return hit[1]


def save_user_catalog(settings: Settings, models: list[ModelInfo], checked: str) -> None:
    """Write the user's catalog (validated first) atomically to the data folder; its router
    rules, if it has any, are kept. A discovered model still without a price is left out (it
    stays "price unknown"); any other is written as priced, where it came from aside."""
    import tomli_w

    path = user_catalog_path(settings)
    try:
        kept = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except tomllib.TOMLDecodeError:
        kept = {}  # a broken copy is replaced, as before
    written = [{k: v for k, v in m.__dict__.items() if k not in ("source", "priced")}
               for m in models if m.priced or m.input or m.output or m.cache_read
               or m.cache_write]
    text = tomli_w.dumps({"prices_checked": checked, "model": written,
                          **{k: kept[k] for k in ("router", "route", "fallbacks")
                             if k in kept}})
    _parse(text, "the edited table")  # refuse anything the loader would refuse
    atomic_write(user_catalog_path(settings), text)
