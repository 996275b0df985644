"""The Chat page's sidebar: new, the recent conversations (with search), rename, export and
delete; and which conversation the URL points at. Signed in, a user finds only their own."""

from __future__ import annotations

import contextlib

import streamlit as st

from lib import chat
from lib.chat import Conversation
from lib.core import NotFoundError, Settings
from lib.storage import Database
from lib.ui.kit.app import Link, deep_link
from lib.ui.kit.identity import user_id
from lib.ui.kit.text import md, plain

MODEL_KEY = "chat_model"
RECENT = 12          # conversations listed before "Show all"
LOADED = "chat_loaded"  # the conversation whose settings the sidebar holds
MENU = "chat_conversation_menu"  # its "Rename, export or delete" popover is open


def current_conversation(settings: Settings) -> tuple[Conversation | None, Link | None]:
    """The conversation in the URL (?c=ID), so a reload lands on the same chat, and the link
    when it names none (an odd value, a deleted chat, another user's: all read as missing)."""
    link = deep_link("c")
    if link.raw is None:
        return None, None
    found = None
    if link.value is not None:
        with contextlib.suppress(NotFoundError):
            found = chat.get_conversation(settings.db, int(link.value), owner=user_id())
    if found is None:
        st.query_params.pop("c", None)
        return None, link
    return found, None


def open_conversation(conversation_id: int | None) -> None:
    """Point the URL at a conversation (the sidebar takes its settings on the next run)."""
    if conversation_id is None:
        st.query_params.pop("c", None)
    else:
        st.query_params["c"] = str(conversation_id)


def new_chat() -> None:
    """Leave the current conversation; the sidebar's settings stay for the new one."""
    st.query_params.pop("c", None)


def _rename(db: Database, conversation_id: int) -> None:
    title = st.session_state.get(f"title_{conversation_id}", "").strip()
    if title:
        chat.update_conversation(db, conversation_id, title=title)


def _delete(db: Database, conversation: Conversation) -> None:
    chat.delete_conversation(db, conversation.id)
    new_chat()
    st.toast(md("Deleted “{}”.", conversation.title), icon=":material/delete:")


def conversation_sidebar(settings: Settings, current: Conversation | None) -> None:
    """New chat, the recent conversations as a list (the open one marked; searchable), and
    rename / export / delete for the open one, in the sidebar."""
    db = settings.db
    sidebar = st.sidebar
    sidebar.button("New chat", icon=":material/add:", width="stretch", key="new_chat",
                   on_click=new_chat)
    owner = user_id()
    total = chat.count_conversations(db, owner=owner)
    if not total:
        sidebar.caption("No saved conversations yet.")
        return
    query = sidebar.text_input("Search conversations", key="conv_search", type="search",
                               live="400ms", icon=":material/search:",
                               placeholder="Title or words said…") or ""
    convs = (chat.search_conversations(db, query.strip(), owner=owner) if query.strip()
             else chat.list_conversations(db, owner=owner))
    if query.strip():
        sidebar.caption(md("{} of {} conversations match.", len(convs), total))
    conversation_list(convs, current)
    if current is None:
        return
    # Drawn only while open: its seven controls were redrawn on every rerun of the page.
    menu = sidebar.popover("Rename, export or delete", icon=":material/more_horiz:",
                           width="stretch", key=MENU, on_change="rerun")
    if not menu.open:
        return
    with menu:
        st.text_input("Title", value=current.title, key=f"title_{current.id}")
        st.button("Rename", key="rename", on_click=_rename, args=(db, current.id))
        slug = "".join(ch if ch.isalnum() else "-" for ch in current.title.lower())[:40]
        st.download_button("Export Markdown", lambda: chat.export_markdown(db, current.id),
                           file_name=f"{slug}.md", mime="text/markdown", key="export_md",
                           on_click="ignore")
        st.download_button("Export JSON", lambda: chat.export_json(db, current.id),
                           file_name=f"{slug}.json", mime="application/json",
                           key="export_json", on_click="ignore")
        st.divider()
        sure = st.checkbox("Yes, delete this conversation and its messages",
                           key=f"delete_sure_{current.id}")
        st.button("Delete conversation", type="primary", key="delete_conv",
                  icon=":material/delete:", disabled=not sure, on_click=_delete,
                  args=(db, current), help="Tick the box first: a deleted conversation "
                  "cannot be brought back (its calls stay on the Costs page)")


def conversation_list(convs: list[Conversation], current: Conversation | None) -> None:
    """The recent conversations, newest first, each a click away; the open one is marked."""
    box = st.sidebar.container(key="conv_list", gap=None)
    every = st.session_state.get("conv_all", False)
    for c in convs if every else convs[:RECENT]:
        here = current is not None and c.id == current.id
        box.button(plain(c.title), key=f"conv_open_{c.id}", width="stretch",
                   type="secondary" if here else "tertiary",
                   icon=":material/chat_bubble:" if here else None,
                   on_click=open_conversation, args=(c.id,))
    if len(convs) > RECENT and not every:
        box.button(md("Show all {}", len(convs)), key="conv_more", type="tertiary",
                   icon=":material/expand_more:",
                   on_click=lambda: st.session_state.update(conv_all=True))
