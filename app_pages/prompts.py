import streamlit as st

from lib.ui.kit import app, stored_prompts
from lib.ui.kit.text import md, plain
from lib.ui.prompts import authoring, run, versions

st.title("Prompts")
store = stored_prompts.store()
user = app.user()  # signed in: the author of what they save
names = store.names()
authoring.apply_last_save()

if st.sidebar.button("New prompt", icon=":material/add:", width="stretch", key="new_prompt"):
    st.session_state["prompt_new"] = True

if st.session_state.get("prompt_new") or not names:
    authoring.new_prompt(store, names, user)
    st.stop()

name = st.sidebar.selectbox("Prompt", names, key="prompt_pick")
prompt = versions.load(store, name)
if prompt is None:
    st.stop()
st.caption(md("{}{}", prompt.description, f" · owner: {prompt.versions[0].author}"
              if user is not None and prompt.versions[0].author else ""))
if notice := st.session_state.pop("saved_notice", None):
    st.success(plain(notice))

versions_tab, preview_tab, edit_tab, diff_tab = st.tabs(
    ["Versions", "Preview and run", "Edit", "Diff"])
with versions_tab:
    versions.versions_tab(store, prompt, user)
with preview_tab:
    run.preview_tab(store, prompt, user)
with edit_tab:
    authoring.edit_tab(store, prompt, user)
with diff_tab:
    versions.diff_tab(store, prompt)
