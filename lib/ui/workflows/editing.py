"""Editing a workflow as text on the Workflows page: Check says what is wrong and on which
line (nothing written); Save makes the next version with a note (nothing overwritten)."""

from __future__ import annotations

import streamlit as st

from lib.core import PromptLabError, WorkflowError
from lib.ui.kit.text import md, plain
from lib.ui.kit.widgets import show_error
from lib.workflows import Resolved, WorkflowInfo, WorkflowStore

SAVED = "wf_saved"   # session: (name, version) the last save made, shown once


def apply_last_save() -> None:
    """After a save: the new version shown (before the sidebar's picker is drawn)."""
    if saved := st.session_state.pop(SAVED, None):
        name, version = saved
        st.query_params["name"], st.query_params["v"] = name, str(version)
        st.session_state["wf_saved_notice"] = f"Saved {name} v{version}."
        st.session_state[f"wf_note_{name}"] = ""


def edit_tab(store: WorkflowStore, info: WorkflowInfo, version: int, user: str | None) -> None:
    name = info.name
    st.caption(md("Starting from v{}. Saving makes v{}; no version is ever overwritten.",
                  version, info.latest + 1))
    source = st.text_area("Workflow file (TOML)", value=store.source(name, version),
                          height=420, key=f"wf_edit_{name}_{version}")
    note = st.text_input("What changed", key=f"wf_note_{name}")
    author = user or st.text_input("Author", key="wf_author")
    c1, c2 = st.columns([1, 4])
    if c1.button("Check", icon=":material/rule:", key="wf_check"):
        checked = _check(store, name, source)
        if checked is not None:
            graph = checked.graph
            st.success(md("Valid: {} steps in {} levels; outputs {}.", len(graph.scheduled),
                          len(graph.levels), ", ".join(graph.outputs)),
                       icon=":material/check_circle:")
    if c2.button("Save as new version", type="primary", key="wf_save"):
        try:
            saved = store.save_version(name, source, note=note, author=author or "")
        except PromptLabError as exc:
            _show(exc, source)
            return
        st.session_state[SAVED] = (name, saved)
        st.rerun()


def _check(store: WorkflowStore, name: str, source: str) -> Resolved | None:
    try:
        return store.check(name, source)
    except PromptLabError as exc:
        _show(exc, source)
        return None


def _show(exc: PromptLabError, source: str) -> None:
    """The error, and for a fault in the file its line quoted from the text."""
    show_error(exc)
    lines = source.splitlines()
    if isinstance(exc, WorkflowError) and exc.line is not None and 0 < exc.line <= len(lines):
        st.code(f"{exc.line:>4} | {lines[exc.line - 1]}", language=None)


def notice() -> None:
    if text := st.session_state.pop("wf_saved_notice", None):
        st.success(plain(text))
