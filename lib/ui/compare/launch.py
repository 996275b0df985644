"""Starting a comparison on the Compare page: its forecast (every cell rendered and counted),
the budget's word on it, then a batch or a live run streamed into a grid."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from lib import compare, spend
from lib.compare import LETTERS, AnyVariant, Check, Forecast
from lib.core import PromptLabError, Settings, format_cost
from lib.llm import CacheMode, price_unknown, user_catalog_path
from lib.ui.compare.form import Setup
from lib.ui.compare.results import PAGE, cell_markdown, row_caption
from lib.ui.kit import app
from lib.ui.kit.text import inert, md, plain
from lib.ui.kit.widgets import show_error

FORECAST = "cmp_forecast"   # session: (the setup's signature, its forecast)
LIVE_ROWS = 30          # rows drawn live while a run streams; the rest show in the results
BATCH_HELP = ("Submitted to the provider's batch API; results arrive within 24 hours, polled "
              "in the background (a reload or restart loses nothing).")


def forecast(settings: Settings, setup: Setup) -> Forecast | None:
    """The Forecast button; the forecast of this very setup, or None until there is one."""
    sig = setup.signature()
    if st.button("Forecast cost", icon=":material/calculate:", key="cmp_forecast_btn"):
        try:
            with st.spinner("Rendering and counting every cell…"):
                st.session_state[FORECAST] = (sig, compare.forecast(settings, setup.resolved,
                                                                    setup.rows))
        except PromptLabError as exc:
            show_error(exc)
    saved = st.session_state.get(FORECAST)
    return None if saved is None or saved[0] != sig else saved[1]


def affordable(settings: Settings, setup: Setup, plan: Forecast) -> bool:
    """Whether the run may start: no budget refuses it, and a costly one is accepted."""
    refused = spend.refusal(settings.db, plan.cost_by_provider(), user=app.user()) or next(
        (str(price_unknown(m, str(user_catalog_path(settings)), "this run"))
         for r in setup.resolved for m in r.models if not m.priced
         and spend.applies(settings.db, m.provider, user=app.user())), None)
    if refused:
        st.error(plain(refused), icon=":material/block:")
        st.caption("Raise the budget on the Costs page, use fewer rows or lower max tokens, or "
                   "compare on the local model, which is free.")
    # A model whose price is unknown may cost anything: such a run is confirmed too.
    needs_ok = plan.max_cost_micro > settings.confirm_above_usd * 1_000_000 or plan.unpriced
    return not refused and (not needs_ok or st.checkbox(
        md("I accept spending up to {} on this run.",
           format_cost(plan.max_cost_micro, plan.unpriced)),
        key="cmp_confirm"))


def run_buttons(settings: Settings, setup: Setup, plan: Forecast, *, confirmed: bool) -> None:
    """Run as a batch (half price, within a day) or now, live; either opens the saved run."""
    try:
        compare.batchable(setup.resolved)
        batch_why = ""
    except PromptLabError as exc:
        batch_why = str(exc)
    half = compare.batch_forecast(setup.resolved, plan).max_cost_micro
    if st.button(md("Run as batch (half price: at most {})", format_cost(half, plan.unpriced)),
                 icon=":material/schedule:", key="cmp_batch", disabled=bool(batch_why) or not
                 confirmed, help=plain(batch_why) if batch_why else BATCH_HELP):
        try:
            run_id = _save_run(settings, setup)
            compare.submit_batch(settings, run_id, setup.resolved, plan, setup.checks)
            st.session_state.pop(FORECAST, None)
            st.switch_page(PAGE, query_params={"run": str(run_id)})
        except PromptLabError as exc:
            show_error(exc)
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="cmp_run",
                 disabled=not confirmed):
        try:
            run_id = _save_run(settings, setup)
            st.query_params["run"] = str(run_id)  # a Stop or a reload lands on the saved run
            run_live(settings, run_id, setup.resolved, setup.rows, plan, setup.checks,
                     cache=setup.cache)
            st.session_state.pop(FORECAST, None)
            st.switch_page(PAGE, query_params={"run": str(run_id)})
        except PromptLabError as exc:
            show_error(exc)


def _save_run(settings: Settings, setup: Setup) -> int:
    """Save the dataset (if uploaded) and the run."""
    dataset_id = (compare.save_dataset(settings.db, setup.new_dataset)
                  if setup.new_dataset is not None else setup.dataset_id)
    return compare.create_run(settings.db, setup.title or "Untitled", setup.resolved, setup.rows,
                              setup.checks, dataset_id, owner=app.user())


def show_forecast(plan: Forecast, resolved: list[AnyVariant]) -> None:
    st.dataframe([{"variant": resolved[v].label(v), "rows": p["rows"],
                   "input tokens": p["input_tokens"],
                   "at most": format_cost(p["max_cost_micro"], p["unpriced"]),
                   "over window": p["over_window"], "render errors": p["errors"]}
                  for v, p in enumerate(plan.per_variant())], hide_index=True,
                 width="stretch")
    st.markdown(md("**Forecast:** {:,} input tokens; at most **{}** (input plus every "
                   "cell's maximum output).", plan.input_tokens,
                   format_cost(plan.max_cost_micro, plan.unpriced)))
    for note in compare.dropped_notes([r.as_dict() for r in resolved]):
        st.warning(plain(note), icon=":material/tune:")
    for cell in plan.problems[:10]:
        why = cell.error or "input plus max output exceeds the context window"
        st.warning(md("Row {}, variant {}: {} — it will be skipped.", cell.row + 1,
                      LETTERS[cell.variant], why))
    if len(plan.problems) > 10:
        st.warning(md("…and {} more cells will be skipped.", len(plan.problems) - 10))


def run_live(settings: Settings, run_id: int, resolved: list[AnyVariant],
             rows: list[dict[str, Any]], plan: Forecast, checks: list[Check], *,
             cache: bool = False) -> None:
    """Stream every cell into a grid under a Stop button and a progress bar; with `cache`,
    a cell asked before is answered from the response cache."""
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
                                 concurrency=settings.compare_concurrency,
                                 cache=CacheMode.ON if cache else CacheMode.OFF):
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
