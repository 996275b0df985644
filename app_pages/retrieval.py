import streamlit as st

from lib import knowledge
from lib.core import PromptLabError
from lib.ui.documents import library as docs_view
from lib.ui.documents import retrieval as view
from lib.ui.kit import app, widgets
from lib.ui.kit.text import md

settings = app.settings()
st.title("Retrieval")
kb = docs_view.kb_picker(settings, allow_create=False)
if kb is None:
    st.info("Add documents on the Documents page first.")
    st.stop()

view.settings_form(settings, kb)
fusion = knowledge.search_settings(settings.db, kb)
query = st.text_input("Query", key="ret_query", placeholder="What does the ledger record?")
c1, c2 = st.columns([1, 3])
k = c1.slider("Top k", 1, 20, 5, key="ret_k")
docs = knowledge.documents(settings.db, kb)
only = c2.multiselect("Only these documents", docs, format_func=lambda d: d.name,
                      key="ret_docs")
if not query.strip():
    st.caption("Dense (embeddings in Chroma), BM25 (bm25s) and hybrid (the two fused) side by "
               "side; each hit shows its rank in the dense and the BM25 ranking of every chunk "
               "searched, and chunks found by more than one are marked.")
    st.caption(view.describe(fusion))
    st.stop()
ids = [d.id for d in only] or None
try:
    with st.spinner("Searching…"):
        found = knowledge.side_by_side(settings, kb, query, k, ids, fusion=fusion)
except PromptLabError as exc:
    widgets.show_error(exc)
    st.stop()
seen = view.overlap_counts(found.dense, found.bm25, found.hybrid)
shared = sum(1 for n in seen.values() if n == 3)
st.caption(md("{} distinct chunks; {} found by all three. Ranks are over all {:,} chunks "
              "searched. {}", len(seen), shared, found.searched, view.describe(fusion)))
hybrid = "Hybrid (scores)" if fusion.method == "scores" else "Hybrid (RRF)"
columns = [("Dense", view.NOTES["dense"], found.dense, False),
           ("BM25", view.NOTES["bm25"], found.bm25, False),
           (hybrid, view.spread_rule(fusion), found.hybrid, True)]
for col, (title, note, hits, fused) in zip(st.columns(3), columns, strict=True):
    with col:
        view.hit_list(title, note, hits, seen, fused=fused)
