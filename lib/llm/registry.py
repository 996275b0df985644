"""The provider table: each provider's label, availability check and adapter factory, read by
every caller (model picker, Home, budgets, token counting); and which models are usable here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib.core import ProviderError, Settings, TokenizerError
from lib.llm.catalog import Catalog, ModelInfo
from lib.llm.protocol import Provider
from lib.llm.providers.local_runtime import CHECKING
from lib.llm.tokens import (
    Counter,
    claude_counter,
    estimate_counter,
    local_counter,
    openai_counter,
)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    label: str
    paid: bool                                            # calls cost money: budgets apply
    check: Callable[[Settings, bool], tuple[bool, str]]   # (available, how to enable it)
    factory: Callable[[Settings], Provider]
    counter: Callable[[ModelInfo, Settings], Counter]     # counts its models' tokens


def local_model_path(settings: Settings) -> Path | None:
    from lib.llm.providers.local import bundled_model_path

    return settings.local_model_path or bundled_model_path()


def local_model(settings: Settings):  # -> LocalModel
    """The bundled (or configured) local model, loaded once; its tokenizer is public."""
    from lib.llm.providers.local import get_local_model

    path = local_model_path(settings)
    if path is None or not path.is_file():
        raise TokenizerError("The local model is not installed, so its tokenizer is missing.",
                             hint="Run `make install`.")
    return get_local_model(path, settings.local_context_window, settings.local_threads)


def _key_check(attr: str, variable: str) -> Callable[[Settings, bool], tuple[bool, str]]:
    return lambda s, _run: (bool(getattr(s, attr)),
                            f"Set {variable} in the environment or .streamlit/secrets.toml.")


def _local_check(settings: Settings, run: bool) -> tuple[bool, str]:
    from lib.llm.providers.local_runtime import check_runtime

    verdict = check_runtime(local_model_path(settings), settings.data_dir, run=run)
    return verdict.ok, verdict.reason


def _anthropic(s: Settings) -> Provider:
    from lib.llm.providers.anthropic_provider import AnthropicProvider

    return AnthropicProvider(s.anthropic_api_key or "", read_timeout=s.read_timeout_s)


def _openai(s: Settings) -> Provider:
    from lib.llm.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(s.openai_api_key, read_timeout=s.read_timeout_s)


def _compat(s: Settings) -> Provider:
    from lib.llm.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(s.openai_compat_api_key, base_url=s.openai_base_url, compat=True,
                          read_timeout=s.read_timeout_s)


def _local(s: Settings) -> Provider:
    from lib.llm.providers.local import LocalProvider

    return LocalProvider(local_model_path(s), s.local_context_window, s.local_threads)


PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec in (
    ProviderSpec("local", "Local (bundled)", False, _local_check, _local,
                 lambda m, s: local_counter(m, s, local_model_path(s))),
    ProviderSpec("anthropic", "Anthropic", True,
                 _key_check("anthropic_api_key", "ANTHROPIC_API_KEY"), _anthropic,
                 claude_counter),
    ProviderSpec("openai", "OpenAI", True, _key_check("openai_api_key", "OPENAI_API_KEY"),
                 _openai, openai_counter),
    ProviderSpec("compat", "OpenAI-compatible server", True,
                 lambda s, _run: (bool(s.openai_base_url),
                                  "Set PROMPTLAB_OPENAI_BASE_URL to your server's /v1 URL."),
                 _compat, estimate_counter),
)}


def counter_for(model: ModelInfo, settings: Settings) -> Counter:
    """The counter for a model; a tokenizer loads once per process."""
    spec = PROVIDERS.get(model.provider)
    return (spec.counter if spec else estimate_counter)(model, settings)


def provider_label(name: str) -> str:
    spec = PROVIDERS.get(name)
    return spec.label if spec else name


def paid_providers() -> list[str]:
    return [name for name, spec in PROVIDERS.items() if spec.paid]


def provider_status(provider: str, settings: Settings, *, check_local: bool) -> tuple[bool, str]:
    """(available, how to make it available). Never reveals a key."""
    spec = PROVIDERS.get(provider)
    if spec is None:
        return False, f"Unknown provider {provider!r}: fix the model catalog."
    return spec.check(settings, check_local)


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
        out[p] = ProviderSummary(p, provider_label(p), s.available, s.reason,
                                 (seen.models if seen else 0) + 1)
    return list(out.values())


@functools.cache
def get_provider(provider: str, settings: Settings) -> Provider:
    """One adapter per provider and settings, reused across calls and sessions.

    Building an adapter is cheap and idempotent, so a rare double build under a race is
    harmless; the heavy local model inside the adapter is loaded once by its own guard.
    """
    from lib.llm.guards import GUARDS
    from lib.llm.ratelimits import parse_limits

    GUARDS.configure(parse_limits(settings.rate_limits))
    ok, reason = provider_status(provider, settings, check_local=True)
    if not ok:
        raise ProviderError("unavailable", f"The {provider_label(provider)} provider is not "
                            "available.", hint=reason)
    return PROVIDERS[provider].factory(settings)
