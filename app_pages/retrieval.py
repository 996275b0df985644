import streamlit as st

from lib import knowledge
from lib.core import PromptLabError
from lib.ui import app, widgets
from lib.ui import documents_view as view
from lib.ui.text import md

settings = app.settings()
st.title("Retrieval")
kb = view.kb_picker(settings, allow_create=False)
if kb is None:
    st.info("Add documents on the Documents page first.")
    st.stop()

query = st.text_input("Query", key="ret_query", placeholder="What does the ledger record?")
c1, c2 = st.columns([1, 3])
k = c1.slider("Top k", 1, 20, 5, key="ret_k")
docs = knowledge.documents(settings, kb)
only = c2.multiselect("Only these documents", docs, format_func=lambda d: d.name,
                      key="ret_docs")
if not query.strip():
    st.caption("Dense (embeddings in Chroma), BM25 (bm25s) and hybrid (reciprocal rank fusion) "
               "side by side; chunks found by more than one are marked.")
    st.stop()
ids = [d.id for d in only] or None
try:
    with st.spinner("Searching…"):
        results = {mode: knowledge.search(settings, kb, query, k, mode, ids)
                   for mode in ("dense", "bm25", "hybrid")}
except PromptLabError as exc:
    widgets.show_error(exc)
    st.stop()
seen = view.overlap_counts(*results.values())
shared = sum(1 for n in seen.values() if n == 3)
st.caption(md("{} distinct chunks; {} found by all three.", len(seen), shared))
for col, (mode, title) in zip(st.columns(3), [("dense", "Dense"), ("bm25", "BM25"),
                                              ("hybrid", "Hybrid (RRF)")], strict=True):
    with col:
        view.hit_list(title, results[mode], seen)
