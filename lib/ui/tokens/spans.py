"""The Tokens page's text (pasted, a prompt version rendered, or a conversation) and its
tokens drawn as coloured spans, a page at a time."""

from __future__ import annotations

import streamlit as st

from lib import chat, tokenviz
from lib.core import PromptLabError, Settings
from lib.ui.kit import app, stored_prompts
from lib.ui.kit.text import md
from lib.ui.kit.widgets import show_error


def source_text(settings: Settings) -> str:
    """The text to cut, from where the person chose; "" until there is one (or with the
    reason shown when it cannot be had)."""
    source = st.segmented_control("Text from", ["Paste", "A prompt version", "A conversation"],
                                  default="Paste", key="tok_source") or "Paste"
    text = ""
    try:
        if source == "Paste":
            text = st.text_area("Text", key="tok_text", height=180,
                                placeholder="Paste any text to see how each tokenizer cuts it.")
        elif source == "A prompt version":
            store = stored_prompts.store()
            name = st.selectbox("Prompt", store.names(), key="tok_prompt")
            prompt = store.get(name)
            ref = st.selectbox("Version", stored_prompts.ref_options(prompt), key="tok_ref",
                               help=stored_prompts.REF_HELP,
                               format_func=lambda r: stored_prompts.ref_label(prompt, r))
            with st.expander("Variables"):
                values = stored_prompts.variable_form(prompt.variables, key=f"tok_{name}")
            text = store.render(name, ref, values)[1]
        else:
            convs = chat.list_conversations(settings.db, owner=app.user())
            if not convs:
                st.info("No conversations yet.")
            else:
                conv = st.selectbox("Conversation", convs, key="tok_conv",
                                    format_func=lambda c: c.title)
                text = "\n\n".join(f"{m.role}: {m.content}"
                                   for m in chat.list_messages(settings.db, conv.id))
    except PromptLabError as exc:
        show_error(exc)
    return text


def draw_spans(tokenizer: str, text: str, settings: Settings, *, show_ids: bool) -> bool:
    """The text's tokens as coloured spans, a page at a time, with their count; False (the
    reason shown) when the tokenizer cannot cut it."""
    try:
        pieces = tokenviz.pieces(tokenizer, text, settings)
    except PromptLabError as exc:
        show_error(exc)
        return False
    n = tokenviz.count(pieces)
    st.markdown(md("**{:,} tokens**, {:,} characters ({:.2f} characters per token)", n,
                   len(text), len(text) / n if n else 0))
    pages = max(1, -(-len(pieces) // tokenviz.PAGE_SIZE))
    page = 1
    if pages > 1:
        page = st.number_input(md("Page (of {}; {:,} tokens drawn at a time so long texts stay "
                                  "fast)", pages, tokenviz.PAGE_SIZE), 1, pages, 1,
                               key="tok_page")
    start = (page - 1) * tokenviz.PAGE_SIZE
    st.html(tokenviz.spans_html(pieces, start, start + tokenviz.PAGE_SIZE, show_ids=show_ids))
    if pages > 1:
        st.caption(md("Showing pieces {:,}–{:,} of {:,}.", start + 1,
                      min(len(pieces), start + tokenviz.PAGE_SIZE), len(pieces)))
    return True
