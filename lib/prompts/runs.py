"""Running a stored prompt on a model: its rendered template is the user's message, sent
through the call seam (lib.llm.Calls) with repairs when the version declares an output schema,
so budgets, breakers and the ledger row (with the prompt's name and version) are the same as
everywhere else."""

from __future__ import annotations

import threading
from typing import Any

from lib.core import Settings
from lib.llm import (
    CallContext,
    CallEvent,
    Calls,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Response,
)
from lib.prompts.manifest import check_parameters
from lib.prompts.store import PromptStore


def run(settings: Settings, name: str, ref: str | int, values: dict[str, Any],
        model: ModelInfo, *, temperature: float | None = None, max_tokens: int | None = None,
        page: str = "prompts", user: str | None = None, api_key_id: int | None = None,
        cancel: threading.Event | None = None, calls: Calls | None = None
        ) -> Response[CallEvent]:
    """A call of prompt `name` at `ref` (label or version) with `values`, ready to iterate
    (nothing is sent until then); temperature and max tokens default to the prompt's own.
    `page`, `user` and `api_key_id` say who asked: the ledger row's, and whose budgets apply.
    Raises VariableError / RenderError / PromptStoreError for the prompt, ContextOverflowError
    when it cannot fit the model; iterating may raise BudgetExceededError."""
    store = PromptStore(settings.prompts_dir)
    prompt = store.get(name)
    version, text = store.render(name, ref, values)
    temperature = prompt.temperature if temperature is None else temperature
    max_tokens = prompt.max_tokens if max_tokens is None else max_tokens
    check_parameters(temperature, max_tokens)
    request = ChatRequest(model=model.id, messages=(Message("user", text),),
                          temperature=temperature, max_tokens=max_tokens,
                          output_schema=prompt.output_schema(version))
    return (calls or Calls(settings)).invoke(CallSpec(
        model, request, CallContext(page, name, version, user=user, api_key_id=api_key_id),
        repairs=settings.structured_repairs, cancel=cancel))
