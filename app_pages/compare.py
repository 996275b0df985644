import streamlit as st

from lib import compare, spend
from lib.core import PromptLabError, format_usd
from lib.ui.compare import form as view
from lib.ui.compare import results
from lib.ui.kit import app, widgets
from lib.ui.kit import stored_prompts as pv
from lib.ui.kit.text import md, plain

if "run" in st.query_params:  # a saved run (a bookmark, a Stop, a reload) has its own page
    st.switch_page(results.PAGE, query_params={"run": st.query_params.get_all("run")})
settings = app.settings()
st.title("Compare")
results.past_runs(compare.list_runs(settings.db_path), None)

names = pv.store().names()
if not names:
    st.info("Create a prompt on the Prompts page first.")
    st.stop()

try:
    n = st.segmented_control("Variants", [2, 3, 4], default=2, key="cmp_n") or 2
    variants = []
    for i, col in enumerate(st.columns(n)):
        with col, st.container(border=True):
            st.markdown(md("**Variant {}**", compare.LETTERS[i]))
            variants.append(view.variant_editor(i, names))
    resolved = compare.resolve(pv.store(), app.catalog(), variants)

    mode = st.radio("Input", ["One input", "Dataset (CSV)"], horizontal=True, key="cmp_mode")
    dataset_id, new_dataset = None, None
    if mode == "One input":
        rows = [pv.variable_form(compare.variables_of(resolved), key="cmp_form")]
    else:
        rows, dataset_id, new_dataset = view.dataset_input(settings)
    checks = view.checks_editor()
    default_title = " vs ".join(f"{v.prompt}@{v.ref}" for v in variants)
    if st.session_state.get("cmp_title") in (None, st.session_state.get("cmp_title_default")):
        st.session_state["cmp_title"] = default_title  # follows the variants until edited
    st.session_state["cmp_title_default"] = default_title
    title = st.text_input("Run title", key="cmp_title")
except PromptLabError as exc:
    widgets.show_error(exc)
    st.stop()

if not rows:
    st.info("Upload a CSV or pick a saved dataset to continue.")
    st.stop()

sig = view.signature(variants, rows, checks)
if st.button("Forecast cost", icon=":material/calculate:", key="cmp_forecast_btn"):
    try:
        with st.spinner("Rendering and counting every cell…"):
            st.session_state["cmp_forecast"] = (sig, compare.forecast(settings, resolved, rows))
    except PromptLabError as exc:
        widgets.show_error(exc)

saved = st.session_state.get("cmp_forecast")
if saved is None or saved[0] != sig:
    st.caption("Forecast the cost before running: every row is rendered for every variant "
               "and counted with that model's tokenizer.")
    st.stop()

plan = saved[1]
view.show_forecast(plan, resolved)
refused = spend.refusal(settings.db_path, plan.cost_by_provider(resolved), user=app.user())
if refused:
    st.error(plain(refused), icon=":material/block:")
    st.caption("Raise the budget on the Costs page, use fewer rows or lower max tokens, or "
               "compare on the local model, which is free.")
needs_ok = plan.max_cost_micro > settings.confirm_above_usd * 1_000_000
confirmed = not refused and (not needs_ok or st.checkbox(
    md("I accept spending up to {} on this run.", format_usd(plan.max_cost_micro)),
    key="cmp_confirm"))


def new_run() -> int:
    """Save the dataset (if uploaded) and the run."""
    ds_id = compare.save_dataset(settings.db_path, new_dataset) if new_dataset is not None \
        else dataset_id
    return compare.create_run(settings, title or "Untitled", resolved, rows, checks, ds_id,
                              owner=app.user())


try:
    compare.batchable(resolved)
    batch_why = ""
except PromptLabError as exc:
    batch_why = str(exc)
half = compare.batch_forecast(resolved, plan).max_cost_micro
BATCH_HELP = ("Submitted to the provider's batch API; results arrive within 24 hours, polled "
              "in the background (a reload or restart loses nothing).")
if st.button(md("Run as batch (half price: at most {})", format_usd(half)),
             icon=":material/schedule:", key="cmp_batch", disabled=bool(batch_why) or not
             confirmed, help=plain(batch_why) if batch_why else BATCH_HELP):
    try:
        run_id = new_run()
        compare.submit_batch(settings, run_id, resolved, plan, checks)
        st.session_state.pop("cmp_forecast", None)
        st.switch_page(results.PAGE, query_params={"run": str(run_id)})
    except PromptLabError as exc:
        widgets.show_error(exc)
if st.button("Run", type="primary", icon=":material/play_arrow:", key="cmp_run",
             disabled=not confirmed):
    try:
        run_id = new_run()
        st.query_params["run"] = str(run_id)  # a Stop or a reload lands on the saved run
        view.run_live(settings, run_id, resolved, rows, plan, checks)
        st.session_state.pop("cmp_forecast", None)
        st.switch_page(results.PAGE, query_params={"run": str(run_id)})
    except PromptLabError as exc:
        widgets.show_error(exc)
