"""Running a stored prompt on a model: its rendered template is the user's message, and the
call is built as every caller builds one (lib.llm Call with the retry policy and deadline,
Repairing when the version declares an output schema), so budgets, breakers and the ledger
row (with the prompt's name and version) are the same as everywhere else."""

from __future__ import annotations

import threading
from typing import Any

from lib.core import ContextOverflowError, Settings
from lib.llm import (
    Call,
    CallContext,
    ChatRequest,
    Message,
    ModelInfo,
    Repairing,
    RetryPolicy,
    counter_for,
    get_provider,
)
from lib.prompts.manifest import check_parameters
from lib.prompts.store import PromptStore


def run(settings: Settings, name: str, ref: str | int, values: dict[str, Any],
        model: ModelInfo, *, temperature: float | None = None, max_tokens: int | None = None,
        page: str = "prompts", user: str | None = None,
        cancel: threading.Event | None = None) -> Call | Repairing:
    """A call of prompt `name` at `ref` (label or version) with `values`, ready to iterate
    (nothing is sent until then); temperature and max tokens default to the prompt's own.
    Raises VariableError / RenderError / PromptStoreError for the prompt, ContextOverflowError
    when it cannot fit the model; iterating may raise BudgetExceededError."""
    store = PromptStore(settings.prompts_dir)
    prompt = store.get(name)
    version, text = store.render(name, ref, values)
    temperature = prompt.temperature if temperature is None else temperature
    max_tokens = prompt.max_tokens if max_tokens is None else max_tokens
    check_parameters(temperature, max_tokens)
    counter = counter_for(model, settings)
    request = ChatRequest(model=model.id, messages=(Message("user", text),),
                          temperature=temperature if model.temperature else None,
                          max_tokens=min(max_tokens, model.max_output),
                          output_schema=prompt.output_schema(version))
    room = model.context_window - counter.count_request(request)
    if request.max_tokens > room:
        raise ContextOverflowError(
            f"{name} v{version} leaves {max(room, 0):,} tokens of {model.label}'s "
            f"{model.context_window:,}-token window, and {request.max_tokens:,} were asked for.",
            hint="Shorten the values or lower max tokens.")
    call = Call(get_provider(model.provider, settings), model, request,
                CallContext(page, name, version, user=user), db_path=settings.db_path,
                policy=RetryPolicy(deadline_s=settings.deadline_s),
                count_input=counter.count_request, count_output=counter.count, cancel=cancel,
                estimated_input=not counter.exact)
    return call if request.output_schema is None else Repairing(call,
                                                                settings.structured_repairs)
