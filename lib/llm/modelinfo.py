"""What the lab knows of a model (its id, provider, window and prices) and the catalog of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.core import BudgetExceededError, CatalogError
from lib.llm.protocol import Reasoning

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
    # What the vendors' pages say today's models change (issue 23):
    # our estimate of its tokens is multiplied by this: a newer tokenizer than the one we
    # estimate with yields more tokens for the same text (Claude Sonnet 5 and later: ~30%).
    token_margin: float = 1.0
    # A prompt (input + cache read + cache write tokens) over `long_above` tokens bills the
    # whole request at the long-context rates: input and cache prices x `long_input`, output
    # x `long_output` (Claude Haiku 5.5 past 100K, OpenAI's GPT-6 models past 272K). 0: one rate.
    long_above: int = 0
    long_input: float = 1.0
    long_output: float = 1.0
    # Where the entry came from (SOURCES). A model discovered from a provider's models
    # endpoint has no known price (priced False) until <data dir>/models.toml gives it one:
    # its cost reads "unknown", never $0, and budgets refuse it.
    source: str = "catalog"
    priced: bool = True

    def __post_init__(self) -> None:
        if self.token_margin < 1 or self.long_above < 0 or min(self.long_input,
                                                                self.long_output) < 1:
            raise CatalogError(f"Model {self.key}: token_margin, long_input and long_output "
                               "must be at least 1, and long_above at least 0.",
                               hint="A margin or a long-context rate only ever adds.")

    @property
    def key(self) -> str:
        """Unique across providers: the same id can be served by two of them."""
        return f"{self.provider}/{self.id}"

    def cost_micro(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                   cache_write_tokens: int = 0) -> int:
        """Cost in integer micro-dollars: tokens x ($ per million) is exactly µ$ (at the
        long-context rates when the prompt is past `long_above`)."""
        into, out = self.rates(input_tokens + cache_read_tokens + cache_write_tokens)
        return round(into * (input_tokens * self.input + cache_read_tokens * self.cache_read
                             + cache_write_tokens * self.cache_write)
                     + out * output_tokens * self.output)

    def rates(self, prompt_tokens: int) -> tuple[float, float]:
        """What a request with a prompt this long pays on the list prices: (x on input and
        cache prices, x on output); (1, 1) up to `long_above`. A budget's worst case for a
        request asks it with the most the prompt may come to."""
        if self.long_above and prompt_tokens > self.long_above:
            return self.long_input, self.long_output
        return 1.0, 1.0

    # -- what a request to it may carry: the one rule every caller applies -------------
    def temperature_for(self, wanted: float | None) -> float | None:
        """The temperature a request to this model carries: none where it refuses one (it
        samples at its own default then; Claude Sonnet 5 and later answer 400 otherwise)."""
        return wanted if self.temperature else None

    @property
    def temperature_reason(self) -> str:
        """Why no temperature is sent to this model, or "" when it takes one."""
        return "" if self.temperature else (
            f"{self.label} refuses a temperature (its API rejects any but its own default), "
            "so none is sent.")

    def temperature_note(self, wanted: float | None) -> str:
        """What a caller tells its user when `wanted` is dropped for this model, or ""."""
        if wanted is None or self.temperature:
            return ""
        return f"Temperature {wanted:g} not sent: {self.temperature_reason}"

    def reasoning_for(self, wanted: Reasoning | None) -> Reasoning | None:
        """The reasoning setting a request to this model carries (its modes and efforts):
        none where it takes no setting; an effort it lacks left to its default; "off" on a
        model that cannot stop reasoning is its lowest effort; a mode it refuses (manual
        thinking, "on", on Claude Sonnet 5 and later) is the nearest it has."""
        if wanted is None or not (self.thinking or self.efforts):
            return None
        mode, effort = wanted.mode, wanted.effort
        if self.efforts and effort not in self.efforts:
            effort = None
        if mode == "off" and "off" not in self.thinking:
            mode, effort = "adaptive", self.efforts[0] if self.efforts else effort
        if self.thinking and mode not in self.thinking:
            mode = next((m for m in ("adaptive", "on", "off") if m in self.thinking), "adaptive")
        return Reasoning(mode, effort, wanted.budget_tokens if mode == "on" else None)


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
