"""Prompt Lab's entrypoint: the router and the shared sidebar."""

import streamlit as st

from lib.errors import PromptLabError
from lib.ui.common import budget_banner, show_error, sidebar_status

st.set_page_config(page_title="Prompt Lab", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:"),
    st.Page("pages/prompts.py", title="Prompts", icon=":material/edit_note:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/documents.py", title="Documents", icon=":material/folder_open:"),
    st.Page("pages/retrieval.py", title="Retrieval", icon=":material/manage_search:"),
    st.Page("pages/tokens.py", title="Tokens", icon=":material/token:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
]

page = st.navigation(PAGES)
# Pages catch what they can explain in place; anything else of ours still reads as a message.
try:
    sidebar_status()
    budget_banner()
    page.run()
except PromptLabError as exc:
    show_error(exc)
