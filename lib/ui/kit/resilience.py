"""Fallbacks, circuit breakers and rate limits on the page: the fallback picker, what a reply
says about the models that could not answer, and each provider's breaker state."""

from __future__ import annotations

import streamlit as st

from lib.chat import FellBack, Waiting
from lib.llm import GUARDS, ModelInfo
from lib.ui.kit.app import catalog
from lib.ui.kit.text import Markdown, join, md


def fallback_picker(model: ModelInfo, key: str = "chat_fallbacks") -> tuple[ModelInfo, ...]:
    """Models to ask, in order, when the chosen one cannot answer (before any output)."""
    models = {m.key: m for m in catalog().models if m.key != model.key}
    chain = [k for k in catalog().fallbacks.get(model.key, ()) if k in models]
    chosen_key = f"{key}_{model.key}"  # each model keeps its own chain in the session
    keys = st.multiselect(
        "Fallbacks", list(models), default=chain, key=chosen_key,
        format_func=lambda k: f"{models[k].label}{circuit_mark(models[k].provider)}",
        placeholder="None: errors end the turn",
        help="Asked in this order when the model fails before answering (retries given up, "
             "its circuit breaker open, or the conversation too long for its window). Never "
             "after it has begun to answer.")
    return tuple(models[k] for k in keys)


def state_text(provider: str) -> str:
    """A provider's circuit breaker, in words: closed, open (with time left) or probing."""
    state = GUARDS.state_of(provider)
    return "closed" if state is None else state.text


def circuit_mark(provider: str) -> str:
    """What a model option adds when its provider's breaker is not closed."""
    state = GUARDS.state_of(provider)
    return "" if state is None or state.state == "closed" else f"  (circuit {state.text})"


def live_note(event: FellBack | Waiting) -> Markdown:
    """What a reply says while it streams: waiting under a rate limit, or moving on."""
    if isinstance(event, Waiting):
        return md(":material/hourglass_top: Waiting {:.0f} s: {}…", event.seconds, event.reason)
    return md(":material/alt_route: {} could not answer ({}); asking {}…", event.failed,
              event.reason, event.next)


def fallback_note(meta: dict) -> Markdown:
    """Under a stored reply: which model answered and why the ones before it did not."""
    skipped = meta.get("fallbacks") or ()
    return md(":material/alt_route: Answered by {} (fallback). Passed over: {}",
              meta.get("label", ""), join("; ", (md("{}: {}", s["model"], s["reason"])
                                                for s in skipped)))
