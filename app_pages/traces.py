import streamlit as st

from lib import chat, spend
from lib.ui.kit import app
from lib.ui.traces import tree as view

settings = app.settings()
st.title("Traces")
runs = spend.recent_runs(settings.db, user=app.user())  # signed in: your own runs
link = app.deep_link("run", app.RUN_ID)
wanted = link.value
if link.odd:
    app.link_not_found("agent run", link)
ids = [r["run_id"] for r in runs]
if wanted and wanted not in ids:
    ids.insert(0, wanted)  # a bookmarked run older than the list still opens
if not ids:
    st.info("No agent runs yet: enable tools in the Chat sidebar and ask something.")
    st.stop()
by_id = {r["run_id"]: r for r in runs}
run_id = st.selectbox("Agent run", ids, index=ids.index(wanted) if wanted in ids else 0,
                      format_func=lambda i: view.run_option(by_id[i]) if i in by_id else i,
                      key=f"trace_pick_{wanted}")
st.query_params["run"] = run_id
trace = chat.run_trace(settings.db, run_id, user=app.user())
if trace is None:
    app.link_not_found("agent run", app.Link(run_id, None))
    st.stop()
view.draw(trace)
