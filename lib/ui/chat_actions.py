"""What a person does with a message once it is there: copy a reply, regenerate the last one,
edit a sent message and resend it, let a paused agent run go on. A resend replaces the message
and every later one; the ledger keeps every call."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.chat import StoredMessage
from lib.ui.text import md

RESEND = "chat_resend"


@dataclass(frozen=True)
class Resend:
    """A message to send again in place of `replace_from` and everything after it."""

    conversation_id: int
    text: str
    replace_from: int | None
    continue_from: int | None = None  # "Go on": a paused agent run, no new message
    typed: dict[str, str] | None = None  # results the user typed for calls the run awaits


def pending(conversation_id: int | None) -> Resend | None:
    """The resend a button asked for on the previous run, if it is for this conversation."""
    resend = st.session_state.pop(RESEND, None)
    return resend if resend and resend.conversation_id == conversation_id else None


def _queue(conversation_id: int, text: str, replace_from: int) -> None:
    if text.strip():
        st.session_state[RESEND] = Resend(conversation_id, text, replace_from)


def _go_on(conversation_id: int, message_id: int) -> None:
    st.session_state[RESEND] = Resend(conversation_id, "", None, message_id)


def _send_results(conversation_id: int, message_id: int, call_ids: list[str]) -> None:
    typed = {c: st.session_state.get(f"typed_{message_id}_{c}", "") for c in call_ids}
    st.session_state[RESEND] = Resend(conversation_id, "", None, message_id, typed)


def typed_results(conversation_id: int, message: StoredMessage, *, enabled: bool) -> None:
    """The calls of page-defined tools the run waits on: the user types each result."""
    waiting = [c for s in message.meta.get("steps", ()) for c in s.get("calls", ())
               if c.get("pending")]
    for c in waiting:
        st.text_area(md("Result of `{}` for the model", c["name"]),
                     key=f"typed_{message.id}_{c['id']}",
                     placeholder="What the tool would have returned")
    st.button("Send results", icon=":material/send:", type="primary", disabled=not enabled,
              key=f"send_typed_{message.id}", on_click=_send_results,
              args=(conversation_id, message.id, [c["id"] for c in waiting]))


def _queue_edit(conversation_id: int, message_id: int) -> None:
    _queue(conversation_id, st.session_state.get(f"edit_{message_id}", ""), message_id)


def message_actions(conversation_id: int, message: StoredMessage,
                    asked: StoredMessage | None, *, last: bool, enabled: bool) -> None:
    """A row under a message: Edit for the user's; Copy, and Regenerate for the last reply.
    `asked` is the user message a reply answered."""
    row = st.container(horizontal=True, gap="small")
    mid = message.id
    if message.role == "user":
        with row.popover("Edit", icon=":material/edit:", type="tertiary", disabled=not enabled,
                         key=f"edit_pop_{mid}"):
            st.text_area("Edit your message", message.content, key=f"edit_{mid}")
            st.button("Send edited", key=f"send_edit_{mid}", type="primary",
                      icon=":material/send:", on_click=_queue_edit, args=(conversation_id, mid))
            st.caption("The replies after this message are replaced; the Costs page keeps "
                       "every call.")
        return
    with row.popover("Copy", icon=":material/content_copy:", type="tertiary",
                     key=f"copy_pop_{mid}"):
        st.caption("The whole reply as Markdown; copy it with the button in the box's corner.")
        st.code(message.content, language="markdown", wrap_lines=True)
    if last and message.meta.get("run_end") == "awaiting":
        typed_results(conversation_id, message, enabled=enabled)
    if last and message.meta.get("run_end") == "paused":
        row.button("Go on", icon=":material/play_arrow:", type="tertiary", key=f"go_on_{mid}",
                   disabled=not enabled, on_click=_go_on, args=(conversation_id, mid),
                   help="Let the run take more steps (the Tools section's step limit)")
    if last and asked is not None:
        row.button("Regenerate", icon=":material/refresh:", type="tertiary",
                   key=f"regen_{mid}", disabled=not enabled,
                   help="Ask again; this reply is replaced (the Costs page keeps its call)",
                   on_click=_queue, args=(conversation_id, asked.content, asked.id))
