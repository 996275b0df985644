"""A prompt's versions on the Prompts page: open one, its versions with their newest eval
results and where its labels point (a label moved here rolls back or forward), and two versions
side by side."""

from __future__ import annotations

import html

import streamlit as st

from lib.core import PromptLabError
from lib.prompts import Prompt, PromptStore
from lib.ui.kit.widgets import show_error
from lib.ui.prompts import labels


def load(store: PromptStore, name: str) -> Prompt | None:
    """The prompt, or None with the reason shown."""
    try:
        return store.get(name)
    except PromptLabError as exc:
        show_error(exc)
        return None


def versions_tab(store: PromptStore, prompt: Prompt, user: str | None) -> None:
    """Every version with its labels and newest eval result, and a label pointed at any
    version (lib.ui.prompts.labels: a guarded label asks for a passing eval)."""
    results = labels.eval_columns(prompt)
    st.dataframe([{"version": v.version, "labels": ", ".join(prompt.labels_of(v.version)),
                   **results[v.version], "note": v.note, "author": v.author,
                   "saved": v.created_at[:19]}
                  for v in reversed(prompt.versions)], hide_index=True,
                 width="stretch", column_config=labels.EVAL_COLUMNS)
    labels.move_label(store, prompt, user)


def diff_tab(store: PromptStore, prompt: Prompt) -> None:
    """Two versions side by side (the newest two to begin with)."""
    if len(prompt.versions) < 2:
        st.info("Save a second version to compare two.")
        return
    nums = [v.version for v in reversed(prompt.versions)]
    d1, d2 = st.columns(2)
    left = d1.selectbox("Left", nums, index=1, key="diff_left", format_func=lambda v: f"v{v}")
    right = d2.selectbox("Right", nums, index=0, key="diff_right",
                         format_func=lambda v: f"v{v}")
    st.html(diff_html(store.diff(prompt.name, left, right), f"v{left}", f"v{right}"))


_DIFF_COLOURS = {"=": "transparent", "-": "#fde2e1", "+": "#dcfce7", "~": "#fef3c7"}


def diff_html(rows: list[tuple[str, str, str]], left: str, right: str) -> str:
    """A side-by-side diff table; every line is escaped."""
    cells = []
    for kind, a, b in rows:
        colour = _DIFF_COLOURS[kind]
        ink = "" if kind == "=" else ";color:#111"  # pastel rows stay readable in dark mode
        cells.append(f'<tr style="background:{colour}{ink}"><td class="k">{html.escape(kind)}</td>'
                     f"<td><pre>{html.escape(a)}</pre></td><td><pre>{html.escape(b)}</pre></td>"
                     "</tr>")
    return ('<style>.pl-diff{width:100%;border-collapse:collapse;font-size:0.85rem}'
            ".pl-diff td{vertical-align:top;padding:0 .4rem;"
            "border-bottom:1px solid rgba(128,128,128,.25)}"
            ".pl-diff pre{margin:0;white-space:pre-wrap;font-family:monospace}"
            ".pl-diff .k{width:1.2rem;color:#888}</style>"
            f'<table class="pl-diff"><tr><th></th><th>{html.escape(left)}</th>'
            f"<th>{html.escape(right)}</th></tr>{''.join(cells)}</table>")
