"""The provider registry: which models are usable here, and the adapter that serves each."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lib.catalog import Catalog, ModelInfo
from lib.errors import ProviderError
from lib.providers.base import Provider
from lib.settings import Settings


@dataclass(frozen=True)
class ModelStatus:
    model: ModelInfo
    available: bool
    reason: str          # when unavailable: what to do about it


def local_model_path(settings: Settings):
    from lib.providers.local import bundled_model_path

    return settings.local_model_path or bundled_model_path()


def provider_status(provider: str, settings: Settings, *, check_local: bool) -> tuple[bool, str]:
    """(available, how to make it available). Never reveals a key."""
    if provider == "anthropic":
        return (bool(settings.anthropic_api_key),
                "Set ANTHROPIC_API_KEY in the environment or .streamlit/secrets.toml.")
    if provider == "openai":
        return (bool(settings.openai_api_key),
                "Set OPENAI_API_KEY in the environment or .streamlit/secrets.toml.")
    if provider == "compat":
        return (bool(settings.openai_base_url),
                "Set PROMPTLAB_OPENAI_BASE_URL to your server's /v1 URL.")
    from lib.providers.local import check_runtime

    verdict = check_runtime(local_model_path(settings), settings.data_dir, run=check_local)
    return verdict.ok, verdict.reason


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


@functools.cache
def get_provider(provider: str, settings: Settings) -> Provider:
    """One adapter per provider and settings, reused across calls and sessions."""
    ok, reason = provider_status(provider, settings, check_local=True)
    if not ok:
        raise ProviderError("unavailable", f"The {provider} provider is not available.",
                            hint=reason)
    if provider == "anthropic":
        from lib.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(settings.anthropic_api_key or "",
                                 read_timeout=settings.read_timeout_s)
    if provider in ("openai", "compat"):
        from lib.providers.openai_provider import OpenAIProvider

        if provider == "openai":
            return OpenAIProvider(settings.openai_api_key, read_timeout=settings.read_timeout_s)
        return OpenAIProvider(settings.openai_compat_api_key, base_url=settings.openai_base_url,
                              compat=True, read_timeout=settings.read_timeout_s)
    from lib.providers.local import LocalProvider

    return LocalProvider(local_model_path(settings), settings.local_context_window,
                         settings.local_threads)
