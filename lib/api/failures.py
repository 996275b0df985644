"""Our errors as HTTP answers in OpenAI's error shape: status, body and headers."""

from __future__ import annotations

import logging
import uuid

from lib.api.openai_format import error_body
from lib.core import (
    ApiError,
    BudgetExceededError,
    ContextOverflowError,
    PromptLabError,
    PromptStoreError,
    ProviderError,
    RenderError,
    SchemaError,
    VariableError,
)

log = logging.getLogger(__name__)

# A provider's failure (lib.core ProviderError kinds) as the status this API answers with.
PROVIDER_STATUS = {"rate_limit": 429, "overloaded": 503, "unavailable": 503,
                   "circuit_open": 503, "timeout": 504, "deadline": 504, "bad_request": 400,
                   "not_found": 404}

Answer = tuple[int, dict, dict[str, str]]


def answer(exc: BaseException) -> Answer:
    """(status, body, headers) for any exception; unknown ones are logged with a reference."""
    message = str(exc)
    if isinstance(exc, ApiError):
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        return exc.status, error_body(message, kind, exc.code, exc.param), {}
    if isinstance(exc, BudgetExceededError):
        # The openai SDK retries a 429 unless told not to: a spent budget stays spent.
        return 429, error_body(message, "budget_exceeded", "budget_exceeded"), \
            {"x-should-retry": "false"}
    if isinstance(exc, ContextOverflowError):
        return 400, error_body(message, "invalid_request_error", "context_length_exceeded",
                               "messages"), {}
    if isinstance(exc, SchemaError):
        return 400, error_body(message, "invalid_request_error", "invalid_schema",
                               "response_format"), {}
    if isinstance(exc, VariableError):
        return 422, error_body(message, "invalid_request_error", "invalid_variable",
                               "variables"), {}
    if isinstance(exc, RenderError):
        return 422, error_body(message, "invalid_request_error", "render_failed",
                               "variables", reason=exc.reason), {}
    if isinstance(exc, PromptStoreError):
        return 404, error_body(message, "invalid_request_error", "prompt_not_found"), {}
    if isinstance(exc, ProviderError):
        return provider_answer(exc)
    ref = uuid.uuid4().hex[:8]
    if isinstance(exc, PromptLabError):
        log.warning("api request failed [ref %s]: %s", ref, exc.message)
        return 500, error_body(message, "server_error", "internal", ref=ref), {}
    log.error("api request failed [ref %s]", ref, exc_info=exc)
    return 500, error_body(f"The server failed on this request; its log has reference {ref}.",
                           "server_error", "internal", ref=ref), {}


def provider_answer(exc: ProviderError) -> Answer:
    """A model call that failed: the upstream's own status where it means the same to our
    client (429, 400, 404), 503 / 504 for unavailable or slow, 502 for the rest."""
    status = PROVIDER_STATUS.get(exc.kind, 502)
    headers = {"retry-after": f"{exc.retry_after:.0f}"} if exc.retry_after else {}
    kind = "rate_limit_exceeded" if status == 429 else \
        "invalid_request_error" if status < 500 else "upstream_error"
    return status, error_body(str(exc), kind, exc.kind), headers
