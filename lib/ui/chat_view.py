"""Chat page rendering: conversation sidebar, history, metrics, context bar, and streaming."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import streamlit as st

from lib import conversations
from lib.chat import ChatTurn, ContextPlan, TurnOptions, provider_count
from lib.conversations import Conversation, StoredMessage
from lib.errors import PromptLabError, ProviderError
from lib.ledger import format_usd
from lib.providers.base import Error, Event, Message, TextDelta
from lib.settings import Settings
from lib.ui.common import inert_markdown

CURSOR = "▌"
NOTICE = "chat_notice"
NEW_CONVERSATION = "chat_new_conversation"


def current_conversation(settings: Settings) -> Conversation | None:
    """The conversation in the URL (?c=ID), so a reload lands on the same chat."""
    raw = st.query_params.get("c")
    if raw is None or not raw.isdigit():
        return None
    try:
        return conversations.get(settings.db_path, int(raw))
    except PromptLabError:
        del st.query_params["c"]
        return None


MODEL_KEY = "chat_model"


def open_conversation(conversation_id: int | None, model: str = "") -> None:
    """Point the URL at a conversation; the model picker follows the conversation's model."""
    if conversation_id is None:
        st.query_params.pop("c", None)
    else:
        st.query_params["c"] = str(conversation_id)
    if model:
        st.session_state[MODEL_KEY] = model


def conversation_sidebar(settings: Settings, current: Conversation | None) -> None:
    """New / resume / rename / delete / export, in the sidebar."""
    path = settings.db_path
    sidebar = st.sidebar
    if sidebar.button("New chat", icon=":material/add:", width="stretch"):
        open_conversation(None)
        st.rerun()
    convs = conversations.list_all(path)
    if not convs:
        sidebar.caption("No saved conversations yet.")
        return
    ids = [c.id for c in convs]
    titles = {c.id: f"{c.title}  ·  {c.updated_at[:16].replace('T', ' ')}" for c in convs}
    chosen = sidebar.selectbox(
        "Conversations", ids, index=ids.index(current.id) if current else None,
        format_func=titles.__getitem__, placeholder="Resume a conversation…", key="conv_pick")
    if chosen is not None and (current is None or chosen != current.id):
        open_conversation(chosen, next(c.model for c in convs if c.id == chosen))
        st.rerun()
    if current is None:
        return
    with sidebar.popover("Rename, export or delete", icon=":material/more_horiz:",
                         width="stretch"):
        title = st.text_input("Title", value=current.title, key=f"title_{current.id}")
        if st.button("Rename", key="rename") and title.strip():
            conversations.update(path, current.id, title=title.strip())
            st.rerun()
        slug = "".join(ch if ch.isalnum() else "-" for ch in current.title.lower())[:40]
        st.download_button("Export Markdown", conversations.export_markdown(path, current.id),
                           file_name=f"{slug}.md", mime="text/markdown", key="export_md",
                           on_click="ignore")
        st.download_button("Export JSON", conversations.export_json(path, current.id),
                           file_name=f"{slug}.json", mime="application/json",
                           key="export_json", on_click="ignore")
        if st.button("Delete conversation", type="primary", key="delete_conv"):
            conversations.delete(path, current.id)
            open_conversation(None)
            st.rerun()


def metrics_line(meta: dict) -> str:
    parts = [meta.get("label") or meta.get("model", "")]
    est = " (estimated)" if meta.get("estimated") else ""
    parts.append(f"{meta.get('input_tokens', 0):,} in / {meta.get('output_tokens', 0):,} out"
                 f"{est}")
    parts.append(format_usd(int(meta.get("cost_micro", 0))))
    if meta.get("ttft_ms") is not None:
        parts.append(f"first token {meta['ttft_ms']:,.0f} ms")
    if meta.get("total_ms") is not None:
        parts.append(f"total {meta['total_ms'] / 1000:,.2f} s")
    return " · ".join(p for p in parts if p)


def render_message(message: StoredMessage) -> None:
    with st.chat_message(message.role):
        st.markdown(inert_markdown(message.content))
        if message.role == "assistant":
            render_reply_footer(message.status, message.meta, message.content)


def cited(text: str) -> set[int]:
    """The source numbers a reply cites as [1], [2], [1, 3] ..."""
    return {int(n) for group in re.findall(r"\[(\d+(?:\s*,\s*\d+)*)\]", text)
            for n in re.split(r"\s*,\s*", group)}


def render_sources(sources: list[dict], body: str) -> None:
    """Each retrieved chunk under the reply, expandable to its text, file and page."""
    used = cited(body)
    st.caption(f":material/library_books: {len(sources)} sources retrieved"
               + (f", {len(used & {s['n'] for s in sources})} cited" if used else ""))
    for src in sources:
        where = src["source"] + (f", page {src['page']}" if src.get("page") else "") + (
            f" — {src['heading']}" if src.get("heading") else "")
        mark = " · cited" if src["n"] in used else ""
        with st.expander(f"[{src['n']}] {where}{mark}"):
            st.markdown(inert_markdown(src["text"]))
            st.caption(f"chunk {src['chunk_id']}")


def render_reply_footer(status: str, meta: dict, body: str = "") -> None:
    if status == "cancelled":
        st.caption(":material/stop_circle: Stopped by you; the partial reply is kept.")
    elif status == "incomplete":
        st.caption(f":material/warning: The stream broke off; the partial reply is kept. "
                   f"{meta.get('error') or ''}")
    if meta.get("sources"):
        render_sources(meta["sources"], body)
    if meta.get("anatomy"):
        with st.expander("Context anatomy", icon=":material/stacked_bar_chart:"):
            st.html(anatomy_html(meta["anatomy"]))
    if meta.get("dropped"):
        n = meta["dropped"]
        st.caption(f":material/content_cut: To fit the context window, the oldest {n} "
                   f"message{'s' if n != 1 else ''} (#1–#{n}) were left out of this call.")
    st.caption(metrics_line(meta))


