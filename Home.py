"""Prompt Lab's entrypoint: the router and the shared sidebar."""

import streamlit as st

from lib.errors import PromptLabError
from lib.ui.common import PAGES, budget_banner, show_error, sidebar_status

st.set_page_config(page_title="Prompt Lab", page_icon=":material/science:", layout="wide")

page = st.navigation([st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
                      for path, title, icon, _ in PAGES])

# Pages catch what they can explain in place; anything else of ours still reads as a message.
try:
    sidebar_status()
    budget_banner()
    page.run()
except PromptLabError as exc:
    show_error(exc)
