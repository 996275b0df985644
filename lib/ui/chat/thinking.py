"""Thinking on the Chat page: drawn collapsed above the answer (and between tool calls, in the
order the model wrote it), streamed live while the model thinks, its tokens and cost in the
reply's caption; and the sidebar's Reasoning control for models that take one."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from lib.chat import reply_label, thought_label
from lib.core import format_usd
from lib.llm import ModelInfo, Reasoning, default_mode, reasoning_mode
from lib.ui.kit.text import Markdown, inert, md, plain

MODE, EFFORT, BUDGET = "chat_reasoning", "chat_effort", "chat_thinking_budget"
REDACTED = ":material/lock: Redacted by the provider"
MODES = {"off": "Off", "on": "On, within a budget", "adaptive": "Adaptive"}
CURSOR = "▌"


def draw_thinking(blocks: list[dict[str, Any]], label: str) -> None:
    """Blocks of thinking in one collapsed expander: each one's text, or that it is redacted."""
    with st.expander(plain(label), icon=":material/psychology:"):
        for b in blocks:
            if b.get("data"):
                st.caption(REDACTED)
            else:
                st.markdown(inert(b.get("text", "")))


def reply_thinking(meta: dict[str, Any]) -> None:
    """Above a reply's answer: what it thought first (a run draws its steps' own)."""
    if meta.get("thinking"):
        draw_thinking(meta["thinking"], reply_label(meta))


def reasoning_note(meta: dict[str, Any]) -> Markdown | None:
    """For the reply's caption: its reasoning tokens and what they cost (billed as output)."""
    tokens = int(meta.get("reasoning_tokens") or 0)
    if not tokens:
        return None
    return md("{:,} of them reasoning ({})", tokens,
              format_usd(int(meta.get("reasoning_micro", 0))))


class LiveThinking:
    """Thinking as it streams into a reply: a box opened above where the answer goes, its text
    growing while the model thinks, collapsed with its time once the answer (or a tool call)
    begins; thinking after a tool call opens a new one, in order."""

    def __init__(self, body: Any, min_interval: float = 0.05) -> None:
        self.body, self.min_interval = body, min_interval
        self.box: Any = None
        self.text, self.first, self.last, self.drawn = "", 0.0, 0.0, 0.0

    @property
    def open(self) -> bool:
        return self.box is not None

    def start(self) -> None:
        self.box = self.body.status("Thinking…", expanded=True, state="running")
        with self.box:
            self.slot = st.empty()
        self.text, self.first = "", time.monotonic()
        self.last = self.first

    def add(self, text: str) -> None:
        self.text += text
        self.last = now = time.monotonic()
        if now - self.drawn >= self.min_interval:
            self.slot.markdown(inert(self.text) + CURSOR)
            self.drawn = now

    def redacted(self) -> None:
        with self.box:
            st.caption(REDACTED)

    def close(self) -> None:
        """The answer (or a tool call) begins: the thinking so far collapses with its time."""
        if self.box is None:
            return
        self.slot.markdown(inert(self.text))
        self.box.update(label=plain(thought_label((self.last - self.first) * 1000)),
                        state="complete", expanded=False)
        self.box = None


def reasoning_sidebar(model: ModelInfo) -> Reasoning | None:
    """The Reasoning control, for a model that takes one: its modes, its effort levels (or
    its own default), and for mode "on" the thinking budget; None for any other model (its
    own default is sent)."""
    if not model.thinking:
        return None
    state = st.session_state
    if state.get(MODE) not in model.thinking:  # a new model, or a kept mode it does not take
        state[MODE] = default_mode(model)
    chosen = st.selectbox("Reasoning", model.thinking, key=MODE,
                          format_func=lambda m: MODES.get(m, m),
                          help="How the model thinks before it answers: its thinking is "
                               "shown above each reply, and its tokens are billed as output.")
    mode = reasoning_mode(chosen) or default_mode(model)
    effort = None
    if model.efforts and mode != "off":
        if state.get(EFFORT) not in ("", *model.efforts):
            state[EFFORT] = ""
        effort = st.selectbox("Effort", ["", *model.efforts], key=EFFORT,
                              format_func=lambda e: e or "The model's default",
                              help="How much the model reasons: lower is faster and cheaper.")
    budget = None
    if mode == "on":
        low, high = min(1024, model.max_output), model.max_output
        kept = state.get(BUDGET)
        state[BUDGET] = min(max(kept if isinstance(kept, int) else 4096, low), high)
        budget = int(st.number_input("Thinking budget (tokens)", low, high, step=1024,
                                     key=BUDGET, help="The most it may think; reserved in the "
                                                      "context window beside max tokens."))
    return Reasoning(mode, effort or None, budget)
