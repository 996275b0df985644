"""What the lab knows of a model (its id, provider, window and prices) and the catalog of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.core import CatalogError


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
    legacy: bool = False     # the vendor lists it as legacy: kept, and marked so
    thinking: tuple[str, ...] = ()  # the reasoning modes it takes (REASONING_MODES); ()=none
    efforts: tuple[str, ...] = ()   # the effort levels it takes, lowest first

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
