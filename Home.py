"""Prompt Lab's entrypoint: the router, the shared sidebar and the last-resort handler."""

import streamlit as st

from lib.ui.app import HIDDEN_PAGES, PAGES, run_page

st.set_page_config(page_title="Prompt Lab", page_icon=":material/science:", layout="wide")

page = st.navigation(
    [*(st.Page(path, title=title, icon=icon, default=path == "app_pages/home.py")
       for path, title, icon, _ in PAGES),
     *(st.Page(path, title=title, icon=icon, visibility="hidden")
       for path, title, icon in HIDDEN_PAGES)])
run_page(page)
