import streamlit as st

from lib.ui.costs import budgets, dashboard, prices
from lib.ui.kit import app

settings = app.settings()
st.title("Costs")
# A view switch kept in the URL: Save reruns the page without leaving Budgets, and a link to
# /costs?view=Budgets opens there.
VIEWS = ["Dashboard", "Budgets", "Prices"]
if st.query_params.get("view") not in VIEWS:
    st.query_params["view"] = VIEWS[0]
st.session_state["cost_view"] = st.query_params["view"]  # the URL decides


def switch() -> None:
    st.query_params["view"] = st.session_state["cost_view"] or st.query_params["view"]


st.segmented_control("View", VIEWS, label_visibility="collapsed", key="cost_view",
                     on_change=switch)
if st.query_params["view"] == "Dashboard":
    f = dashboard.filters(settings)
    if f is None:
        st.info("No model calls recorded yet: chat or compare first.")
    else:
        dashboard.dashboard(settings, f)
elif st.query_params["view"] == "Budgets":
    budgets.budgets_editor(settings)
else:
    prices.prices_editor(settings)
