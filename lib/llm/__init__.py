"""LLM: the model catalog, the provider protocol and table, token counting, and the call with
its one retry loop. Adapters (Anthropic, OpenAI and compatible servers, the bundled model) sit
behind `get_provider`; their SDKs are imported only when a provider is first used."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.llm.batches import (
        BATCH_DISCOUNT,
        BATCH_OUTCOMES,
        BATCH_STATES,
        FINAL_STATES,
        AnthropicBatches,
        BatchClient,
        BatchOutcome,
        BatchState,
        OpenAIBatches,
        batch_client,
        batch_price,
    )
    from lib.llm.breakers import BreakerPolicy, Breakers, BreakerState
    from lib.llm.cache import (
        CacheMode,
        CacheStore,
        DatabaseStore,
        Lookup,
        RedisStore,
        redis_client,
        request_key,
        store_for,
    )
    from lib.llm.cache import clear as clear_cache
    from lib.llm.cache import mode_for as cache_mode
    from lib.llm.call import Call
    from lib.llm.catalog import (
        SHIPPED,
        current_catalog,
        load_catalog,
        save_user_catalog,
        user_catalog_path,
    )
    from lib.llm.discovery import (
        Listing,
        askable,
        forget_listings,
        listing_under_way,
        model_listings,
        model_origin,
        refresh_models,
        wait_for_listings,
    )
    from lib.llm.fallbacks import Fallback, Fallbacks, Skipped
    from lib.llm.guards import GUARDS, Guards, shared_state_notice
    from lib.llm.modelinfo import (
        DEFAULT_OUTPUT,
        DEFAULT_WINDOW,
        SOURCES,
        Catalog,
        ModelInfo,
        price_unknown,
    )
    from lib.llm.protocol import (
        REASONING_MODES,
        STOP_REASONS,
        Block,
        ChatRequest,
        Error,
        Event,
        Message,
        Provider,
        Reasoning,
        ReasoningMode,
        Stop,
        TextDelta,
        Thinking,
        ThinkingDelta,
        ToolCall,
        ToolResult,
        ToolSpec,
        ToolUse,
        Usage,
        Waiting,
        stop_reason,
    )
    from lib.llm.providers.anthropic_provider import AnthropicProvider
    from lib.llm.providers.local import (
        LocalModel,
        LocalProvider,
        bundled_model_path,
        get_local_model,
    )
    from lib.llm.providers.local_runtime import check_runtime
    from lib.llm.providers.openai_provider import OpenAIProvider
    from lib.llm.providers.sdk import retry_after, translate
    from lib.llm.ratelimits import Limit, Limiters, parse_limits
    from lib.llm.reasoning import default_mode, reasoning_mode, thinking_budget
    from lib.llm.recorder import LedgerRecorder, MemoryRecorder, Recorder
    from lib.llm.registry import (
        Capabilities,
        ModelStatus,
        ProviderSpec,
        ProviderSummary,
        batch_providers,
        capabilities,
        counter_for,
        get_provider,
        guard_key,
        local_model,
        local_model_path,
        model_statuses,
        paid_providers,
        provider_label,
        provider_names,
        provider_specs,
        provider_status,
        provider_summary,
        runs_here,
        spec_of,
    )
    from lib.llm.repairs import Repairing
    from lib.llm.routing import (
        TASK_LABELS,
        TASKS,
        Routed,
        Router,
        RouteRule,
        load_router,
        parse_router,
        route,
        route_messages,
        top_model,
    )
    from lib.llm.schemas import (
        check_schema,
        check_tool_parameters,
        matches_schema,
        schema_errors,
        schema_validator,
    )
    from lib.llm.seam import (
        Ask,
        CallEvent,
        Calls,
        CallSpec,
        Response,
        fit,
        invoke,
        shaped,
        worth_caching,
    )
    from lib.llm.structured import (
        STATUSES,
        Repair,
        Validation,
        parse_json,
        repair_message,
        repair_request,
        schema_of_model,
        strict_compatible,
        validate,
    )
    from lib.llm.terms import CallContext, RetryPolicy
    from lib.llm.tokens import (
        BLOBS,
        Counter,
        encoding,
        encoding_name,
        estimate_counter,
        max_input_tokens,
        message_text,
        seed_tiktoken,
    )
    from lib.llm.toolcalls import ToolCallParts
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
