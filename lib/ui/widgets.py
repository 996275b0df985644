"""Widgets shared by pages: the model picker, error display, and inert Markdown."""

from __future__ import annotations

import streamlit as st

from lib.core import PromptLabError
from lib.llm import ModelStatus, provider_label
from lib.ui.app import statuses
from lib.ui.text import md, plain


def model_label(status: ModelStatus) -> str:
    """An option of the model select box (options are shown as plain text)."""
    m = status.model
    mark = "" if status.available else "  (unavailable)"
    return f"{provider_label(m.provider)} · {m.label}{mark}"


def model_picker(key: str, *, label: str = "Model", default: str | None = None) -> ModelStatus:
    """A model select box grouped by provider; unavailable models say how to enable them."""
    by_key = {s.model.key: s for s in sorted(statuses(),
                                             key=lambda s: (not s.available, s.model.provider))}
    keys = list(by_key)
    if st.session_state.get(key) not in (None, *keys):
        del st.session_state[key]  # a model that left the catalog
    index = keys.index(default) if default in keys else 0
    choice = by_key[st.selectbox(plain(label), keys, index=index, key=key,
                                 format_func=lambda k: model_label(by_key[k]))]
    if not choice.available:
        st.warning(md("{} is unavailable. {}", choice.model.label, choice.reason))
    return choice


def show_error(error: PromptLabError) -> None:
    """An error of ours in plain words (its text may quote a file name, a provider's reply)."""
    st.error(plain(error), icon=":material/error:")
