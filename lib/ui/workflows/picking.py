"""Which workflow and version the page shows: read from the URL (`?name=code-review&v=2`, a
bookmark), picked in the sidebar (which writes the URL back), and a new workflow made from a
starter file."""

from __future__ import annotations

import streamlit as st

from lib.core import PromptLabError, Settings
from lib.ui.kit import app
from lib.ui.kit.text import md
from lib.ui.kit.widgets import show_error
from lib.workflows import WorkflowInfo, WorkflowStore

PICK, VERSION = "wf_pick", "wf_version"
STARTER = '''description = "Summarise a text, then make a title for the summary."

[inputs]
text = { type = "str", description = "The text to summarise." }

[[steps]]
id = "summary"
kind = "prompt"
prompt = "summarizer"
ref = "production"
inputs = { text = "inputs.text", max_words = 40 }

[[steps]]
id = "title"
kind = "template"
template = "Summary: {{ summary }}"
inputs = { summary = "summary.output" }
'''


def _follow_url(names: list[str]) -> None:
    """The URL wins over the sidebar when they differ as a run begins: the sidebar writes the
    URL in its callbacks, so a difference means a link or a bookmark was opened."""
    link = app.deep_link("name", app.RUN_ID)
    if link.odd or (link.value is not None and link.value not in names):
        app.link_not_found("workflow", link)
        for key in ("name", "v"):
            st.query_params.pop(key, None)
    elif link.value is not None and st.session_state.get(PICK) != link.value:
        st.session_state[PICK] = link.value
        st.session_state.pop(VERSION, None)


def _picked() -> None:
    st.query_params["name"] = st.session_state[PICK]
    for key in ("v", "run"):
        st.query_params.pop(key, None)
    st.session_state.pop(VERSION, None)


def _versioned() -> None:
    st.query_params["v"] = str(st.session_state[VERSION])


def workflow(names: list[str]) -> str:
    """The workflow picked (the URL's, else the one picked last, else the first)."""
    _follow_url(names)
    if st.session_state.get(PICK) not in names:
        st.session_state[PICK] = names[0]
    name = st.sidebar.selectbox("Workflow", names, key=PICK, on_change=_picked)
    st.query_params["name"] = name
    return name


def version(info: WorkflowInfo) -> int:
    """The version shown: the URL's `v` (a number or a label), else production's, else the
    newest."""
    nums = [v.version for v in reversed(info.versions)]
    raw = st.query_params.get("v")
    wanted = None
    if raw:
        try:
            wanted = info.resolve(raw)
        except PromptLabError:
            st.warning(md("{} has no version {}: showing another.", info.name, raw),
                       icon=":material/link_off:")
    if wanted is not None:
        st.session_state[VERSION] = wanted
    elif st.session_state.get(VERSION) not in nums:
        st.session_state[VERSION] = info.labels.get("production", info.latest)
    chosen = st.sidebar.selectbox(
        "Version", nums, key=VERSION, on_change=_versioned,
        format_func=lambda v: f"v{v}" + (f" · {', '.join(info.labels_of(v))}"
                                         if info.labels_of(v) else ""))
    st.query_params["v"] = str(chosen)
    return int(chosen)


def new_workflow(store: WorkflowStore, names: list[str], settings: Settings) -> None:
    """A new workflow from a starter file; checked as a save is."""
    st.subheader("New workflow")
    if not names:
        st.info(md("No workflows yet in {}: write your first one here (or copy a folder "
                   "from the repository's workflows/).", str(settings.workflows_dir)),
                icon=":material/account_tree:")
    name = st.text_input("Name", placeholder="summarise-and-title", key="wf_new_name",
                         help="2-63 lowercase letters, digits, - or _.")
    description = st.text_input("Description", key="wf_new_desc")
    source = st.text_area("Workflow file (TOML)", value=STARTER, height=360, key="wf_new_source")
    c1, c2 = st.columns([1, 5])
    if c1.button("Create", type="primary", key="wf_create"):
        try:
            store.create(name.strip(), source, description=description, note="First version",
                         author=app.user() or "")
            st.session_state["wf_new"] = False
            st.query_params["name"] = name.strip()
            st.query_params.pop("v", None)
            st.rerun()
        except PromptLabError as exc:
            show_error(exc)
    if names and c2.button("Cancel", key="wf_cancel_new"):
        st.session_state["wf_new"] = False
        st.rerun()
