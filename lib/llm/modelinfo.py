"""What the lab knows of a model (its id, provider, window and prices) and the catalog of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.core import BudgetExceededError, CatalogError

# catalog: a models.toml file; discovered: a provider's models endpoint (lib.llm.discovery);
# server: an OpenAI-compatible server's own models; plugin: a provider plugin's models.
SOURCES = ("catalog", "discovered", "server", "plugin")
# What the lab assumes of a model whose window or output limit nobody gave: no chat model
# Anthropic or OpenAI lists today has a smaller window, nor (Claude 3 Haiku) a smaller output.
DEFAULT_WINDOW = 128_000
DEFAULT_OUTPUT = 4_096


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
    # Where the entry came from (SOURCES). A model discovered from a provider's models
    # endpoint has no known price (priced False) until <data dir>/models.toml gives it one:
    # its cost reads "unknown", never $0, and budgets refuse it.
    source: str = "catalog"
    priced: bool = True

    @property
    def key(self) -> str:
        """Unique across providers: the same id can be served by two of them."""
        return f"{self.provider}/{self.id}"

    def cost_micro(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                   cache_write_tokens: int = 0) -> int:
        """Cost in integer micro-dollars: tokens x ($ per million) is exactly µ$."""
        return round(input_tokens * self.input + output_tokens * self.output
                     + cache_read_tokens * self.cache_read + cache_write_tokens * self.cache_write)


def price_unknown(model: ModelInfo, price_file: str, what: str = "this call"
                  ) -> BudgetExceededError:
    """Why a budget refuses a model whose price is unknown, and where to set one."""
    return BudgetExceededError(
        f"{model.label}'s price is unknown, so a budget cannot bound what {what} costs: it "
        "was not sent.", hint=f"Set a price for {model.id} (provider {model.provider}) in "
        f"{price_file}, or on the Costs page's Prices tab, or use another model.")


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
