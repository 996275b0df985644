"""The Chat page's summarised history: the strategy for a conversation that outgrows the
window, the summary drawn where the turns it replaces end (editable), and what a reply's
footer says about it."""

from __future__ import annotations

import streamlit as st

from lib import chat
from lib.chat import Conversation, Summary
from lib.core import PromptLabError, Settings
from lib.storage import Database
from lib.ui.kit import app
from lib.ui.kit.text import md, plain

ERROR = "summary_error"


def _store_strategy(db: Database, conversation_id: int, key: str) -> None:
    chat.set_strategy(db, conversation_id, st.session_state[key])


def strategy_picker(settings: Settings, current: Conversation | None) -> str:
    """How this conversation's history meets the window; kept with the conversation (a new
    one takes it when its first turn is sent)."""
    key = f"history_strategy_{current.id if current else 'new'}"
    if key not in st.session_state:
        st.session_state[key] = current.history_strategy if current else chat.WINDOW
    strategy = st.radio(
        "When the history outgrows the window", list(chat.STRATEGIES), key=key,
        format_func=lambda s: plain(chat.STRATEGIES[s]),
        on_change=_store_strategy if current else None,
        args=(settings.db, current.id, key) if current else None,
        help="Summarising folds the oldest turns into a summary written by a small model "
             "(a ledger row on page “summary”); later calls send it in their place.")
    if strategy == chat.SUMMARISE:
        try:
            st.caption(md("Summaries are written by {}.", chat.summary_model(settings).label))
        except PromptLabError as exc:
            st.warning(plain(exc))
    return strategy


def _save(summary_id: int, key: str) -> None:
    try:
        chat.edit_summary(app.settings().db, summary_id, st.session_state[key])
    except PromptLabError as exc:
        st.session_state[ERROR] = str(exc)
    else:
        st.toast("Summary saved: later calls send it.", icon=":material/summarize:")


def summary_box(summary: Summary) -> None:
    """The summary where the messages it replaces end: what later calls send, editable."""
    n = summary.covered
    with st.expander(md("Summary of {} earlier message{}", n, "" if n == 1 else "s"),
                     icon=":material/summarize:"):
        st.caption(md("Later calls send this in place of the {} messages above. Written by "
                      "{}{}.", n, summary.model, "; edited by you" if summary.edited else ""))
        key = f"summary_text_{summary.id}"
        st.text_area("Summary", value=summary.text, key=key, height=160,
                     label_visibility="collapsed")
        st.button("Save", key=f"summary_save_{summary.id}", icon=":material/save:",
                  on_click=_save, args=(summary.id, key),
                  help="Later calls send the saved text; it is kept until the history "
                       "overflows again, when it is folded into the next summary.")
        if (error := st.session_state.pop(ERROR, None)) is not None:
            st.error(plain(error))


def reply_note(meta: dict) -> None:
    """Under a reply: the summary it was sent with, or why it fell back to the window."""
    if (s := meta.get("summary")) is not None:
        n = s.get("covered", 0)
        st.caption(md(":material/summarize: {} summary of {} earlier message{} was sent in "
                      "their place.", "A new" if s.get("made") else "The", n,
                      "" if n == 1 else "s"))
    if meta.get("summary_failed"):
        st.caption(md(":material/warning: Summarising the oldest messages did not finish "
                      "({}); this call used the sliding window instead: they were left out, "
                      "and they are still in the conversation.", meta["summary_failed"]))
