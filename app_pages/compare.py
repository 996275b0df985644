import streamlit as st

from lib import compare
from lib.ui.compare import form, launch, results
from lib.ui.kit import app, stored_prompts

if "run" in st.query_params:  # a saved run (a bookmark, a Stop, a reload) has its own page
    st.switch_page(results.PAGE, query_params={"run": st.query_params.get_all("run")})
settings = app.settings()
st.title("Compare")
results.past_runs(compare.list_runs(settings.db), None)

names = stored_prompts.store().names()
if not names:
    st.info("Create a prompt on the Prompts page first.")
    st.stop()

setup = form.setup(settings, names)
if setup is None:
    st.stop()
if not setup.rows:
    st.info("Upload a CSV or pick a saved dataset to continue.")
    st.stop()

plan = launch.forecast(settings, setup)
if plan is None:
    st.caption("Forecast the cost before running: every row is rendered for every variant "
               "and counted with that model's tokenizer.")
    st.stop()
launch.show_forecast(plan, setup.resolved)
confirmed = launch.affordable(settings, setup, plan)
launch.run_buttons(settings, setup, plan, confirmed=confirmed)
