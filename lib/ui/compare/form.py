"""A new comparison on the Compare page: its variants (prompt, version, model, settings, effort,
tools, schema), its input (one, or a dataset), its checks and its title."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lib import compare
from lib.agents import registered_tools
from lib.compare import (
    KINDS,
    LETTERS,
    NEEDS_VALUE,
    AnyVariant,
    Check,
    Dataset,
    Variant,
)
from lib.core import CompareError, PromptLabError, Settings
from lib.llm import ModelInfo
from lib.ui.chat.tools import LABELS
from lib.ui.kit import app, stored_prompts, widgets
from lib.ui.kit.text import md, plain
from lib.workflows import WorkflowStore

KB_TOOLS = ("search_knowledge_base", "read_chunk")  # compare runs have no knowledge base


def variant_editor(index: int, names: list[str], workflows: list[str]) -> Variant:
    if workflows and st.segmented_control(
            "Kind", ["Prompt", "Workflow"], default="Prompt", key=f"cv{index}_kind",
            help="A workflow variant runs a stored workflow on each row (its inputs from the "
                 "row's columns); its reply is the run's output.") == "Workflow":
        return workflow_variant(index, workflows)
    name = st.selectbox("Prompt", names, key=f"cv{index}_prompt",
                        index=names.index("classifier") if "classifier" in names else 0)
    prompt = stored_prompts.store().get(name)
    refs = stored_prompts.ref_options(prompt)
    # Keys carry the prompt's name: picking another prompt starts from its own defaults.
    ref = st.selectbox("Version", refs, key=f"cv{index}_ref_{name}",
                       index=min(index, len(refs) - 1), help=stored_prompts.REF_HELP,
                       format_func=lambda r: stored_prompts.ref_label(prompt, r))
    status = widgets.model_picker(f"cv{index}_model_{name}", default=prompt.model)
    temperature = st.slider("Temperature", 0.0, 2.0, float(prompt.temperature), 0.05,
                            key=f"cv{index}_temp_{name}", disabled=not status.model.temperature,
                            help=plain(status.model.temperature_reason)
                            if status.model.temperature_reason else None)
    max_tokens = st.number_input("Max output tokens", 1, status.model.max_output,
                                 min(prompt.max_tokens, status.model.max_output),
                                 key=f"cv{index}_max_{name}")
    effort = effort_input(index, status.model)
    tools = st.multiselect("Tools", [t for t in registered_tools() if t not in KB_TOOLS],
                           key=f"cv{index}_tools", placeholder="No tools",
                           format_func=lambda t: plain(LABELS[t]),
                           help="With tools, each cell is an agent run (up to 8 steps); a "
                                "dataset column tool_results ({\"tool\": \"result\"}) gives "
                                "canned results per row.")
    declared = prompt.output_schema(prompt.resolve(ref))
    schema = st.text_area(
        "Output schema (JSON Schema)", key=f"cv{index}_schema_{name}", height=68,
        placeholder="The version's own schema" if declared else "None: free text",
        help="The reply must be JSON matching this schema: enforced natively where the "
             "provider can, validated always, repaired once if it fails.")
    if not status.available:
        raise CompareError(f"Variant {LETTERS[index]} uses an unavailable model.",
                             hint=status.reason)
    return Variant(name, ref, status.model.key, temperature, int(max_tokens), tuple(tools),
                   schema.strip(), effort)


def workflow_variant(index: int, workflows: list[str]) -> Variant:
    """A stored workflow at a label or version: its steps bring their own models."""
    name = st.selectbox("Workflow", workflows, key=f"cv{index}_wf")
    info = WorkflowStore(app.settings()).get(name)
    refs = [*sorted(info.labels), *(f"v{v.version}" for v in reversed(info.versions))]
    ref = st.selectbox("Version", refs, key=f"cv{index}_wfref_{name}")
    return Variant(name, ref, "workflow", kind="workflow")


def effort_input(index: int, model: ModelInfo) -> str:
    """A reasoning effort for a model that takes one ("": the model's default)."""
    if not model.efforts:
        return ""
    # Keyed by the model: another model's levels differ, and it starts from its default.
    return st.selectbox("Reasoning effort", ["", *model.efforts], key=f"cv{index}_effort_"
                        f"{model.key}", format_func=lambda e: e or "The model's default",
                        help="How much the model reasons before it answers; reasoning "
                             "tokens are billed as output.")


CHECKS_KEY = "cmp_checks"


def _add_check() -> None:
    kind, value = st.session_state["cmp_check_kind"], st.session_state.get("cmp_check_value", "")
    try:
        check = Check(kind, value if kind in NEEDS_VALUE else "").validate()
    except CompareError as exc:
        st.session_state["cmp_check_error"] = exc.message
        return
    st.session_state.setdefault(CHECKS_KEY, []).append(check)
    st.session_state["cmp_check_value"] = ""
    st.session_state.pop("cmp_check_error", None)


def _remove_check(i: int) -> None:
    st.session_state[CHECKS_KEY].pop(i)


def checks_editor() -> list[Check]:
    """Checks run on every finished cell: pick a kind, give its value, add; remove any."""
    checks: list[Check] = st.session_state.setdefault(CHECKS_KEY, [])
    with st.expander("Automated checks (optional)"):
        for i, check in enumerate(checks):
            left, right = st.columns([6, 1], vertical_alignment="center")
            left.markdown(md(":material/check: output {}", check.label))
            right.button("Remove", key=f"cmp_check_rm_{i}", on_click=_remove_check, args=(i,))
        kind_col, value_col, add_col = st.columns([2, 3, 1], vertical_alignment="bottom")
        kind = kind_col.selectbox("Check that the output", list(KINDS), key="cmp_check_kind",
                                  format_func=KINDS.__getitem__)
        value_col.text_input(plain(NEEDS_VALUE.get(kind, "(no value needed)").capitalize()),
                             key="cmp_check_value", disabled=kind not in NEEDS_VALUE)
        add_col.button("Add check", key="cmp_check_add", on_click=_add_check)
        if error := st.session_state.get("cmp_check_error"):
            st.error(plain(error))
    return list(checks)


def dataset_input(settings: Settings
                  ) -> tuple[list[dict[str, Any]], int | None, Dataset | None]:
    """Rows from an uploaded CSV (saved when the run starts) or a saved dataset."""
    saved = compare.list_datasets(settings.db)
    upload = st.file_uploader("CSV whose columns are the prompt's variables", type=["csv"],
                              key="cmp_csv")
    if upload is not None:
        ds = compare.parse_csv(upload.getvalue(), upload.name)
        st.caption(md("{}: {} rows, columns {}", upload.name, len(ds.rows),
                      ", ".join(ds.columns)))
        st.dataframe(list(ds.rows[:20]), hide_index=True, width="stretch")
        return list(ds.rows), None, ds
    if saved:
        choice = st.selectbox("…or a saved dataset", [d[0] for d in saved], index=None,
                              key="cmp_saved_ds",
                              format_func=lambda i: next(f"{n} ({k} rows)" for d, n, k in saved
                                                         if d == i))
        if choice is not None:
            ds = compare.load_dataset(settings.db, choice)
            st.dataframe(list(ds.rows[:20]), hide_index=True, width="stretch")
            return list(ds.rows), choice, None
    return [], None, None


@dataclass(frozen=True)
class Setup:
    """What the form asks to compare: the variants as chosen and as resolved, the rows (a
    dataset's id when saved, or an uploaded one to save with the run), checks and title."""

    variants: list[Variant]
    resolved: list[AnyVariant]
    rows: list[dict[str, Any]]
    dataset_id: int | None
    new_dataset: Dataset | None
    checks: list[Check]
    title: str
    cache: bool = False             # reuse identical answers (the response cache)

    def signature(self) -> str:
        """Changes with anything a forecast depends on."""
        blob = json.dumps([[v.__dict__ for v in self.variants], self.rows,
                           [c.__dict__ for c in self.checks]], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def setup(settings: Settings, names: list[str]) -> Setup | None:
    """Variants side by side, the input, checks and the run's title; None (the reason shown)
    when a variant or the input cannot be used."""
    try:
        flows = WorkflowStore(settings)
        n = st.segmented_control("Variants", [2, 3, 4], default=2, key="cmp_n") or 2
        variants = []
        for i, col in enumerate(st.columns(n)):
            with col, st.container(border=True):
                st.markdown(md("**Variant {}**", LETTERS[i]))
                variants.append(variant_editor(i, names, flows.names()))
        resolved = compare.resolve(stored_prompts.store(), app.catalog(), variants,
                                   workflows=flows)

        mode = st.radio("Input", ["One input", "Dataset (CSV)"], horizontal=True, key="cmp_mode")
        dataset_id, new_dataset = None, None
        if mode == "One input":
            rows = [stored_prompts.variable_form(compare.variables_of(resolved), key="cmp_form")]
        else:
            rows, dataset_id, new_dataset = dataset_input(settings)
        checks = checks_editor()
        default_title = " vs ".join(f"{v.prompt}@{v.ref}" for v in variants)
        if st.session_state.get("cmp_title") in (None, st.session_state.get("cmp_title_default")):
            st.session_state["cmp_title"] = default_title  # follows the variants until edited
        st.session_state["cmp_title_default"] = default_title
        title = st.text_input("Run title", key="cmp_title")
        cache = st.checkbox(
            "Reuse identical answers (cache)", key="cmp_cache",
            value="compare" in settings.cache_pages,
            help="A cell whose exact request (model, prompt, input and every parameter) was "
                 "answered before is answered from the response cache: no call, $0, the same "
                 "text. Off: every cell asks its model again.")
    except PromptLabError as exc:
        widgets.show_error(exc)
        return None
    return Setup(variants, resolved, rows, dataset_id, new_dataset, checks, title, cache)
