"""The Chat sidebar's settings kept with each conversation: model (or the router and its
task), temperature, max tokens, reasoning, knowledge base, tools and output schema (the system
prompt is kept as the conversation's own).
Saved whenever they change on an open conversation (and with its first turn), restored into
the sidebar when the conversation is opened again, by URL or from the list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from lib import chat, knowledge
from lib.agents import registered_tools
from lib.chat import Conversation, Routing, TurnOptions
from lib.core import PromptLabError, Settings
from lib.llm import REASONING_MODES, TASKS, ModelInfo, ModelStatus, wait_for_listings
from lib.ui.chat import router, summary, tools
from lib.ui.chat.sidebar import LOADED, MODEL_KEY
from lib.ui.chat.thinking import BUDGET, EFFORT, MODE, reasoning_sidebar
from lib.ui.kit import app, resilience, stored_prompts, structured_output, widgets
from lib.ui.kit.text import plain


@dataclass(frozen=True)
class TurnSettings:
    """What the sidebar says the next turn is: its model (or the Router), its options, and
    whether it can be sent."""

    model: ModelInfo | Routing
    status: ModelStatus            # the chosen model, or the one the router would choose now
    options: TurnOptions
    schema_ok: bool                # a typed output schema that is broken holds sending
    remember: dict[str, Any]       # the settings kept with the conversation

    @property
    def available(self) -> bool:
        return self.status.available

    @property
    def can_send(self) -> bool:
        return self.status.available and self.schema_ok


def turn_settings(settings: Settings, current: Conversation | None) -> TurnSettings:
    """The Chat sidebar below the conversation list: model or Router, fallbacks, system prompt,
    knowledge base, tools, temperature, max tokens, reasoning (for a model that takes it),
    history strategy and output schema, restored
    from the conversation when it is opened and kept with it when they change."""
    kbs = [kb.name for kb in knowledge.list_kbs(settings.db)]
    restore(current, kbs, keepable(settings, current))
    with st.sidebar:
        st.divider()
        status = widgets.model_picker(MODEL_KEY, router=True)
        key = f"system_{current.id if current else 'new'}"
        routing = None
        if status is None:
            routing, status = router.task_sidebar(settings, key)
        model = status.model
        fallbacks = resilience.fallback_picker(model)
        if current and f"{key}_text" not in st.session_state:
            st.session_state[f"{key}_text"] = current.system
        system, prompt_name, prompt_version = widgets.guarded(
            lambda: stored_prompts.system_from_prompt(key)) or ("", None, None)
        kb_name = st.selectbox("Ground in a knowledge base", kbs, index=None, key=KB,
                               placeholder="No documents" if kbs else "Add documents first",
                               disabled=not kbs)
        start(model)
        top_k = st.slider("Chunks per turn", 1, 10, key=TOP_K) if kb_name else 4
        offered = tools.tools_sidebar(kb_name)
        temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key=TEMPERATURE,
                                disabled=not model.temperature)
        if model.temperature_reason:  # disabled: say why, where it shows
            st.caption(plain(model.temperature_reason))
        max_tokens = st.number_input("Max output tokens", 1, model.max_output, step=64,
                                     key=MAX_TOKENS)
        reasoning = reasoning_sidebar(model)
        strategy = summary.strategy_picker(settings, current)
        try:  # sending is held until a typed schema is fixed
            output_schema, schema_ok = structured_output.schema_input(prompt_name,
                                                                    prompt_version), True
        except PromptLabError as exc:
            widgets.show_error(exc)
            output_schema, schema_ok = None, False
    kept = chosen()
    remember(settings, current, kept)
    options = TurnOptions(
        system=system, temperature=temperature, max_tokens=int(max_tokens),
        prompt_name=prompt_name, prompt_version=prompt_version, knowledge_base=kb_name,
        top_k=top_k, tools=offered.tools, tool_choice=offered.choice,
        max_steps=offered.max_steps, max_cost_usd=offered.max_cost_usd,
        output_schema=output_schema, fallbacks=fallbacks, history=strategy, user=app.user(),
        reasoning=reasoning)
    return TurnSettings(routing or model, status, options, schema_ok, kept)

TEMPERATURE, MAX_TOKENS = "chat_temperature", "chat_max_tokens"
KB, TOP_K = "chat_kb", "chat_top_k"
TOOLS, CHOICE, SCHEMA, TASK = "chat_tools", "chat_tool_choice", "chat_schema", "chat_task"
KB_TOOLS = ("search_knowledge_base", "read_chunk")


def keepable(settings: Settings, current: Conversation | None) -> set[str]:
    """The model keys a conversation's kept settings may name. Opening one kept on a model no
    listing has brought yet while an ask is under way (a discovered model, just after the app
    started) waits for the ask, ten seconds at most: else its model would be replaced by the
    default, and that kept."""
    keys = {widgets.ROUTER, *(m.key for m in app.catalog().models)}
    wanted = (current.settings or {}).get("model", current.model) if current else None
    if (current is not None and wanted and wanted not in keys
            and st.session_state.get(LOADED) != current.id
            and wait_for_listings(settings, timeout_s=10.0)):
        keys |= {m.key for m in app.catalog().models}
    return keys


def restore(current: Conversation | None, kbs: list[str], models: set[str]) -> None:
    """Once per opening of a conversation, before the sidebar's widgets are drawn: its kept
    settings become theirs. Values that no longer fit (a deleted knowledge base, a model that
    left the catalog) are left to the widgets' defaults. A new chat keeps what is there."""
    if current is None or st.session_state.get(LOADED) == current.id:
        if current is None:
            st.session_state[LOADED] = None
        return
    st.session_state[LOADED] = current.id
    kept = current.settings or {"model": current.model}  # kept before 0019: its model
    for key, value in _fitting(kept, kbs, models).items():
        st.session_state[key] = value


