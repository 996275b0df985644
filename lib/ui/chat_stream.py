"""Streaming a turn into the page under a Stop button."""

from __future__ import annotations

import time
from collections.abc import Iterable

import streamlit as st

from lib.chat import ChatTurn
from lib.core import ProviderError
from lib.llm import Error, Event, TextDelta
from lib.ui.chat_messages import NOTICE
from lib.ui.chat_sidebar import open_conversation
from lib.ui.text import inert

CURSOR = "▌"


def stream_into(events: Iterable[Event], slot, *, min_interval: float = 0.05
                ) -> tuple[str, ProviderError | None]:
    """Draw streamed text, coalescing updates so long replies stay smooth.

    If Streamlit interrupts (the Stop button reruns the script), the generator is closed
    at once, which records the turn as cancelled and saves the partial reply.
    """
    gen = iter(events)
    text, error, last = "", None, 0.0
    try:
        for event in gen:
            if isinstance(event, TextDelta):
                text += event.text
                now = time.monotonic()
                if now - last >= min_interval:
                    slot.markdown(inert(text) + CURSOR)
                    last = now
            elif isinstance(event, Error):
                error = event.error
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()
    slot.markdown(inert(text))
    return text, error


def run_turn(turn: ChatTurn) -> None:
    """Begin the turn (nothing is stored if it is refused), point the URL at its conversation,
    stream it under a Stop button, then rerun so the saved history is redrawn."""
    conversation_id = turn.begin()
    open_conversation(conversation_id)
    with st.chat_message("user"):
        st.markdown(inert(turn.user_text))
    with st.chat_message("assistant"):
        stop = st.empty()
        stop.button("Stop", icon=":material/stop_circle:", key="stop_stream")
        body = st.empty()
        body.markdown(CURSOR)
        _, error = stream_into(turn, body)
        stop.empty()
    if error is not None:
        st.session_state[NOTICE] = str(error)
    st.rerun()
