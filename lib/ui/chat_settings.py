"""The Chat sidebar's settings kept with each conversation: model (or the router and its
task), temperature, max tokens, knowledge base, tools and output schema (the system prompt is
kept as the conversation's own).
Saved whenever they change on an open conversation (and with its first turn), restored into
the sidebar when the conversation is opened again, by URL or from the list."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import chat
from lib.agents import BUILTINS
from lib.chat import Conversation
from lib.core import Settings
from lib.llm import TASKS, ModelInfo
from lib.ui.chat_sidebar import LOADED, MODEL_KEY
from lib.ui.kit.text import Markdown, join, md, plain

TEMPERATURE, MAX_TOKENS = "chat_temperature", "chat_max_tokens"
KB, TOP_K = "chat_kb", "chat_top_k"
TOOLS, CHOICE, SCHEMA, TASK = "chat_tools", "chat_tool_choice", "chat_schema", "chat_task"
KB_TOOLS = ("search_knowledge_base", "read_chunk")


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
        usable = [n for n in BUILTINS if out.get(KB) or n not in KB_TOOLS]
        tools = [t for t in kept["tools"] or () if t in usable]
        out[TOOLS] = tools
        out[CHOICE] = (kept.get("tool_choice") if kept.get("tool_choice") in
                       ("auto", "required", "none", *tools) else "auto")
    if "output_schema" in kept:
        schema = kept["output_schema"]
        out[SCHEMA] = schema if isinstance(schema, str) else ""
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
            "output_schema": state.get(SCHEMA) or ""}


def remember(settings: Settings, current: Conversation | None, now: dict[str, Any]) -> None:
    """Keep the sidebar's settings with the open conversation when they changed."""
    if current is not None and now != current.settings:
        chat.save_settings(settings.db_path, current.id, now)
        current.settings = now


def active_line(tools: tuple[Any, ...], schema: dict | None, kb: str | None) -> Markdown:
    """Beside the input: the tools, output schema and knowledge base this conversation uses."""
    parts = []
    if kb:
        parts.append(md(":material/library_books: Grounded in **{}**", kb))
    if tools:
        parts.append(md(":material/build: Tools: {}", join(", ", (
            md("`{}`", t.name) for t in tools))))
    if schema is not None:
        title = schema.get("title") if isinstance(schema.get("title"), str) else ""
        parts.append(md(":material/data_object: Replies are JSON matching the output schema{}",
                        md(" “{}”", title) if title else plain("")))
    return join("  ·  ", parts)  # empty: none of them
