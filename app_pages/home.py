import streamlit as st

from lib import chat, spend
from lib.core import PromptLabError, format_cost, today
from lib.llm import provider_summary, shared_state_notice
from lib.ui.kit import app, models, resilience, widgets
from lib.ui.kit.text import Markdown, join, md, plain

st.title("Prompt Lab")
st.markdown(
    "A prompt lab and RAG playground in one: chat with models over your own documents, "
    "version and compare prompts, watch tokens and context windows, and see what it all costs. "
    "With no API key and no network it runs on the bundled local model.")

if notice := shared_state_notice(app.settings()):  # PROMPTLAB_REDIS_URL set and not answering
    st.warning(plain(notice), icon=":material/cloud_off:")

try:
    db = app.settings().db
    a, b, c = st.columns(3)
    a.metric("Conversations", md("{:,}", chat.count_conversations(db, owner=app.user())))
    b.metric("Model calls recorded", md("{:,}", spend.count_calls(db)))
    day = today()
    c.metric("Spend today (UTC)", plain(format_cost(  # a model with no price: "+ unknown"
        spend.spend_today_micro(db), spend.unpriced_calls(db, spend.Filters(day, day)))))
except PromptLabError as exc:
    widgets.show_error(exc)

st.subheader("Providers")


def providers_table() -> bool:
    """The table; True while the local model's first check is still running."""
    # A Markdown table: st.table would import pandas, which alone takes longer than this page.
    summary = provider_summary(app.statuses(check_local=False))
    rows = [Markdown("| Provider | Status | Circuit breaker | Models | How to enable |"),
            Markdown("|---|---|---|---|---|")]
    rows += [md("| {} | {} | {} | {} | {} |", p.label, p.state,
                resilience.state_text(p.provider), p.models,
                "" if p.checking else p.reason) for p in summary]
    st.markdown(join("\n", rows))
    return any(p.checking for p in summary)


# The local model is tried once, in a child process, in the background (then cached on disk):
# the page shows at once, says "checking…", and redraws itself (sidebar too) when it is done.
if any(p.checking for p in provider_summary(app.statuses(check_local=False))):
    @st.fragment(run_every=1.0)
    def watch() -> None:
        if not providers_table():
            st.rerun()  # the whole page: the sidebar's Providers panel says "ready" too

    watch()
else:
    providers_table()

st.subheader("Models")
models.models_section()

st.subheader("Pages")
for path, title, icon, blurb in app.PAGES[1:]:
    st.page_link(path, label=md("{}: {}", title, blurb), icon=icon)
