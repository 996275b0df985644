"""The model catalog: ids, providers, context windows and prices, from an editable TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lib.core import CatalogError, Settings, atomic_write

SHIPPED = Path(__file__).with_name("models.toml")


@dataclass(frozen=True)
class ModelInfo:
    id: str                  # the id the provider's API expects
    provider: str            # local | anthropic | openai | compat
    label: str
    context_window: int
    max_output: int
    input: float = 0.0       # dollars per million tokens
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0
    temperature: bool = True  # False: the model rejects a temperature (reasoning models)

    @property
    def key(self) -> str:
        """Unique across providers: the same id can be served by two of them."""
        return f"{self.provider}/{self.id}"

    def cost_micro(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                   cache_write_tokens: int = 0) -> int:
        """Cost in integer micro-dollars: tokens x ($ per million) is exactly µ$."""
        return round(input_tokens * self.input + output_tokens * self.output
                     + cache_read_tokens * self.cache_read + cache_write_tokens * self.cache_write)


@dataclass(frozen=True)
class Catalog:
    models: tuple[ModelInfo, ...]
    prices_checked: str
    # model key -> the model keys asked in turn when it cannot answer ([fallbacks] table)
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, key: str) -> ModelInfo:
        for m in self.models:
            if m.key == key:
                return m
        raise CatalogError(f"Model {key!r} is not in the catalog.",
                          hint="Pick another model or add it to models.toml.")


def user_catalog_path(settings: Settings) -> Path:
    return settings.data_dir / "models.toml"


def _parse(text: str, source: str) -> tuple[list[ModelInfo], str]:
    try:
        data = tomllib.loads(text)
        models = [ModelInfo(**m) for m in data.get("model", [])]
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
    """The shipped catalog overlaid by the user's copy; compat-server models appended."""
    models, checked = _parse(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    chains = _chains(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    user = user_catalog_path(settings)
    if user.is_file():
        mine, checked = _parse(user.read_text(encoding="utf-8"), str(user))
        chains.update(_chains(user.read_text(encoding="utf-8"), str(user)))
        by_key = {m.key: m for m in models}
        by_key.update({m.key: m for m in mine})
        models = list(by_key.values())
    if settings.local_context_window:
        models = [_with_window(m, settings.local_context_window) if m.provider == "local" else m
                  for m in models]
    known = {m.key for m in models}
    for model_id in settings.openai_compat_models:
        if f"compat/{model_id}" not in known:
            window = settings.openai_compat_context_window
            models.append(ModelInfo(id=model_id, provider="compat", label=f"{model_id} (server)",
                                    context_window=window, max_output=min(4096, window // 2)))
            # A server of one's own can go away: the bundled model answers then.
            chains.setdefault(f"compat/{model_id}", tuple(
                m.key for m in models if m.provider == "local"))
    known = {m.key for m in models}
    for key, chain in chains.items():
        if unknown := [k for k in (key, *chain) if k not in known]:
            raise CatalogError(f"The fallback chain of {key} names models not in the catalog: "
                               f"{', '.join(unknown)}.")
    return Catalog(tuple(models), checked, chains)


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


def _with_window(m: ModelInfo, window: int) -> ModelInfo:
    return ModelInfo(**{**m.__dict__, "context_window": window,
                        "max_output": min(m.max_output, window // 2)})
