import streamlit as st

from lib.ui.kit import app
from lib.ui.kit.text import md
from lib.ui.kit.widgets import guarded
from lib.ui.workflows import editing, picking, running, trace, versions
from lib.workflows import WorkflowStore, load_run

st.title("Workflows")
settings = app.settings()
store = WorkflowStore(settings)
user = app.user()
names = store.names()
editing.apply_last_save()
run_link = app.deep_link("run", app.RUN_ID)
if run_link.value and "name" not in st.query_params:  # /workflows?run=<id>: its workflow
    tree = guarded(lambda: load_run(settings.db, run_link.value or ""))
    if tree is not None:
        st.query_params["name"] = tree.run.workflow

if st.sidebar.button("New workflow", icon=":material/add:", width="stretch", key="wf_new_btn"):
    st.session_state["wf_new"] = True
if st.session_state.get("wf_new") or not names:
    picking.new_workflow(store, names, settings)
    st.stop()

name = picking.workflow(names)
info = guarded(lambda: store.get(name))
if info is None:
    st.stop()
version = picking.version(info)
tags = info.labels_of(version)
st.caption(md("{} · v{}{} of {}", info.description, version,
              f" ({', '.join(tags)})" if tags else "", info.latest))
editing.notice()
if run_link.odd:
    app.link_not_found("workflow run", run_link)
resolved = guarded(lambda: store.resolved(name, version))

# A run's link opens its trace; the run started here last stays in the Run tab.
to_trace = bool(run_link.value) and run_link.value != running.last_run(name)
run_tab, trace_tab, edit_tab, versions_tab, diff_tab = st.tabs(
    ["Run", "Trace", "Edit", "Versions", "Diff"], default="Trace" if to_trace else None)
with run_tab:
    if resolved is not None:
        running.run_tab(settings, resolved, user)
    else:
        st.caption("Fix the file in the Edit tab to draw and run it.")
with trace_tab:
    trace.trace_tab(settings, name, run_link.value, user)
with edit_tab:
    editing.edit_tab(store, info, version, user)
with versions_tab:
    versions.versions_tab(store, info)
with diff_tab:
    versions.diff_tab(store, info)
