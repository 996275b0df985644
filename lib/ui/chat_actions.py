"""What a person does with a message once it is there: copy a reply, regenerate the last one,
edit a sent message and resend it, let a paused agent run go on. A resend replaces the message
and every later one; the ledger keeps every call."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.chat import StoredMessage

RESEND = "chat_resend"


@dataclass(frozen=True)
class Resend:
    """A message to send again in place of `replace_from` and everything after it."""

    conversation_id: int
    text: str
    replace_from: int | None
    continue_from: int | None = None  # "Go on": a paused agent run, no new message


def pending(conversation_id: int | None) -> Resend | None:
    """The resend a button asked for on the previous run, if it is for this conversation."""
    resend = st.session_state.pop(RESEND, None)
    return resend if resend and resend.conversation_id == conversation_id else None


def _queue(conversation_id: int, text: str, replace_from: int) -> None:
    if text.strip():
        st.session_state[RESEND] = Resend(conversation_id, text, replace_from)


def _go_on(conversation_id: int, message_id: int) -> None:
    st.session_state[RESEND] = Resend(conversation_id, "", None, message_id)


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
    if last and message.meta.get("run_end") == "paused":
        row.button("Go on", icon=":material/play_arrow:", type="tertiary", key=f"go_on_{mid}",
                   disabled=not enabled, on_click=_go_on, args=(conversation_id, mid),
                   help="Let the run take more steps (the Tools section's step limit)")
    if last and asked is not None:
        row.button("Regenerate", icon=":material/refresh:", type="tertiary",
                   key=f"regen_{mid}", disabled=not enabled,
                   help="Ask again; this reply is replaced (the Costs page keeps its call)",
                   on_click=_queue, args=(conversation_id, asked.content, asked.id))
