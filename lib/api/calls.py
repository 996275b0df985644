"""What an API request calls: the catalog model it names (with its fallback chain when the
request or its key asks for one), a stored prompt rendered in the sandbox; built as the app
builds its calls (lib.llm Call, Fallbacks, Repairing), so the retry loop, breakers, rate
limits, budgets and ledger are the same."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lib import prompts
from lib.api import door
from lib.api.chat_request import ChatParams, chat_params
from lib.api.values import checked_values
from lib.chat import AUTO, Routing, route_turn
from lib.core import ApiError, ContextOverflowError, ProviderError, Settings
from lib.llm import (
    CacheMode,
    CallContext,
    CallEvent,
    Calls,
    CallSpec,
    ChatRequest,
    Counter,
    ModelInfo,
    Response,
    current_catalog,
    load_router,
    message_text,
    model_statuses,
    wait_for_listings,
)

ROUTER = "router"   # the model name that asks the catalog's router to choose

# No tokenizer we count with has a token longer than this many bytes (o200k and cl100k: 128,
# the bundled SmolLM2: 32), so a text of n characters is at least n / 128 tokens: a request
# far past a window is refused without counting it (8 MiB of one word takes tiktoken 20 s).
MAX_TOKEN_BYTES = 128

def available_models(settings: Settings) -> list[ModelInfo]:
    """Every catalog model usable here (the bundled one once its CPU check passed)."""
    return [s.model for s in model_statuses(current_catalog(settings), settings) if s.available]


def find_model(settings: Settings, name: str) -> ModelInfo:
    """A model by catalog key ("local/smollm2-135m-instruct") or by a bare id served by one
    provider only; ApiError 404 otherwise."""
    def named() -> list[ModelInfo]:
        models = current_catalog(settings).models
        return [m for m in models if m.key == name] or [m for m in models if m.id == name]

    found = named()
    if not found and wait_for_listings(settings, timeout_s=10.0):
        found = named()  # just after the server started, a listing may bring it
    if len(found) != 1:
        raise ApiError(f"The model '{name}' does not exist here." if not found else
                       f"'{name}' is served by several providers; name one, like "
                       f"'{found[0].key}'.", status=404 if not found else 400,
                       code="model_not_found" if not found else "ambiguous_model", param="model",
                       hint="GET /v1/models lists the models served here.")
    return found[0]


@dataclass
class Started:
    """A reserved call, ready to stream: `cancel` stops it (the client went away)."""

    call: Response[CallEvent]
    cancel: threading.Event
    params: ChatParams
    prompt: dict[str, Any] | None = None     # {"name", "version"} of a prompt run


def _ask(params: ChatParams) -> Callable[[ModelInfo, Counter], ChatRequest]:
    """The request for one model of the chain, its limits capped to the model; raises
    ContextOverflowError, which a fallback chain passes over."""
    def build(model: ModelInfo, counter: Counter) -> ChatRequest:
        least = (len(params.system) + sum(len(message_text(m)) for m in params.messages)
                 ) // MAX_TOKEN_BYTES
        if least > model.context_window:
            raise ContextOverflowError(
                f"The messages are at least {least:,} tokens: more than {model.label}'s "
                f"{model.context_window:,}-token window.", hint="Shorten the messages.")
        request = ChatRequest(
            model=model.id, messages=params.messages, system=params.system,
            temperature=model.temperature_for(params.temperature),
            max_tokens=1, tools=params.tools, tool_choice=params.tool_choice,
            output_schema=params.output_schema, schema_name=params.schema_name)
        room = model.context_window - counter.count_request(request)
        wanted = min(params.max_tokens or model.max_output, model.max_output)
        if params.max_tokens is None:
            wanted = min(wanted, room)  # as much as fits, as OpenAI does without a limit
        if wanted < 1 or wanted > room:
            raise ContextOverflowError(
                f"The messages leave {max(room, 0):,} tokens of {model.label}'s "
                f"{model.context_window:,}-token window, and {wanted:,} were asked for.",
                hint="Shorten the messages or lower max_tokens.")
        return replace(request, max_tokens=wanted)
    return build


def start(settings: Settings, params: ChatParams, context: CallContext,
          cancel: threading.Event | None = None, *,
          prompt: dict[str, Any] | None = None, fallbacks: bool = False,
          calls: Calls | None = None, cache: CacheMode | None = None) -> Started:
    """Build the call and reserve its budget; raises BudgetExceededError,
    ContextOverflowError, ProviderError, ApiError. With `fallbacks`, a model that cannot
    answer passes the request down its catalog chain; without, only the model named answers
    (an API client asked for that model: another one is an answer to another question).
    Setting `cancel` stops the call at its next event. `cache`: how it uses the response
    cache (None: as PROMPTLAB_CACHE says for the API)."""
    cat = current_catalog(settings)
    if params.model == ROUTER:  # the catalog's router picks from the task and the input
        routed = route_turn(settings, Routing(load_router(settings, cat), tuple(
            model_statuses(cat, settings)), params.task or AUTO), params.system,
            params.messages)
        model = routed.model
        context = replace(context, route=routed.reason, baseline=routed.baseline)
    else:
        model = find_model(settings, params.model)
    chain = tuple(cat.get(k) for k in cat.fallbacks.get(model.key, ()) if k != model.key) \
        if fallbacks else ()
    cancel = cancel or threading.Event()
    # A streamed reply cannot be taken back, so only a whole one is repaired.
    repairs = settings.structured_repairs if not params.stream else 0
    try:
        call = (calls or Calls(settings)).invoke(CallSpec(
            model, _ask(params), context, fallbacks=chain, repairs=repairs, cancel=cancel,
            cache=cache))
    except ProviderError as exc:
        if exc.kind != "unavailable":
            raise
        hint = "GET /v1/models lists the models served here."
        if cat.fallbacks.get(model.key) and not fallbacks:
            hint += ' Send "fallbacks": true to let its fallback chain answer instead.'
        raise ApiError(f"The model '{model.key}' is not available here: {exc.message}",
                       status=404, code="model_not_available", param="model",
                       hint=hint) from None
    call.reserve()
    return Started(call, cancel, params, prompt)


def _reference(prompt: Any, body: dict[str, Any]) -> str | int:
    """`label` or `version`; neither: the production label if the prompt has one, else the
    newest version."""
    label, version = body.get("label"), body.get("version")
    if label is not None and version is not None:
        raise ApiError("Give a label or a version, not both.", param="label")
    if label is not None:
        if not isinstance(label, str):
            raise ApiError("`label` must be a string.", param="label")
        return label
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise ApiError("`version` must be a number such as 3 (or \"v3\").", param="version")
        return version if isinstance(version, int) else str(version)
    return "production" if "production" in prompt.labels else "latest"


def prompt_params(settings: Settings, name: str, body: Any) -> tuple[ChatParams, int]:
    """A prompt run's body (label or version, variables, stream, optional model, max_tokens,
    temperature) as chat parameters, its template rendered in the sandbox; and the version."""
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.")
    store = prompts.PromptStore(settings.prompts_dir)
    prompt = store.get(name)
    version = prompt.resolve(_reference(prompt, body))
    values = checked_values(body.get("variables"), prompt.variables, owner=prompt.name,
                            field="variables", noun="variable", code="invalid_variable")
    _, text = store.render(name, version, values)
    model = body.get("model") or prompt.model
    if not isinstance(model, str) or not model:
        raise ApiError(f"Prompt '{name}' names no default model: pass `model`.", param="model")
    overrides = {k: body[k] for k in ("max_tokens", "temperature") if body.get(k) is not None}
    params = chat_params({"model": model, "messages": [{"role": "user", "content": text}],
                          "max_tokens": prompt.max_tokens, "temperature": prompt.temperature,
                          **overrides, "stream": body.get("stream", False),
                          "stream_options": body.get("stream_options"),
                          "fallbacks": body.get("fallbacks")})
    schema = prompt.output_schema(version)
    return replace(params, output_schema=None if schema is None else door.schema(
        schema, "output_schema")), version