def _fitting(kept: dict[str, Any], kbs: list[str], models: set[str]) -> dict[str, Any]:
    """The kept values the widgets can take now, by widget key."""
    out: dict[str, Any] = {}
    if kept.get("model") in models:
        out[MODEL_KEY] = kept["model"]
    if kept.get("task") in ("auto", *TASKS):
        out[TASK] = kept["task"]
    number = (int, float)
    if isinstance(kept.get("temperature"), number) and 0 <= kept["temperature"] <= 2:
        out[TEMPERATURE] = float(kept["temperature"])
    if isinstance(kept.get("max_tokens"), int) and kept["max_tokens"] >= 1:
        out[MAX_TOKENS] = kept["max_tokens"]  # capped by the model's own limit when drawn
    if "knowledge_base" in kept:
        kb = kept["knowledge_base"]
        out[KB] = kb if kb in kbs else None
    if isinstance(kept.get("top_k"), int) and 1 <= kept["top_k"] <= 10:
        out[TOP_K] = kept["top_k"]
    if "tools" in kept:
        usable = [n for n in registered_tools() if out.get(KB) or n not in KB_TOOLS]
        tools = [t for t in kept["tools"] or () if t in usable]
        out[TOOLS] = tools
        out[CHOICE] = (kept.get("tool_choice") if kept.get("tool_choice") in
                       ("auto", "required", "none", *tools) else "auto")
    if "output_schema" in kept:
        schema = kept["output_schema"]
        out[SCHEMA] = schema if isinstance(schema, str) else ""
    # Checked against the model when the Reasoning control is drawn (lib/ui/chat/thinking.py).
    if kept.get("reasoning") in REASONING_MODES:
        out[MODE] = kept["reasoning"]
    if isinstance(kept.get("effort"), str):
        out[EFFORT] = kept["effort"]
    if isinstance(kept.get("thinking_budget"), int) and kept["thinking_budget"] >= 1:
        out[BUDGET] = kept["thinking_budget"]
    return out


def start(model: ModelInfo) -> None:
    """Defaults for a first visit, and max tokens within the chosen model's limit (each
    widget then takes its value from here alone: no default beside a session value)."""
    state = st.session_state
    state.setdefault(TEMPERATURE, 0.7)
    state.setdefault(TOP_K, 4)
    tokens = state.get(MAX_TOKENS)
    if not isinstance(tokens, int) or tokens < 1:
        state[MAX_TOKENS] = min(512, model.max_output)
    elif tokens > model.max_output:
        state[MAX_TOKENS] = model.max_output


def chosen() -> dict[str, Any]:
    """What the sidebar holds now, as kept with the conversation."""
    state = st.session_state
    return {"model": state.get(MODEL_KEY), "task": state.get(TASK),
            "temperature": state.get(TEMPERATURE), "max_tokens": state.get(MAX_TOKENS),
            "knowledge_base": state.get(KB), "top_k": state.get(TOP_K),
            "tools": list(state.get(TOOLS) or ()), "tool_choice": state.get(CHOICE),
            "output_schema": state.get(SCHEMA) or "", "reasoning": state.get(MODE),
            "effort": state.get(EFFORT), "thinking_budget": state.get(BUDGET)}


def remember(settings: Settings, current: Conversation | None, now: dict[str, Any]) -> None:
    """Keep the sidebar's settings with the open conversation when they changed."""
    if current is not None and now != current.settings:
        chat.save_settings(settings.db, current.id, now)
        current.settings = now
