import streamlit as st

from lib import knowledge
from lib.core import PromptLabError
from lib.knowledge import DEFAULT_OVERLAP, DEFAULT_SIZE
from lib.ui.documents import library as view
from lib.ui.kit import app, widgets
from lib.ui.kit.text import md, plain

settings = app.settings()
st.title("Documents")
kb = view.kb_picker(settings, allow_create=True)
if kb is None:
    st.info("Create a knowledge base from the sidebar, then add documents to it.")
    st.stop()

st.caption(md("Knowledge base **{}**{} · Chroma collection `{}` · embeddings: {}", kb.name,
              f" · made by {kb.owner}" if kb.owner else "", kb.collection,
              knowledge.model_label(kb.embedding_model)))
view.show_last_results()
# A new key after each batch empties the uploader (Streamlit cannot clear one otherwise).
batch = st.session_state.setdefault("doc_upload_batch", 0)
uploads = st.file_uploader("Add files: PDF, Word, HTML, CSV, Markdown or text (the type is "
                           "read from the content)", accept_multiple_files=True,
                           key=f"doc_upload_{batch}")
with st.expander("Chunking"):
    size = st.slider("Chunk size (tokens)", 32, 240, DEFAULT_SIZE, 8, key="chunk_size",
                     help="Chunks are also kept within the embedding model's 256-token input.")
    overlap = st.slider("Overlap (tokens)", 0, size // 2, min(DEFAULT_OVERLAP, size // 2), 4,
                        key="chunk_overlap")
if uploads and st.button("Add to knowledge base", type="primary", key="doc_ingest"):
    files = [(u.name, u.getvalue()) for u in uploads]
    progress = view.UploadProgress([name for name, _ in files])
    try:
        results = knowledge.ingest(settings, kb, files, size=size, overlap=overlap,
                                   progress=progress)
    except PromptLabError as exc:
        widgets.show_error(exc)
    else:
        st.session_state[view.RESULTS_KEY] = results
        st.session_state["doc_upload_batch"] = batch + 1
        st.rerun()

docs = knowledge.documents(settings.db, kb)
st.subheader(md("{} documents", len(docs)))
if docs:
    st.dataframe([{"name": d.name, "type": d.kind, "size": f"{d.size / 1024:,.1f} KB",
                   "chunks": d.chunks, "status": d.status, "added": d.added_at[:19]}
                  for d in docs], hide_index=True, width="stretch")
    st.download_button("Download list (CSV)", lambda: view.documents_csv(docs),
                       file_name=f"{kb.collection}-documents.csv", mime="text/csv",
                       key="doc_csv", on_click="ignore")
    doc = st.selectbox("Inspect a document", docs, format_func=lambda d: d.name, key="doc_pick")
    chunks = knowledge.chunks_of(settings.db, doc.id)
    st.caption(md("{} chunks, {:,} tokens", len(chunks), sum(c["tokens"] for c in chunks)))
    st.dataframe([{"chunk": c["idx"] + 1, "tokens": c["tokens"], "page": c["page"],
                   "heading": c["heading"], "text": c["text"]} for c in chunks[:500]],
                 hide_index=True, width="stretch", height=300)
    view.delete_document(settings, kb, doc)

with st.expander("Index health"):
    health = knowledge.index_health(settings, kb)
    if health.error:  # a damaged index is exactly what this panel is for
        st.warning(plain(health.error))
    st.markdown(md("Registry: **{:,}** chunks · Chroma index: **{}** vectors", health.registry,
                   "?" if health.indexed is None else f"{health.indexed:,}"))
    if not health.agrees:
        st.warning("The index and the registry disagree: rebuild the index.")
    if st.button("Rebuild index from the registry", key="doc_rebuild"):
        bar = st.progress(0.0, text="Rebuilding…")
        total = knowledge.rebuild_index(
            settings, kb, progress=lambda p: bar.progress(
                p.done / p.total if p.total else 0.0, text=md("{}: {}", p.file, p.stage)))
        st.success(md("Rebuilt: {:,} chunks re-embedded with the same ids.", total))
