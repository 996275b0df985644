"""The lab's own providers, registered through the same hook a plugin uses: the bundled model,
Anthropic, OpenAI and an OpenAI-compatible server. Their SDKs are imported only when a provider
is first used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lib.core import ProviderError, Settings
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import Provider
from lib.llm.providers.listing import anthropic_models, openai_models, server_model, server_models
from lib.llm.registry import Capabilities, ProviderSpec, local_model_path
from lib.llm.tokens import claude_counter, estimate_counter, local_counter, openai_counter

# Anthropic caches a marked prompt prefix once it is at least this long (its docs: 1024 tokens
# for Sonnet and Opus; Haiku asks for 2048, which a 1024 mark simply does not reach).
ANTHROPIC_CACHE_MIN = 1024


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

    path = local_model_path(s)
    if path is None:  # get_provider checks first; a caller that did not is told the same
        raise ProviderError("unavailable", "The local model is not installed.")
    return LocalProvider(path, s.local_context_window, s.local_threads)


def _anthropic_batches(s: Settings):  # -> BatchClient
    from lib.llm.batches import AnthropicBatches

    return AnthropicBatches(s.anthropic_api_key or "", read_timeout=s.read_timeout_s)


def _openai_batches(s: Settings):  # -> BatchClient
    from lib.llm.batches import OpenAIBatches

    return OpenAIBatches(s.openai_api_key or "", read_timeout=s.read_timeout_s)


def _local_window(m: ModelInfo, s: Settings) -> ModelInfo:
    """PROMPTLAB_LOCAL_CONTEXT sets the bundled model's window (and so its output limit)."""
    if not s.local_context_window:
        return m
    return replace(m, context_window=s.local_context_window,
                   max_output=min(m.max_output, s.local_context_window // 2))


def _compat_models(s: Settings) -> list[ModelInfo]:
    """The models PROMPTLAB_OPENAI_MODELS names on the configured server (unset: the server's
    own list, asked by lib.llm.discovery)."""
    return [server_model(model_id, s) for model_id in s.openai_compat_models]


def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec(
        "local", "Local (bundled)", False, _local_check, _local,
        lambda m, s: local_counter(m, s, local_model_path(s)),
        Capabilities(structured="grammar", runs_here=True, one_at_a_time=True),
        adjust=_local_window))
    register(ProviderSpec(
        "anthropic", "Anthropic", True, _key_check("anthropic_api_key", "ANTHROPIC_API_KEY"),
        _anthropic, claude_counter,
        Capabilities(prompt_cache_min=ANTHROPIC_CACHE_MIN, counts_tokens=True,
                     batch=_anthropic_batches, structured="native"),
        lists=anthropic_models))
    register(ProviderSpec(
        "openai", "OpenAI", True, _key_check("openai_api_key", "OPENAI_API_KEY"), _openai,
        openai_counter, Capabilities(batch=_openai_batches, structured="native"),
        lists=openai_models))
    register(ProviderSpec(
        "compat", "OpenAI-compatible server", True,
        lambda s, _run: (bool(s.openai_base_url),
                         "Set PROMPTLAB_OPENAI_BASE_URL to your server's /v1 URL."),
        _compat, estimate_counter, Capabilities(structured="native", per_url=True),
        models=_compat_models, lists=server_models))