_PARTS = {"system": "#94a3b8", "documents": "#86efac", "history": "#c4b5fd",
          "new message": "#fdba74", "reserved output": "#e2e8f0"}


def anatomy_html(anatomy: dict) -> str:
    """One call's context as a stacked bar against the model's window."""
    window = anatomy["window"] or 1
    segments, legend = [], []
    for part, colour in _PARTS.items():
        tokens = anatomy.get(part, 0)
        if not tokens:
            continue
        width = 100 * tokens / window
        segments.append(f'<div title="{part}: {tokens:,} tokens" style="width:{width:.2f}%;'
                        f'background:{colour}"></div>')
        legend.append(f'<span><i style="background:{colour}"></i>{part} {tokens:,}</span>')
    used = sum(anatomy.get(p, 0) for p in _PARTS)
    return ('<style>.pl-bar{display:flex;height:18px;border:1px solid #cbd5e1;border-radius:4px;'
            "overflow:hidden}.pl-legend{font-size:.8rem;color:#475569;margin-top:4px}"
            ".pl-legend span{margin-right:12px}.pl-legend i{display:inline-block;width:10px;"
            "height:10px;margin-right:4px;border-radius:2px}</style>"
            f'<div class="pl-bar">{"".join(segments)}</div><div class="pl-legend">'
            f'{"".join(legend)}<span>of a {window:,}-token window '
            f"({used / window:.0%})</span></div>")


def render_history(history: list[StoredMessage], leaving: int = 0) -> None:
    """The conversation; the `leaving` oldest messages will not fit into the next call."""
    for i, message in enumerate(history):
        render_message(message)
        if i < leaving:
            st.caption(":material/content_cut: This message will be left out of the next call "
                       "to fit the context window.")


def context_bar(plan: ContextPlan, expected_documents: int = 0) -> None:
    """How full the model's window is: system, documents, history, reserved output.

    Before a grounded turn its documents are unknown; the last turn's share stands in.
    """
    kind = "" if plan.exact else " (estimated)"
    used = plan.used + expected_documents
    fraction = min(1.0, used / plan.window)
    docs = f"documents ~{expected_documents:,} (as last turn), " if expected_documents else ""
    st.progress(fraction, text=(
        f"Context{kind}: {used:,} of {plan.window:,} tokens ({fraction:.0%}) — {docs}"
        f"system {plan.system_tokens:,}, "
        + (f"documents {plan.documents_tokens:,}, " if plan.documents_tokens else "")
        + f"history {plan.history_tokens:,}, "
        f"next message ~{plan.new_tokens:,}, reserved for the reply {plan.reserved_output:,}"
        + (f"; {plan.dropped} oldest messages would be left out" if plan.dropped else "")))


def exact_count(settings: Settings, model, plan: ContextPlan, history: list[Message],
                system: str) -> None:
    """For estimated counts, the provider's exact figure, fetched only when asked for."""
    if plan.exact or model.provider != "anthropic" or not history:
        return
    if st.button("Ask Anthropic for the exact count", key="exact_count",
                 icon=":material/calculate:"):
        try:
            exact = provider_count(settings, model, history, system)
        except PromptLabError as exc:
            st.error(str(exc))
        else:
            st.caption(f"Anthropic counts {exact:,} input tokens for this conversation so far "
                       f"(estimated {plan.input_tokens:,}).")


def show_notice() -> None:
    """An error left by the previous run (the page reruns after every turn)."""
    if (notice := st.session_state.pop(NOTICE, None)) is not None:
        st.error(notice, icon=":material/error:")


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
                    slot.markdown(inert_markdown(text) + CURSOR)
                    last = now
            elif isinstance(event, Error):
                error = event.error
    finally:
        close = getattr(gen, "close", None)
        if close:
            close()
    slot.markdown(inert_markdown(text))
    return text, error


def run_turn(turn: ChatTurn) -> None:
    """Stream one turn under a Stop button, then rerun so the saved history is redrawn."""
    with st.chat_message("user"):
        st.markdown(turn.user_text)
    with st.chat_message("assistant"):
        stop = st.empty()
        stop.button("Stop", icon=":material/stop_circle:", key="stop_stream")
        body = st.empty()
        body.markdown(CURSOR)
        try:
            _, error = stream_into(turn, body)
        except PromptLabError:
            # Refused before anything was stored (a budget): drop a chat this turn created.
            if st.session_state.pop(NEW_CONVERSATION, None) == turn.conversation_id and not \
                    conversations.messages(turn.settings.db_path, turn.conversation_id):
                conversations.delete(turn.settings.db_path, turn.conversation_id)
                open_conversation(None)
            raise
        stop.empty()
    if error is not None:
        st.session_state[NOTICE] = str(error)
    st.rerun()


def new_turn(settings: Settings, conversation: Conversation | None, model, text: str,
             options: TurnOptions) -> ChatTurn:
    """Plan a turn (may raise ContextOverflowError before anything is stored)."""
    if conversation is None:
        conv_id = conversations.create(settings.db_path, model=model.key, system=options.system)
        try:
            turn = ChatTurn(settings, conv_id, model, text, options)
        except PromptLabError:
            conversations.delete(settings.db_path, conv_id)  # leave nothing half-made behind
            raise
        open_conversation(conv_id)
        st.session_state[NEW_CONVERSATION] = conv_id
        return turn
    return ChatTurn(settings, conversation.id, model, text, options)
