"""Streaming a turn into the page under a Stop button."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st

from lib import chat
from lib.chat import (
    Began,
    Draft,
    FellBack,
    Finished,
    Grounded,
    Repaired,
    Summarising,
    Text,
    Thought,
    ThoughtDone,
    ToolFinished,
    ToolStarted,
    TurnEvent,
    Waiting,
)
from lib.core import PromptLabError
from lib.ui.chat.actions import Resend, forget_requeue, requeue
from lib.ui.chat.messages import NOTICE
from lib.ui.chat.sidebar import open_conversation
from lib.ui.chat.thinking import LiveThinking
from lib.ui.chat.tools import block_label, draw_call, draw_result
from lib.ui.kit.resilience import live_note
from lib.ui.kit.text import inert, md
from lib.ui.kit.widgets import show_error

CURSOR = "▌"


def stream_into(events: Iterable[TurnEvent], body, *, min_interval: float = 0.05,
                on: Callable[[TurnEvent], object] = lambda _event: None
                ) -> tuple[str, PromptLabError | None]:
    """Draw a turn's events: streamed text, coalescing updates so long replies stay smooth,
    thinking in a box above the text it came before (collapsed once the text begins), each
    tool call as a block between the texts around it, waits, fallbacks and repairs as notes;
    `on` sees every event first (the page's own lines: grounding, progress).

    If Streamlit interrupts (the Stop button reruns the script), the generator is closed
    at once, which records the turn as cancelled and saves the partial reply.
    """
    gen = iter(events)
    text, error, last = "", None, 0.0
    slot, blocks, note = body.empty(), {}, None
    slot.markdown(CURSOR)
    thinking = LiveThinking(body, min_interval)
    try:
        for event in gen:
            on(event)
            if note is not None and not isinstance(event, Waiting):
                note.empty()  # the wait is over
                note = None
            if isinstance(event, Thought | ThoughtDone) and not thinking.open:
                if text:  # the text so far stays above the thinking
                    slot.markdown(inert(text))
                else:
                    slot.empty()
                text = ""
                thinking.start()
                slot = body.empty()
                slot.markdown(CURSOR)
            elif isinstance(event, Text | ToolStarted):
                thinking.close()
            if isinstance(event, Thought):
                thinking.add(event.text)
            elif isinstance(event, ThoughtDone) and event.redacted:
                thinking.redacted()
            elif isinstance(event, Text):
                text += event.text
                now = time.monotonic()
                if now - last >= min_interval:
                    slot.markdown(inert(text) + CURSOR)
                    last = now
            elif isinstance(event, ToolStarted):
                slot.markdown(inert(text))  # the text so far stays above the block
                text = ""
                blocks[event.call.id] = box = body.status(block_label(event.call.name, None,
                                                                      False), expanded=False)
                with box:
                    draw_call(event.call.raw if event.call.invalid else event.call.arguments,
                              None, False)
                slot = body.empty()
                slot.markdown(CURSOR)
            elif isinstance(event, ToolFinished):
                o = event.outcome
                box = blocks[event.call.id]
                if not o.pending:
                    with box:
                        draw_result(o.content, o.is_error)
                box.update(label=block_label(event.call.name, o.ms, o.is_error, o.pending,
                                             o.asks),
                           state="error" if o.is_error else "complete")
            elif isinstance(event, Waiting | FellBack):  # a rate limit's wait, or moving on
                if note is None or isinstance(event, FellBack):
                    note = body.empty()  # a fallback's line stays; a wait's is redrawn
                note.caption(live_note(event))
                if isinstance(event, FellBack):
                    note = None
            elif isinstance(event, Repaired):  # the reply failed its schema: asked again
                body.caption(md(":material/build: The reply did not match its schema ({}); "
                                "asking again…", "; ".join(event.errors)[:200]))
                slot.markdown(CURSOR)
                text = ""
            elif isinstance(event, Finished):
                error = event.error
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()
    thinking.close()
    slot.markdown(inert(text))
    return text, error


def send(draft: Draft, remember: dict[str, Any] | None = None) -> None:
    """Show the user's message, stream the turn under a Stop button — its grounding, the
    summary folded first if the conversation summarises (a Stop then gives the summary up and
    the message is sent again with the sliding window), then the reply — point the URL at
    its conversation (keeping the sidebar's settings with it), and rerun so the saved history
    is redrawn. A refusal raises before anything is drawn or kept."""
    ask, settings = draft.ask, draft.settings
    turn = draft.send()
    first = next(turn)  # retrieval, a summary's first tick, or Began: a refusal raises here
    if ask.continue_from is None:  # going on adds no message of the user's
        with st.chat_message("user"):
            st.markdown(inert(ask.text))
    with st.chat_message("assistant"):
        stop = st.empty()
        stop.button("Stop", icon=":material/stop_circle:", key="stop_stream")
        line = st.empty()
        instead = Resend(draft.conversation.id if draft.conversation else None, ask.text,
                         ask.replace_from, again=ask.again, skip_summary="stopped by you")

        def on(event: TurnEvent) -> None:
            if isinstance(event, Summarising):
                line.caption(md(":material/summarize: Summarising {} earlier message{} with "
                                "{}… {:.0f} s (Stop sends this message without them instead)",
                                event.messages, "" if event.messages == 1 else "s",
                                event.model, event.seconds))
                requeue(instead)  # a Stop now resends the message with the window
            elif isinstance(event, Grounded):
                line.caption(md(":material/menu_book: Reading {} chunks from {}…",
                                event.chunks, event.knowledge_base) if event.chunks else
                             md("Nothing in {} matched; answering without documents.",
                                event.knowledge_base))
            elif isinstance(event, Began):
                forget_requeue()  # the turn began: nothing to resend
                open_conversation(event.conversation_id)
                if remember is not None:
                    chat.save_settings(settings.db, event.conversation_id, remember)
            elif isinstance(event, Text | Thought | ToolStarted):
                line.empty()

        _, error = stream_into(_chain(first, turn), st.container(), on=on)
        stop.empty()
    if error is not None:
        st.session_state[NOTICE] = str(error)
    st.rerun()


def send_or_explain(draft: Draft, remember: dict[str, Any] | None = None) -> None:
    """Send the draft; a refusal (a budget, the window, a model gone) is said in plain words,
    with the message there to copy: nothing was stored, nothing replaced."""
    try:
        send(draft, remember)
    except PromptLabError as exc:
        show_error(exc)
        resend = draft.ask.replace_from is not None or draft.ask.continue_from is not None
        st.caption("Nothing was replaced; your edited message is here to copy:" if resend
                   else "Your message was not sent; here it is to copy:")
        st.code(draft.ask.text, language=None)


def _chain(first: TurnEvent, rest: Iterable[TurnEvent]) -> Iterable[TurnEvent]:
    yield first
    yield from rest
