"""Writing prompts on the Prompts page: a new prompt, a new version of one (template,
variables, output schema, defaults, task), and what a save asks of the next run."""

from __future__ import annotations

import streamlit as st

from lib.core import PromptLabError
from lib.llm import TASK_LABELS, TASKS
from lib.prompts import MAX_TOKENS_LIMIT, TEMPERATURE_RANGE, Prompt, PromptStore
from lib.ui.kit.text import md
from lib.ui.kit.widgets import model_picker, show_error
from lib.ui.prompts.variables import reset_variables_editor, variables_editor

NEW_TEMPLATE = "Write release notes for:\n{{ changes | untrusted }}"


def apply_last_save() -> None:
    """What the last run's create or save asked for, applied before the widgets it concerns
    are drawn: the new prompt picked, or the new version previewed and edited."""
    if created := st.session_state.pop("prompt_created", None):
        st.session_state["prompt_pick"] = created
        st.session_state["prompt_new"] = False
    if saved := st.session_state.pop("prompt_saved", None):
        saved_name, saved_version = saved
        st.session_state["preview_ref"] = f"v{saved_version}"  # preview and edit show the new one
        st.session_state["edit_base"] = saved_version
        st.session_state["edit_note"] = ""
        reset_variables_editor(f"edit_vars_{saved_name}")
        st.session_state["saved_notice"] = f"Saved {saved_name} v{saved_version}."


def new_prompt(store: PromptStore, names: list[str], user: str | None) -> None:
    """The form for a new prompt: name, description, template, variables, defaults, task."""
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
        new_vars = variables_editor((), key="new_vars", source=new_source)
    except PromptLabError as exc:
        show_error(exc)
        new_vars = None
    new_model, new_temperature, new_max_tokens = defaults_form("", 0.7, 512, key="new")
    new_task = task_select("", key="new_task")
    c1, c2 = st.columns([1, 5])
    if c1.button("Create", type="primary", key="create_prompt", disabled=new_vars is None):
        try:
            store.create(new_name.strip(), new_source, description=new_desc,
                           variables=new_vars or (), note="First version", task=new_task,
                           author=user or "", model=new_model, temperature=new_temperature,
                           max_tokens=new_max_tokens)
            st.session_state["prompt_created"] = new_name.strip()
            reset_variables_editor("new_vars")
            st.rerun()
        except PromptLabError as exc:
            show_error(exc)
    if names and c2.button("Cancel", key="cancel_new_prompt"):
        st.session_state["prompt_new"] = False
        st.rerun()


def edit_tab(store: PromptStore, prompt: Prompt, user: str | None) -> None:
    """A new version from any version: its template, variables, output schema, defaults and
    task, with a note on what changed."""
    name = prompt.name
    base = st.selectbox("Start from", [v.version for v in reversed(prompt.versions)],
                        key="edit_base", format_func=lambda v: f"v{v}")
    source = st.text_area("Template", value=store.source(name, base), height=260,
                          key=f"edit_source_{name}_{base}")
    st.markdown("**Variables**")
    try:
        variables = variables_editor(prompt.variables, key=f"edit_vars_{name}", source=source)
    except PromptLabError as exc:
        show_error(exc)
        variables = None
    base_schema = next(v.output_schema for v in prompt.versions if v.version == base)
    schema = st.text_area("Output schema (JSON Schema, optional)", value=base_schema,
                          key=f"edit_schema_{name}_{base}", height=90,
                          placeholder="None: replies are free text",
                          help="Replies to this version must be JSON matching it (Chat and "
                               "Compare enforce and validate it). Kept with the version.")
    model_key, temperature, max_tokens = defaults_form(
        prompt.model, prompt.temperature, prompt.max_tokens, key=f"edit_{name}")
    task = task_select(prompt.task, key=f"edit_task_{name}")
    note = st.text_input("What changed", key="edit_note")
    author = user or st.text_input("Author", key="edit_author")
    if st.button("Save as new version", type="primary", key="save_version",
                 disabled=variables is None):
        try:
            saved = store.save_version(name, source, note=note, author=author,
                                         variables=variables, output_schema=schema,
                                         task=task, model=model_key, temperature=temperature,
                                         max_tokens=max_tokens)
            st.session_state["prompt_saved"] = (name, saved)
            st.rerun()
        except PromptLabError as exc:
            show_error(exc)


def defaults_form(model: str, temperature: float, max_tokens: int,
                  key: str) -> tuple[str, float, int]:
    """The prompt's default model, temperature and max tokens: what a run (here, in Compare
    or over the API) uses unless it says otherwise."""
    status = model_picker(f"{key}_model", label="Default model", default=model or None)
    low, high = TEMPERATURE_RANGE
    cap = max(1, min(MAX_TOKENS_LIMIT, status.model.max_output))
    c1, c2 = st.columns(2)
    temp = c1.number_input("Temperature", low, high, min(max(float(temperature), low), high),
                           0.05, key=f"{key}_temperature")
    tokens = c2.number_input("Max tokens", 1, cap, min(max(int(max_tokens), 1), cap), 1,
                             key=f"{key}_max_tokens",
                             help=md("At most {:,} for {}.", cap, status.model.label))
    return status.model.key, float(temp), int(tokens)


def task_select(current: str, key: str) -> str:
    """The prompt's declared task for the Chat page's router; "" for none."""
    options = ["", *TASKS]
    return st.selectbox("Task (for the router)", options, key=key,
                        index=options.index(current) if current in options else 0,
                        format_func=lambda t: f"{t} · {TASK_LABELS[t]}" if t else "None",
                        help="With Router chosen in the Chat page's model picker, a turn whose "
                             "system prompt comes from this prompt goes to this task's model.")
