"""The provider table: each provider's label, availability check, adapter factory, token
counter and capabilities, read by every caller (model picker, Home, budgets, token counting);
and which models are usable here.

Providers register through the `promptlab.providers` entry point (lib.core.plugins); the
built-in ones (lib.llm.providers.builtin) through the same hook. Code outside an adapter asks a
provider's `Capabilities`, never its name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.core import CatalogError, ProviderError, Settings, TokenizerError, registered
from lib.llm.modelinfo import Catalog, ModelInfo
from lib.llm.protocol import Provider
from lib.llm.providers.local_runtime import CHECKING
from lib.llm.tokens import Counter, estimate_counter

if TYPE_CHECKING:
    from lib.llm.batches import BatchClient
    from lib.llm.providers.local import LocalModel

GROUP = "promptlab.providers"
BUILTIN = ("lib.llm.providers.builtin",)
STRUCTURED_MODES = ("native", "grammar", "validated")


@dataclass(frozen=True)
class Capabilities:
    """What a provider offers beyond streaming, so no caller branches on its name."""

    prompt_cache_min: int | None = None   # caches a marked prompt prefix of this many tokens
    counts_tokens: bool = False           # its adapter asks the provider for an exact count
    batch: Callable[[Settings], BatchClient] | None = None  # its batch API, half price
    # How a JSON Schema reaches its output: enforced by the API ("native"), by a grammar over
    # the model's own sampling ("grammar"), or only checked afterwards ("validated"). Every
    # reply is validated in any case (lib.llm.structured).
    structured: str = "validated"
    runs_here: bool = False               # no key and no network: summaries and last fallbacks
    per_url: bool = False                 # one breaker and limiter per base URL, not per provider
    one_at_a_time: bool = False           # generates one reply at a time: more threads only wait


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    label: str
    paid: bool                                            # calls cost money: budgets apply
    check: Callable[[Settings, bool], tuple[bool, str]]   # (available, how to enable it)
    factory: Callable[[Settings], Provider]
    counter: Callable[[ModelInfo, Settings], Counter]     # counts its models' tokens
    capabilities: Capabilities = field(default_factory=Capabilities)
    # Models it serves beyond the catalog file (a plugin's own, a configured server's), and how
    # a catalog model of its changes with the settings (the local model's window).
    models: Callable[[Settings], list[ModelInfo]] = lambda _settings: []
    adjust: Callable[[ModelInfo, Settings], ModelInfo] | None = None
    source: str = "built-in"                              # or the plugin that registered it
    # Asks its models endpoint what it serves, over an HTTP client (None: the SDK's own);
    # lib.llm.discovery calls it off the hot path, once the provider is available.
    lists: Callable[[Settings, Any], list[ModelInfo]] | None = None


@functools.cache
def provider_specs() -> dict[str, ProviderSpec]:
    """Every registered provider by name, built-ins first; loaded once per process."""
    table: dict[str, ProviderSpec] = {}
    for r in registered(GROUP, BUILTIN, "register_providers"):
        spec = r.thing
        if not isinstance(spec, ProviderSpec):
            raise CatalogError(f"Plugin {r.source!r} registered {spec!r}, not a ProviderSpec.")
        if spec.capabilities.structured not in STRUCTURED_MODES:
            raise CatalogError(f"Provider {spec.name!r} ({r.source}) declares structured output "
                               f"{spec.capabilities.structured!r}; use one of "
                               f"{', '.join(STRUCTURED_MODES)}.")
        if spec.name in table:
            raise CatalogError(f"Two providers are named {spec.name!r} ({table[spec.name].source}"
                               f" and {r.source}).", hint="Uninstall one of the plugins.")
        table[spec.name] = replace(spec, source=r.source)
    return table


def spec_of(provider: str) -> ProviderSpec | None:
    return provider_specs().get(provider)


def capabilities(provider: str) -> Capabilities:
    """What a provider offers; an unknown one offers nothing."""
    spec = spec_of(provider)
    return spec.capabilities if spec else Capabilities()


def local_model_path(settings: Settings) -> Path | None:
    from lib.llm.providers.local import bundled_model_path

    return settings.local_model_path or bundled_model_path()


def local_model(settings: Settings) -> LocalModel:
    """The bundled (or configured) local model, loaded once; its tokenizer is public."""
    from lib.llm.providers.local import get_local_model

    path = local_model_path(settings)
    if path is None or not path.is_file():
        raise TokenizerError("The local model is not installed, so its tokenizer is missing.",
                             hint="Run `make install`.")
    return get_local_model(path, settings.local_context_window, settings.local_threads)


def counter_for(model: ModelInfo, settings: Settings) -> Counter:
    """The counter for a model; a tokenizer loads once per process."""
    spec = spec_of(model.provider)
    return (spec.counter if spec else estimate_counter)(model, settings)


def provider_label(name: str) -> str:
    spec = spec_of(name)
    return spec.label if spec else name


def provider_names() -> list[str]:
    return list(provider_specs())


def paid_providers() -> list[str]:
    return [name for name, spec in provider_specs().items() if spec.paid]


def batch_providers() -> list[str]:
    return [name for name, spec in provider_specs().items() if spec.capabilities.batch]


def provider_status(provider: str, settings: Settings, *, check_local: bool) -> tuple[bool, str]:
    """(available, how to make it available). Never reveals a key."""
    spec = spec_of(provider)
    if spec is None:
        return False, f"Unknown provider {provider!r}: fix the model catalog or install its plugin."
    return spec.check(settings, check_local)


def served_models(models: list[ModelInfo], settings: Settings) -> list[ModelInfo]:
    """The catalog's models as the settings change them, then each provider's own models not
    already in the catalog (a plugin's marked as such)."""
    out = []
    for m in models:
        spec = spec_of(m.provider)
        out.append(spec.adjust(m, settings) if spec and spec.adjust else m)
    known = {m.key for m in out}
    for spec in provider_specs().values():
        for m in spec.models(settings):
            if m.provider != spec.name:
                raise CatalogError(f"Provider {spec.name!r} ({spec.source}) lists {m.key}, "
                                   "a model of another provider.")
            if m.key not in known:
                out.append(replace(m, source="plugin") if spec.source != "built-in" else m)
                known.add(m.key)
    return out


def runs_here(models: list[ModelInfo]) -> list[ModelInfo]:
    """The models that need no key and no network, in catalog order."""
    return [m for m in models if capabilities(m.provider).runs_here]


@dataclass(frozen=True)
class ModelStatus:
    model: ModelInfo
    available: bool
    reason: str          # when unavailable: what to do about it


def model_statuses(catalog: Catalog, settings: Settings, *,
                   check_local: bool = True) -> list[ModelStatus]:
    """Every catalog model with its availability; the local check may run a test decode once."""
    cache: dict[str, tuple[bool, str]] = {}
    out = []
    for m in catalog.models:
        if m.provider not in cache:
            cache[m.provider] = provider_status(m.provider, settings, check_local=check_local)
        ok, reason = cache[m.provider]
        out.append(ModelStatus(m, ok, "" if ok else reason))
    return out


@dataclass(frozen=True)
class ProviderSummary:
    provider: str
    label: str
    available: bool
    reason: str
    models: int
    source: str = "built-in"

    @property
    def checking(self) -> bool:
        """Its availability is being found out right now (the local model's first check)."""
        return self.reason == CHECKING

    @property
    def state(self) -> str:
        return "ready" if self.available else "checking…" if self.checking else "unavailable"


def provider_summary(statuses: list[ModelStatus]) -> list[ProviderSummary]:
    """One line per provider: available or not, why, and how many catalog models it serves."""
    out: dict[str, ProviderSummary] = {}
    for s in statuses:
        p = s.model.provider
        seen = out.get(p)
        spec = spec_of(p)
        out[p] = ProviderSummary(p, provider_label(p), s.available, s.reason,
                                 (seen.models if seen else 0) + 1,
                                 spec.source if spec else "unknown")
    return list(out.values())


@functools.cache
def get_provider(provider: str, settings: Settings) -> Provider:
    """One adapter per provider and settings, reused across calls and sessions.

    Building an adapter is cheap and idempotent, so a rare double build under a race is
    harmless; the heavy local model inside the adapter is loaded once by its own guard.
    """
    from lib.llm.guards import GUARDS
    from lib.llm.ratelimits import parse_limits

    GUARDS.configure(parse_limits(settings.rate_limits), settings.redis_url)
    ok, reason = provider_status(provider, settings, check_local=True)
    if not ok:
        raise ProviderError("unavailable", f"The {provider_label(provider)} provider is not "
                            "available.", hint=reason)
    return provider_specs()[provider].factory(settings)


def guard_key(provider: Provider) -> str:
    """The breaker and limiter a provider's calls share: one per server URL where the provider
    declares it (an OpenAI-compatible server), else one per provider."""
    url = getattr(provider, "base_url", "")
    return f"{provider.name} {url}" if capabilities(provider.name).per_url and url \
        else provider.name
