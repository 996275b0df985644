import streamlit as st

from lib.core import PromptLabError
from lib.llm import counter_for
from lib.ui.kit import app, widgets
from lib.ui.kit import stored_prompts as pv
from lib.ui.kit.text import md, plain
from lib.ui.prompts import run as run_view
from lib.ui.prompts import variables as view

NEW_TEMPLATE = "Write release notes for:\n{{ changes | untrusted }}"

st.title("Prompts")
prompts = pv.store()
user = app.user()  # signed in: the author of what they save
names = prompts.names()

# What the last run asked for, applied before the widgets it concerns are drawn.
if created := st.session_state.pop("prompt_created", None):
    st.session_state["prompt_pick"] = created
    st.session_state["prompt_new"] = False
if saved := st.session_state.pop("prompt_saved", None):
    saved_name, saved_version = saved
    st.session_state["preview_ref"] = f"v{saved_version}"  # preview and edit show the new one
    st.session_state["edit_base"] = saved_version
    st.session_state["edit_note"] = ""
    view.reset_variables_editor(f"edit_vars_{saved_name}")
    st.session_state["saved_notice"] = f"Saved {saved_name} v{saved_version}."

if st.sidebar.button("New prompt", icon=":material/add:", width="stretch", key="new_prompt"):
    st.session_state["prompt_new"] = True

if st.session_state.get("prompt_new") or not names:
    st.subheader("New prompt")
    if not names:
        st.info("No prompts yet: this is your first.")
    new_name = st.text_input("Name", placeholder="release-notes", key="new_name",
                             help="2-63 lowercase letters, digits, - or _.")
    new_desc = st.text_input("Description", key="new_desc")
    new_source = st.text_area("Template (Jinja)", key="new_source", height=150,
                              value=NEW_TEMPLATE,
                              help="{{ name }} reads a variable; | untrusted fences text from "
                                   "outside so the model can tell it from instructions.")
    st.markdown("**Variables**")
    try:
        new_vars = view.variables_editor((), key="new_vars", source=new_source)
    except PromptLabError as exc:
        widgets.show_error(exc)
        new_vars = None
    new_model, new_temperature, new_max_tokens = view.defaults_form("", 0.7, 512, key="new")
    new_task = view.task_select("", key="new_task")
    c1, c2 = st.columns([1, 5])
    if c1.button("Create", type="primary", key="create_prompt", disabled=new_vars is None):
        try:
            prompts.create(new_name.strip(), new_source, description=new_desc,
                           variables=new_vars or (), note="First version", task=new_task,
                           author=user or "", model=new_model, temperature=new_temperature,
                           max_tokens=new_max_tokens)
            st.session_state["prompt_created"] = new_name.strip()
            view.reset_variables_editor("new_vars")
            st.rerun()
        except PromptLabError as exc:
            widgets.show_error(exc)
    if names and c2.button("Cancel", key="cancel_new_prompt"):
        st.session_state["prompt_new"] = False
        st.rerun()
    st.stop()

name = st.sidebar.selectbox("Prompt", names, key="prompt_pick")
try:
    prompt = prompts.get(name)
except PromptLabError as exc:
    widgets.show_error(exc)
    st.stop()
st.caption(md("{}{}", prompt.description, f" · owner: {prompt.versions[0].author}"
              if user is not None and prompt.versions[0].author else ""))
if notice := st.session_state.pop("saved_notice", None):
    st.success(plain(notice))

versions_tab, preview_tab, edit_tab, diff_tab = st.tabs(
    ["Versions", "Preview and run", "Edit", "Diff"])

with versions_tab:
    st.dataframe([{"version": v.version, "labels": ", ".join(prompt.labels_of(v.version)),
                   "note": v.note, "author": v.author, "saved": v.created_at[:19]}
                  for v in reversed(prompt.versions)], hide_index=True,
                 width="stretch")
    st.markdown("**Move a label** — point it at any version; pointing `production` at an older "
                "version rolls back.")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    label = c1.text_input("Label", value="production", key="label_name")
    target = c2.selectbox("Version", [v.version for v in reversed(prompt.versions)],
                          key="label_version", format_func=lambda v: f"v{v}")
    if c3.button("Point label", key="set_label"):
        try:
            prompts.set_label(name, label.strip(), target)
            st.toast(md("{} → v{}", label, target))
            st.rerun()
        except PromptLabError as exc:
            widgets.show_error(exc)

with preview_tab:
    refs = pv.ref_options(prompt)
    ref = st.selectbox("Version or label", refs, key="preview_ref",
                       help=pv.REF_HELP, format_func=lambda r: pv.ref_label(prompt, r))
    values = pv.variable_form(prompt.variables, key=f"pv_{name}")
    status = widgets.model_picker("preview_model", label="Model", default=prompt.model)
    model = status.model
    try:
        version, text = prompts.render(name, ref, values)
        counter = counter_for(model, app.settings())
        kind = "" if counter.exact else " (estimated)"
        st.markdown(md("**v{}** renders to **{:,} tokens**{} for {} — {}, {:,} characters.",
                       version, counter.count(text), kind, model.label, counter.name,
                       len(text)))
        st.code(text, language=None, wrap_lines=True)
        rendered = True
    except PromptLabError as exc:
        widgets.show_error(exc)
        rendered = False
    try:
        run_view.run_panel(prompt, ref, values, status, user, ready=rendered)
    except PromptLabError as exc:
        widgets.show_error(exc)

with edit_tab:
    base = st.selectbox("Start from", [v.version for v in reversed(prompt.versions)],
                        key="edit_base", format_func=lambda v: f"v{v}")
    source = st.text_area("Template", value=prompts.source(name, base), height=260,
                          key=f"edit_source_{name}_{base}")
    st.markdown("**Variables**")
    try:
        variables = view.variables_editor(prompt.variables, key=f"edit_vars_{name}",
                                          source=source)
    except PromptLabError as exc:
        widgets.show_error(exc)
        variables = None
    base_schema = next(v.output_schema for v in prompt.versions if v.version == base)
    schema = st.text_area("Output schema (JSON Schema, optional)", value=base_schema,
                          key=f"edit_schema_{name}_{base}", height=90,
                          placeholder="None: replies are free text",
                          help="Replies to this version must be JSON matching it (Chat and "
                               "Compare enforce and validate it). Kept with the version.")
    model_key, temperature, max_tokens = view.defaults_form(
        prompt.model, prompt.temperature, prompt.max_tokens, key=f"edit_{name}")
    task = view.task_select(prompt.task, key=f"edit_task_{name}")
    note = st.text_input("What changed", key="edit_note")
    author = user or st.text_input("Author", key="edit_author")
    if st.button("Save as new version", type="primary", key="save_version",
                 disabled=variables is None):
        try:
            saved = prompts.save_version(name, source, note=note, author=author,
                                         variables=variables, output_schema=schema,
                                         task=task, model=model_key, temperature=temperature,
                                         max_tokens=max_tokens)
            st.session_state["prompt_saved"] = (name, saved)
            st.rerun()
        except PromptLabError as exc:
            widgets.show_error(exc)

with diff_tab:
    if len(prompt.versions) < 2:
        st.info("Save a second version to compare two.")
    else:
        nums = [v.version for v in reversed(prompt.versions)]
        d1, d2 = st.columns(2)
        left = d1.selectbox("Left", nums, index=1, key="diff_left", format_func=lambda v: f"v{v}")
        right = d2.selectbox("Right", nums, index=0, key="diff_right",
                             format_func=lambda v: f"v{v}")
        st.html(view.diff_html(prompts.diff(name, left, right), f"v{left}", f"v{right}"))
