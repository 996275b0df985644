import streamlit as st

from lib import chat, spend
from lib.core import PromptLabError, format_usd
from lib.llm import provider_summary
from lib.ui import app, widgets
from lib.ui.text import Markdown, join, md, plain

st.title("Prompt Lab")
st.markdown(
    "A prompt lab and RAG playground in one: chat with models over your own documents, "
    "version and compare prompts, watch tokens and context windows, and see what it all costs. "
    "With no API key and no network it runs on the bundled local model.")

try:
    path = app.settings().db_path
    a, b, c = st.columns(3)
    a.metric("Conversations", md("{:,}", chat.count_conversations(path)))
    b.metric("Model calls recorded", md("{:,}", spend.count_calls(path)))
    c.metric("Spend today (UTC)", plain(format_usd(spend.spend_today_micro(path))))
except PromptLabError as exc:
    widgets.show_error(exc)

st.subheader("Providers")
# The local model is tried once in a child process the first time (then cached on disk).
# A Markdown table: st.table would import pandas, which alone takes longer than this page.
rows = [Markdown("| Provider | Status | Models | How to enable |"), Markdown("|---|---|---|---|")]
rows += [md("| {} | {} | {} | {} |", p.label, "ready" if p.available else "unavailable", p.models,
            p.reason) for p in provider_summary(app.statuses())]
st.markdown(join("\n", rows))

st.subheader("Pages")
for path, title, icon, blurb in app.PAGES[1:]:
    st.page_link(path, label=md("{}: {}", title, blurb), icon=icon)
