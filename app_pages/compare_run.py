import streamlit as st

from lib import compare
from lib.core import PromptLabError
from lib.ui.compare import results
from lib.ui.kit import app, widgets

# A saved run on a page of its own (hidden from the navigation): the sidebar's Compare link,
# a page away, then always starts a new comparison. (On one page the link reran that page
# with the run still in its URL.)
settings = app.settings()
st.title("Compare")
runs = compare.list_runs(settings.db)
open_id = results.run_in_url([r[0] for r in runs])
results.past_runs(runs, open_id)
if st.sidebar.button("New comparison", icon=":material/add:", key="cmp_new"):
    st.switch_page("app_pages/compare.py")
if open_id is None:
    st.page_link("app_pages/compare.py", label="Start a new comparison", icon=":material/add:")
    st.stop()
try:
    results.show_run(settings, compare.load_run(settings.db, open_id))
except PromptLabError as exc:
    widgets.show_error(exc)
