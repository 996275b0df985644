"""What each built-in provider's models endpoint says it serves, as catalog entries:
Anthropic's (each model's input and output limits and capabilities), OpenAI's (ids only) and
an OpenAI-compatible server's `/v1/models`. lib.llm.discovery asks, caches and merges them.

No endpoint gives a price: a listed Anthropic or OpenAI model's is unknown until
`<data dir>/models.toml` sets one. A compatible server's models cost nothing here, as those
named in PROMPTLAB_OPENAI_MODELS always have (a server of one's own), unless priced there too.
Listed models take no temperature (none is sent, so their own default applies): whether a new
model refuses one is not on the endpoint, and a model that does answers 400 to every call.
"""

from __future__ import annotations

import re
from typing import Any

from lib.core import Settings
from lib.llm.modelinfo import DEFAULT_OUTPUT, DEFAULT_WINDOW, ModelInfo
from lib.llm.providers.sdk import client_options, translate

LIST_TIMEOUT_S = 10.0   # a list is small: a server this slow is not waited for (a page asks)
EFFORTS = ("low", "medium", "high", "xhigh", "max")  # Anthropic's effort levels, lowest first
# OpenAI lists every model of the account: embeddings, speech, images, moderation, and models
# only its Responses API serves. These are the chat models its Chat Completions take...
OPENAI_CHAT = re.compile(r"(gpt-(4o|4\.\d|[5-9])|o[1-9]|chatgpt-)")
OPENAI_NOT_CHAT = ("audio", "realtime", "transcribe", "tts", "image", "search", "embedding",
                   "moderation", "instruct", "-pro", "deep-research", "codex", "computer-use")
# ...and the endpoint says nothing of their limits: every family above has at least these
# (GPT-4o's 128K window and 16K output; GPT-4.1, GPT-5 and the o-series have more).
OPENAI_WINDOW, OPENAI_OUTPUT = 128_000, 16_384


def _listed(sdk: Any, client: Any, label: str, **params: Any) -> list[dict[str, Any]]:
    """Every model the endpoint lists (all pages), as plain dicts; ProviderError on failure."""
    try:
        with client:
            return [m.to_dict() for m in client.models.list(**params)]
    except Exception as exc:  # the SDK's and the transport's: said plainly (redacted)
        raise translate(exc, sdk, label) from exc


def _supported(table: Any, name: str) -> bool:
    entry = table.get(name) if isinstance(table, dict) else None
    return isinstance(entry, dict) and entry.get("supported") is True


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def claude(listed: dict[str, Any]) -> ModelInfo:
    """A model of Anthropic's list: its limits, lifecycle, thinking modes and effort levels."""
    caps = listed.get("capabilities") or {}
    thinking = caps.get("thinking") or {}
    effort = caps.get("effort") or {}
    types = thinking.get("types") or {}
    modes = tuple(mode for mode, name in (("off", "disabled"), ("on", "enabled"),
                                          ("adaptive", "adaptive"))
                  if thinking.get("supported") is True and _supported(types, name))
    return ModelInfo(
        listed["id"], "anthropic", listed.get("display_name") or listed["id"],
        _positive(listed.get("max_input_tokens")) or DEFAULT_WINDOW,
        _positive(listed.get("max_tokens")) or DEFAULT_OUTPUT, temperature=False,
        legacy=listed.get("lifecycle") == "deprecated", thinking=modes,
        efforts=tuple(e for e in EFFORTS if effort.get("supported") is True
                      and _supported(effort, e)),
        source="discovered", priced=False)


def anthropic_models(settings: Settings, http_client: Any | None = None) -> list[ModelInfo]:
    import anthropic

    client = anthropic.Anthropic(api_key=settings.anthropic_api_key or "",
                                 **client_options(LIST_TIMEOUT_S, http_client))
    return [claude(m) for m in _listed(anthropic, client, "Anthropic", limit=1000)
            if m.get("lifecycle") != "retired" and m.get("id")]


def openai_chat(model_id: str) -> bool:
    """Whether an id OpenAI lists names a model its Chat Completions serve."""
    return OPENAI_CHAT.match(model_id) is not None and not any(
        word in model_id for word in OPENAI_NOT_CHAT)


def openai_models(settings: Settings, http_client: Any | None = None) -> list[ModelInfo]:
    import openai

    client = openai.OpenAI(api_key=settings.openai_api_key,
                           **client_options(LIST_TIMEOUT_S, http_client))
    ids = sorted({m["id"] for m in _listed(openai, client, "OpenAI") if m.get("id")})
    return [ModelInfo(i, "openai", i, OPENAI_WINDOW, OPENAI_OUTPUT, temperature=False,
                      source="discovered", priced=False) for i in ids if openai_chat(i)]


def server_model(model_id: str, settings: Settings, window: int | None = None) -> ModelInfo:
    """A model of the configured compatible server: its window as the server says (vLLM's
    `max_model_len`) or as PROMPTLAB_OPENAI_CONTEXT_WINDOW sets it, half of it for output."""
    window = window or settings.openai_compat_context_window
    return ModelInfo(id=model_id, provider="compat", label=f"{model_id} (server)",
                     context_window=window, max_output=min(4096, max(1, window // 2)),
                     source="server")


def server_models(settings: Settings, http_client: Any | None = None) -> list[ModelInfo]:
    """The server's own list, unless PROMPTLAB_OPENAI_MODELS names the models (then nothing
    is asked: the settings win)."""
    if settings.openai_compat_models or not settings.openai_base_url:
        return []
    import openai

    client = openai.OpenAI(api_key=settings.openai_compat_api_key or "not-needed",
                           base_url=settings.openai_base_url,
                           **client_options(LIST_TIMEOUT_S, http_client))
    listed = _listed(openai, client, f"The server at {settings.openai_base_url}")
    return [server_model(m["id"], settings, _positive(m.get("max_model_len"))
                         or _positive(m.get("context_length")))
            for m in listed if isinstance(m.get("id"), str) and m["id"]]
