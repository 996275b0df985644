"""Streaming a turn into the page under a Stop button."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st

from lib import chat, knowledge
from lib.agents import RunFinished, ToolFinished, ToolStarted
from lib.chat import ChatTurn, TurnOptions, summary_model
from lib.core import ProviderError, Settings
from lib.llm import Error, Fallback, ModelInfo, Repair, TextDelta, Waiting
from lib.ui.chat_actions import Resend, requeue
from lib.ui.chat_messages import NOTICE
from lib.ui.chat_sidebar import open_conversation
from lib.ui.chat_tools import block_label, draw_call, draw_result
from lib.ui.kit.resilience import live_note
from lib.ui.kit.text import inert, md

log = logging.getLogger(__name__)

CURSOR = "▌"


def stream_into(events: Iterable[Any], body, *, min_interval: float = 0.05,
                on_first: Callable[[], object] = lambda: None
                ) -> tuple[str, ProviderError | None]:
    """Draw streamed text, coalescing updates so long replies stay smooth, and each tool
    call as a block between the texts around it; `on_first` runs at the first output.

    If Streamlit interrupts (the Stop button reruns the script), the generator is closed
    at once, which records the turn as cancelled and saves the partial reply.
    """
    gen = iter(events)
    text, error, last, started = "", None, 0.0, False
    slot, blocks, note = body.empty(), {}, None
    slot.markdown(CURSOR)
    try:
        for event in gen:
            if note is not None and not isinstance(event, Waiting):
                note.empty()  # the wait is over
                note = None
            if isinstance(event, TextDelta):
                if not started:
                    started = True
                    on_first()
                text += event.text
                now = time.monotonic()
                if now - last >= min_interval:
                    slot.markdown(inert(text) + CURSOR)
                    last = now
            elif isinstance(event, ToolStarted):
                if not started:
                    started = True
                    on_first()
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
                box.update(label=block_label(event.call.name, o.ms, o.is_error, o.pending),
                           state="error" if o.is_error else "complete")
            elif isinstance(event, Waiting | Fallback):  # a rate limit's wait, or moving on
                if note is None or isinstance(event, Fallback):
                    note = body.empty()  # a fallback's line stays; a wait's is redrawn
                note.caption(live_note(event))
                if isinstance(event, Fallback):
                    note = None
            elif isinstance(event, Repair):  # the reply failed its schema: it is asked again
                body.caption(md(":material/build: The reply did not match its schema ({}); "
                                "asking again…", "; ".join(event.errors)[:200]))
                slot.markdown(CURSOR)
                text = ""
            elif isinstance(event, Error | RunFinished) and getattr(event, "error", None):
                error = event.error
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()
    slot.markdown(inert(text))
    return text, error


def send(settings: Settings, conversation_id: int | None, model: ModelInfo, text: str,
         options: TurnOptions, *, replace_from: int | None = None, again: bool = False,
         continue_from: int | None = None, typed: dict[str, str] | None = None,
         remember: dict[str, Any] | None = None) -> None:
    """Plan the turn (retrieval included) with a line saying what is happening, show the
    user's message, summarise earlier turns first if the conversation does (as progress,
    under a Stop that gives it up for the sliding window), begin the turn (nothing is stored
    if it is refused), point the URL at its conversation (keeping the sidebar's settings
    with it), stream it under the same Stop, then rerun so the saved history is redrawn.
    `replace_from`: an edit (or, `again`, a regenerate), a branch beside that message."""
    note = st.empty()
    kb = options.knowledge_base
    if kb:
        first_use = not knowledge.embedding_model.ready(knowledge.model_name(settings))
        note.caption(md(":material/search: Searching {}{}…", kb,
                        " (loading the embedding model: first use)" if first_use else ""))
    turn = ChatTurn(settings, conversation_id, model, text, options,  # may refuse: nothing
                    replace_from=replace_from, again=again,           # drawn, nothing kept
                    continue_from=continue_from, typed=typed)
    note.empty()
    c = turn.compaction  # summarising first: how many messages it folds
    if not (n := len(c.to_fold(turn.plan)) if c.due(turn.plan) else 0):
        conversation_id = turn.begin()  # a refusal raises here, with nothing drawn or kept
    if continue_from is None:  # going on adds no message of the user's
        with st.chat_message("user"):
            st.markdown(inert(turn.user_text))
    with st.chat_message("assistant"):
        stop = st.empty()
        stop.button("Stop", icon=":material/stop_circle:", key="stop_stream")
        if n:
            _summarise_first(turn, n, summary_model(settings).label, Resend(
                conversation_id, text, replace_from, again=again,
                skip_summary="stopped by you"))
            conversation_id = turn.begin()
        open_conversation(conversation_id)
        if remember is not None:
            chat.save_settings(settings.db_path, conversation_id, remember)
        waiting = st.empty()
        if turn.hits:
            waiting.caption(md(":material/menu_book: Reading {} chunks from {}…",
                               len(turn.hits), kb))
        elif kb:
            waiting.caption(md("Nothing in {} matched; answering without documents.", kb))
        _, error = stream_into(turn, st.container(), on_first=waiting.empty)
        stop.empty()
    if error is not None:
        st.session_state[NOTICE] = str(error)
    st.rerun()


def _summarise_first(turn: ChatTurn, n: int, writer: str, instead: Resend) -> None:
    """Fold `n` earlier messages into the summary while the page shows progress. Summarising
    runs beside the script, which redraws the progress line meanwhile: a Stop (Streamlit
    interrupts the script at that redraw) gives the summary up, and the next run sends the
    same turn with the sliding window (`instead`), saying so."""
    line = st.empty()
    cancel, done = threading.Event(), threading.Event()

    def work() -> None:
        try:
            turn.summarise_first(cancel)
        except Exception:  # a bug: the turn goes on with the window, the log keeps why
            log.exception("summarising before a chat turn failed")
        finally:
            done.set()

    threading.Thread(target=work, name="chat-summary", daemon=True).start()
    started = time.monotonic()
    try:
        while not done.wait(0.25):
            line.caption(md(":material/summarize: Summarising {} earlier message{} with {}… "
                            "{:.0f} s (Stop sends this message without them instead)", n,
                            "" if n == 1 else "s", writer, time.monotonic() - started))
    except BaseException:  # Stop, or the page left: no summary; the turn is sent without it
        cancel.set()
        requeue(instead)
        raise
    line.empty()
