"""The Chat page's sidebar: new, resume (with search), rename, export and delete conversations;
and which conversation the URL points at."""

from __future__ import annotations

import streamlit as st

from lib import chat
from lib.chat import Conversation
from lib.core import NotFoundError, Settings

MODEL_KEY = "chat_model"
PICK_KEY = "conv_pick"


def current_conversation(settings: Settings) -> Conversation | None:
    """The conversation in the URL (?c=ID), so a reload lands on the same chat."""
    raw = st.query_params.get("c")
    if raw is None or not raw.isdigit():
        return None
    try:
        return chat.get_conversation(settings.db_path, int(raw))
    except NotFoundError:
        del st.query_params["c"]
        return None

def open_conversation(conversation_id: int | None, model: str = "") -> None:
    """Point the URL at a conversation; the model picker follows the conversation's model."""
    if conversation_id is None:
        st.query_params.pop("c", None)
    else:
        st.query_params["c"] = str(conversation_id)
    if model:
        st.session_state[MODEL_KEY] = model


def new_chat() -> None:
    """Leave the current conversation: the URL and the picker both forget it (the picker's
    remembered choice would otherwise reopen it on the next run)."""
    st.query_params.pop("c", None)
    st.session_state.pop(PICK_KEY, None)


def conversation_sidebar(settings: Settings, current: Conversation | None) -> None:
    """New / resume / rename / delete / export, in the sidebar."""
    path = settings.db_path
    sidebar = st.sidebar
    sidebar.button("New chat", icon=":material/add:", width="stretch", key="new_chat",
                   on_click=new_chat)
    convs = chat.list_conversations(path)
    if not convs:
        sidebar.caption("No saved conversations yet.")
        return
    ids = [c.id for c in convs]
    titles = {c.id: f"{c.title}  ·  {c.updated_at[:16].replace('T', ' ')}" for c in convs}
    chosen = sidebar.selectbox(
        "Conversations", ids, index=ids.index(current.id) if current else None,
        format_func=titles.__getitem__, placeholder="Resume a conversation…", key=PICK_KEY)
    if chosen is not None and (current is None or chosen != current.id):
        open_conversation(chosen, next(c.model for c in convs if c.id == chosen))
        st.rerun()
    if current is None:
        return
    with sidebar.popover("Rename, export or delete", icon=":material/more_horiz:",
                         width="stretch"):
        title = st.text_input("Title", value=current.title, key=f"title_{current.id}")
        if st.button("Rename", key="rename") and title.strip():
            chat.update_conversation(path, current.id, title=title.strip())
            st.rerun()
        slug = "".join(ch if ch.isalnum() else "-" for ch in current.title.lower())[:40]
        st.download_button("Export Markdown", chat.export_markdown(path, current.id),
                           file_name=f"{slug}.md", mime="text/markdown", key="export_md",
                           on_click="ignore")
        st.download_button("Export JSON", chat.export_json(path, current.id),
                           file_name=f"{slug}.json", mime="application/json",
                           key="export_json", on_click="ignore")
        if st.button("Delete conversation", type="primary", key="delete_conv"):
            chat.delete_conversation(path, current.id)
            new_chat()
            st.rerun()
