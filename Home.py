"""Prompt Lab's entrypoint: the router, the shared sidebar and the last-resort handler."""

from pathlib import Path

import streamlit as st

from lib.ui.kit.app import HIDDEN_PAGES, PAGES, run_page

# The icon ships with the app: a Material icon here would make the browser fetch the
# favicon from Google's font servers, and the app makes no outside request.
st.set_page_config(page_title="Prompt Lab", layout="wide",
                   page_icon=str(Path(__file__).parent / "assets" / "favicon.png"))

page = st.navigation(
    [*(st.Page(path, title=title, icon=icon, default=path == "app_pages/home.py")
       for path, title, icon, _ in PAGES),
     *(st.Page(path, title=title, icon=icon, visibility="hidden")
       for path, title, icon in HIDDEN_PAGES)])
run_page(page)
