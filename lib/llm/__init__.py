"""LLM: the model catalog, the provider protocol and table, token counting, and the call with
its one retry loop. Adapters (Anthropic, OpenAI and compatible servers, the bundled model) sit
behind `get_provider`; their SDKs are imported only when a provider is first used."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.llm.batches": (
        "BATCH_DISCOUNT", "BATCH_OUTCOMES", "BATCH_STATES", "FINAL_STATES",
        "AnthropicBatches", "BatchClient", "BatchOutcome", "BatchState", "OpenAIBatches",
        "batch_client", "batch_price"
    ),
    "lib.llm.breakers": ("BreakerPolicy", "BreakerState", "Breakers"),
    "lib.llm.call": ("Call",),
    "lib.llm.terms": ("CallContext", "RetryPolicy"),
    "lib.llm.catalog": (
        "SHIPPED", "current_catalog", "load_catalog", "save_user_catalog", "user_catalog_path"
    ),
    "lib.llm.modelinfo": ("Catalog", "ModelInfo"),
    "lib.llm.fallbacks": ("Fallback", "Fallbacks", "Skipped"),
    "lib.llm.guards": ("GUARDS", "Guards"),
    "lib.llm.ratelimits": ("Limit", "Limiters", "parse_limits"),
    "lib.llm.protocol": (
        "STOP_REASONS", "ChatRequest", "Error", "Event", "Message", "Provider", "Stop",
        "TextDelta", "ToolCall", "ToolResult", "ToolSpec", "ToolUse", "Usage", "Waiting",
        "stop_reason"
    ),
    "lib.llm.recorder": ("LedgerRecorder", "MemoryRecorder", "Recorder"),
    "lib.llm.repairs": ("Repairing",),
    "lib.llm.routing": (
        "TASK_LABELS", "TASKS", "RouteRule", "Routed", "Router", "load_router", "parse_router",
        "route", "route_messages", "top_model"
    ),
    "lib.llm.schemas": (
        "check_schema", "check_tool_parameters", "matches_schema", "schema_errors",
        "schema_validator"
    ),
    "lib.llm.seam": (
        "Ask", "CallEvent", "CallSpec", "Calls", "Response", "fit", "invoke", "shaped",
        "worth_caching"
    ),
    "lib.llm.structured": (
        "STATUSES", "Repair", "Validation", "parse_json", "repair_message", "repair_request",
        "schema_of_model", "strict_compatible", "validate"
    ),
    "lib.llm.toolcalls": ("ToolCallParts",),
    "lib.llm.providers.anthropic_provider": ("AnthropicProvider",),
    "lib.llm.providers.local": (
        "LocalModel", "LocalProvider", "bundled_model_path", "get_local_model"
    ),
    "lib.llm.providers.local_runtime": ("check_runtime",),
    "lib.llm.providers.openai_provider": ("OpenAIProvider",),
    "lib.llm.providers.sdk": ("retry_after", "translate"),
    "lib.llm.registry": (
        "Capabilities", "ModelStatus", "ProviderSpec", "ProviderSummary", "batch_providers",
        "capabilities", "counter_for", "get_provider", "guard_key", "local_model",
        "local_model_path", "model_statuses", "paid_providers", "provider_label",
        "provider_names", "provider_specs", "provider_status", "provider_summary", "runs_here",
        "spec_of"
    ),
    "lib.llm.tokens": (
        "BLOBS", "Counter", "encoding", "encoding_name", "estimate_counter", "max_input_tokens",
        "message_text",
        "seed_tiktoken"
    ),
})
