import streamlit as st

from lib.catalog import PROVIDER_LABELS
from lib.errors import PromptLabError
from lib.ledger import format_usd
from lib.ui import common
from lib.ui.home import overview

st.title("Prompt Lab")
st.markdown(
    "A prompt lab and RAG playground in one: chat with models over your own documents, "
    "version and compare prompts, watch tokens and context windows, and see what it all costs. "
    "With no API key and no network it runs on the bundled local model.")

try:
    figures = overview(common.settings())
    a, b, c = st.columns(3)
    a.metric("Conversations", f"{figures.conversations:,}")
    b.metric("Model calls recorded", f"{figures.calls:,}")
    c.metric("Spend today (UTC)", format_usd(figures.spend_today_micro))
except PromptLabError as exc:
    common.show_error(exc)

st.subheader("Providers")
seen: dict[str, tuple[bool, str, int]] = {}
# The local model is tried once in a child process the first time (then cached on disk).
for s in common.statuses():
    ok, reason, n = seen.get(s.model.provider, (s.available, s.reason, 0))
    seen[s.model.provider] = (ok, reason, n + 1)
# A Markdown table: st.table would import pandas, which alone takes longer than this page.
rows = ["| Provider | Status | Models | How to enable |", "|---|---|---|---|"]
rows += [f"| {PROVIDER_LABELS.get(p, p)} | {'ready' if ok else 'unavailable'} | {n} | {reason} |"
         for p, (ok, reason, n) in seen.items()]
st.markdown("\n".join(rows))

st.subheader("Pages")
for path, title, icon, blurb in common.PAGES[1:]:
    st.page_link(path, label=f"{title}: {blurb}", icon=icon)
