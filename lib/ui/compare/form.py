"""Compare page pieces: variant editors, checks, input, forecast and the live grid (a saved
run's results: lib.ui.compare.results)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import streamlit as st

from lib import compare
from lib.agents import BUILTINS
from lib.compare import (
    KINDS,
    LETTERS,
    NEEDS_VALUE,
    Check,
    Forecast,
    ResolvedVariant,
    Variant,
)
from lib.core import CompareError, Settings, format_usd
from lib.ui.chat_tools import LABELS
from lib.ui.compare.results import cell_markdown, row_caption
from lib.ui.kit import stored_prompts, widgets
from lib.ui.kit.text import inert, md, plain

KB_TOOLS = ("search_knowledge_base", "read_chunk")  # compare runs have no knowledge base
LIVE_ROWS = 30          # rows drawn live while a run streams; the rest show in the results


def variant_editor(index: int, names: list[str]) -> Variant:
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
                            key=f"cv{index}_temp_{name}", disabled=not status.model.temperature)
    max_tokens = st.number_input("Max output tokens", 1, status.model.max_output,
                                 min(prompt.max_tokens, status.model.max_output),
                                 key=f"cv{index}_max_{name}")
    tools = st.multiselect("Tools", [t for t in BUILTINS if t not in KB_TOOLS],
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
                   schema.strip())


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


def dataset_input(settings: Settings) -> tuple[list[dict[str, Any]], int | None, Any]:
    """Rows from an uploaded CSV (saved when the run starts) or a saved dataset."""
    saved = compare.list_datasets(settings.db_path)
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
            ds = compare.load_dataset(settings.db_path, choice)
            st.dataframe(list(ds.rows[:20]), hide_index=True, width="stretch")
            return list(ds.rows), choice, None
    return [], None, None


def signature(variants: list[Variant], rows: list[dict[str, Any]], checks: list[Check]) -> str:
    blob = json.dumps([[v.__dict__ for v in variants], rows, [c.__dict__ for c in checks]],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def show_forecast(plan: Forecast, resolved: list[ResolvedVariant]) -> None:
    st.dataframe([{"variant": resolved[v].label(v), "rows": p["rows"],
                   "input tokens": p["input_tokens"], "at most": format_usd(p["max_cost_micro"]),
                   "over window": p["over_window"], "render errors": p["errors"]}
                  for v, p in enumerate(plan.per_variant())], hide_index=True,
                 width="stretch")
    st.markdown(md("**Forecast:** {:,} input tokens; at most **{}** (input plus every "
                   "cell's maximum output).", plan.input_tokens,
                   format_usd(plan.max_cost_micro)))
    for cell in plan.problems[:10]:
        why = cell.error or "input plus max output exceeds the context window"
        st.warning(md("Row {}, variant {}: {} — it will be skipped.", cell.row + 1,
                      LETTERS[cell.variant], why))
    if len(plan.problems) > 10:
        st.warning(md("…and {} more cells will be skipped.", len(plan.problems) - 10))


def run_live(settings: Settings, run_id: int, resolved: list[ResolvedVariant],
             rows: list[dict[str, Any]], plan: Forecast, checks: list[Check]) -> None:
    """Stream every cell into a grid under a Stop button and a progress bar."""
    st.button("Stop", icon=":material/stop_circle:", key="cmp_stop")
    progress = st.progress(0.0, text=md("0 of {} rows", len(rows)))
    slots: dict[tuple[int, int], Any] = {}
    for i, row in enumerate(rows[:LIVE_ROWS]):
        st.caption(row_caption(i, row))
        cols = st.columns(len(resolved))
        for v, col in enumerate(cols):
            col.markdown(md("**{}**", LETTERS[v]))
            slots[(i, v)] = col.empty()
    if len(rows) > LIVE_ROWS:
        st.caption(md("Showing the first {} rows live; all {} are in the results.", LIVE_ROWS,
                      len(rows)))
    texts: dict[tuple[int, int], str] = {}
    done_cells: dict[int, int] = {}
    rows_done, last = 0, 0.0
    for event in compare.execute(settings, run_id, resolved, plan, checks,
                                 concurrency=settings.compare_concurrency):
        key = (event.row, event.variant)
        if event.result is None:  # a repair starts its cell's text again
            texts[key] = ("" if event.restart else texts.get(key, "")) + event.delta
            now = time.monotonic()
            if key in slots and now - last > 0.08:
                slots[key].markdown(inert(texts[key]) + "▌")
                last = now
            continue
        if key in slots:
            slots[key].markdown(cell_markdown(event.result))
        done_cells[event.row] = done_cells.get(event.row, 0) + 1
        if done_cells[event.row] == len(resolved):
            rows_done += 1
            progress.progress(rows_done / len(rows), text=md("{} of {} rows", rows_done,
                                                             len(rows)))
