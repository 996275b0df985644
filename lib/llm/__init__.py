"""LLM: the model catalog, the provider protocol and table, token counting, and the call with
its one retry loop. Adapters (Anthropic, OpenAI and compatible servers, the bundled model) sit
behind `get_provider`; their SDKs are imported only when a provider is first used."""

from lib.llm.call import Call, CallContext, RetryPolicy
from lib.llm.catalog import Catalog, ModelInfo, load_catalog, save_user_catalog, user_catalog_path
from lib.llm.protocol import (
    ChatRequest,
    Error,
    Event,
    Message,
    Provider,
    Stop,
    TextDelta,
    Usage,
)
from lib.llm.providers.anthropic_provider import AnthropicProvider
from lib.llm.providers.local import LocalModel, LocalProvider, bundled_model_path, get_local_model
from lib.llm.providers.local_runtime import check_runtime
from lib.llm.providers.openai_provider import OpenAIProvider
from lib.llm.providers.sdk import retry_after, translate
from lib.llm.registry import (
    PROVIDERS,
    ModelStatus,
    ProviderSpec,
    ProviderSummary,
    counter_for,
    get_provider,
    local_model,
    local_model_path,
    model_statuses,
    paid_providers,
    provider_label,
    provider_status,
    provider_summary,
)
from lib.llm.tokens import BLOBS, Counter, encoding, encoding_name, seed_tiktoken

__all__ = [
    "BLOBS", "PROVIDERS", "AnthropicProvider", "Call", "CallContext", "Catalog", "ChatRequest",
    "Counter", "Error", "Event", "LocalModel", "LocalProvider", "Message", "ModelInfo",
    "ModelStatus", "OpenAIProvider", "Provider", "ProviderSpec", "ProviderSummary", "RetryPolicy",
    "Stop", "TextDelta", "Usage", "bundled_model_path", "check_runtime", "counter_for", "encoding",
    "encoding_name", "get_local_model", "get_provider", "load_catalog", "local_model",
    "local_model_path", "model_statuses", "paid_providers", "provider_label", "provider_status",
    "provider_summary", "retry_after", "save_user_catalog", "seed_tiktoken", "translate",
    "user_catalog_path",
]

