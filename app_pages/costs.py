import streamlit as st

from lib.ui import app
from lib.ui import costs_view as view

settings = app.settings()
st.title("Costs")
dashboard_tab, budgets_tab, prices_tab = st.tabs(["Dashboard", "Budgets", "Prices"])
with dashboard_tab:
    f = view.filters(settings)
    if f is None:
        st.info("No model calls recorded yet: chat or compare first.")
    else:
        view.dashboard(settings, f)
with budgets_tab:
    view.budgets_editor(settings)
with prices_tab:
    view.prices_editor(settings)
