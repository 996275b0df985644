"""A workflow's versions on the Workflows page: each with its labels, note and author, a label
pointed at any version (rolling back or forward), and two versions side by side."""

from __future__ import annotations

import streamlit as st

from lib.core import PromptLabError
from lib.ui.kit.text import md
from lib.ui.kit.widgets import show_error
from lib.ui.prompts.versions import diff_html
from lib.workflows import WorkflowInfo, WorkflowStore


def versions_tab(store: WorkflowStore, info: WorkflowInfo) -> None:
    st.dataframe([{"version": v.version, "labels": ", ".join(info.labels_of(v.version)),
                   "note": v.note, "author": v.author, "saved": v.created_at[:19]}
                  for v in reversed(info.versions)], hide_index=True, width="stretch")
    st.markdown("**Move a label** — point it at any version; pointing `production` at an older "
                "version rolls back.")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    label = c1.text_input("Label", value="production", key="wf_label_name").strip()
    target = c2.selectbox("Version", [v.version for v in reversed(info.versions)],
                          key="wf_label_version", format_func=lambda v: f"v{v}")
    here = info.labels.get(label) == target
    if here:
        st.caption(md("`{}` already points at v{}.", label, target))
    if c3.button("Point label", key="wf_set_label", disabled=here or not label):
        try:
            store.set_label(info.name, label, target)
            st.toast(md("{} → v{}", label, target))
            st.rerun()
        except PromptLabError as exc:
            show_error(exc)


def diff_tab(store: WorkflowStore, info: WorkflowInfo) -> None:
    """Two versions side by side (the newest two to begin with)."""
    if len(info.versions) < 2:
        st.info("Save a second version to compare two.")
        return
    nums = [v.version for v in reversed(info.versions)]
    d1, d2 = st.columns(2)
    left = d1.selectbox("Left", nums, index=1, key=f"wf_diff_left_{info.name}",
                        format_func=lambda v: f"v{v}")
    right = d2.selectbox("Right", nums, index=0, key=f"wf_diff_right_{info.name}",
                         format_func=lambda v: f"v{v}")
    try:
        st.html(diff_html(store.diff(info.name, left, right), f"v{left}", f"v{right}"))
    except PromptLabError as exc:
        show_error(exc)
