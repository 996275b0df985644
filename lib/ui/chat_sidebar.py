"""The Chat page's sidebar: new, resume (with search), rename, export and delete conversations;
and which conversation the URL points at. Signed in, a user finds only their own."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib import chat
from lib.chat import Conversation
from lib.core import NotFoundError, Settings
from lib.ui.identity import user_id
from lib.ui.text import md

MODEL_KEY = "chat_model"
PICK_KEY = "conv_pick"


def current_conversation(settings: Settings) -> Conversation | None:
    """The conversation in the URL (?c=ID), so a reload lands on the same chat; another
    user's reads as missing."""
    raw = st.query_params.get("c")
    if raw is None or not raw.isdigit():
        return None
    try:
        return chat.get_conversation(settings.db_path, int(raw), owner=user_id())
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
    """Leave the current conversation (the picker follows the URL)."""
    st.query_params.pop("c", None)


def _picker_key(current: Conversation | None) -> str:
    """The picker only shows the URL's conversation. A browser keeps the label it last drew
    and sends its old choice back, so the picker is a new widget whenever the conversation
    or its title changes: New chat, a rename or a delete can never be undone by it."""
    return f"{PICK_KEY}_{current.id}_{hash(current.title)}" if current else f"{PICK_KEY}_none"


def _rename(path: Path, conversation_id: int) -> None:
    title = st.session_state.get(f"title_{conversation_id}", "").strip()
    if title:
        chat.update_conversation(path, conversation_id, title=title)


def _delete(path: Path, conversation: Conversation) -> None:
    chat.delete_conversation(path, conversation.id)
    new_chat()
    st.toast(md("Deleted “{}”.", conversation.title), icon=":material/delete:")


def conversation_sidebar(settings: Settings, current: Conversation | None) -> None:
    """New / resume / rename / delete / export, in the sidebar."""
    path = settings.db_path
    sidebar = st.sidebar
    sidebar.button("New chat", icon=":material/add:", width="stretch", key="new_chat",
                   on_click=new_chat)
    owner = user_id()
    total = chat.count_conversations(path, owner=owner)
    if not total:
        sidebar.caption("No saved conversations yet.")
        return
    query = sidebar.text_input("Search conversations", key="conv_search", type="search",
                               live="400ms", icon=":material/search:",
                               placeholder="Title or words said…") or ""
    convs = (chat.search_conversations(path, query.strip(), owner=owner) if query.strip()
             else chat.list_conversations(path, owner=owner))
    if query.strip():
        sidebar.caption(md("{} of {} conversations match.", len(convs), total))
    if current is not None and all(c.id != current.id for c in convs):
        convs.insert(0, current)  # the open one stays pickable while searching
    ids = [c.id for c in convs]
    titles = {c.id: f"{c.title}  ·  {c.updated_at[:16].replace('T', ' ')}" for c in convs}
    chosen = sidebar.selectbox(
        "Conversations", ids, index=ids.index(current.id) if current else None,
        format_func=titles.__getitem__, placeholder="Resume a conversation…",
        key=_picker_key(current))
    if chosen is not None and (current is None or chosen != current.id):
        open_conversation(chosen, next(c.model for c in convs if c.id == chosen))
        st.rerun()
    if current is None:
        return
    with sidebar.popover("Rename, export or delete", icon=":material/more_horiz:",
                         width="stretch"):
        st.text_input("Title", value=current.title, key=f"title_{current.id}")
        st.button("Rename", key="rename", on_click=_rename, args=(path, current.id))
        slug = "".join(ch if ch.isalnum() else "-" for ch in current.title.lower())[:40]
        st.download_button("Export Markdown", chat.export_markdown(path, current.id),
                           file_name=f"{slug}.md", mime="text/markdown", key="export_md",
                           on_click="ignore")
        st.download_button("Export JSON", chat.export_json(path, current.id),
                           file_name=f"{slug}.json", mime="application/json",
                           key="export_json", on_click="ignore")
        st.divider()
        sure = st.checkbox("Yes, delete this conversation and its messages",
                           key=f"delete_sure_{current.id}")
        st.button("Delete conversation", type="primary", key="delete_conv",
                  icon=":material/delete:", disabled=not sure, on_click=_delete,
                  args=(path, current), help="Tick the box first: a deleted conversation "
                  "cannot be brought back (its calls stay on the Costs page)")
