"""Documents page pieces: the knowledge base picker (Retrieval and Chat use it too), upload
progress."""

from __future__ import annotations

import streamlit as st

from lib import knowledge
from lib.core import PromptLabError, Settings, csv_text
from lib.knowledge import Document, KnowledgeBase, Progress
from lib.ui.kit.identity import owner_text, user_id
from lib.ui.kit.text import md, plain
from lib.ui.kit.widgets import show_error

KB_KEY = "kb_pick"


def kb_picker(settings: Settings, *, allow_create: bool) -> KnowledgeBase | None:
    """The sidebar's knowledge base select box (shared: each shows who made it), with create
    and delete where allowed."""
    kbs = knowledge.list_kbs(settings.db)
    names = [kb.name for kb in kbs]
    if allow_create:
        with st.sidebar.popover("New knowledge base", icon=":material/add:", width="stretch"):
            name = st.text_input("Name", key="kb_new_name", placeholder="Product docs")
            if st.button("Create", type="primary", key="kb_create"):
                try:
                    st.session_state[KB_KEY] = knowledge.create_kb(settings, name,
                                                                   owner=user_id()).name
                    st.rerun()
                except PromptLabError as exc:
                    show_error(exc)
    if not names:
        return None
    if st.session_state.get(KB_KEY) not in names:
        st.session_state.pop(KB_KEY, None)
    owners = {kb.name: owner_text(kb.owner) for kb in kbs}
    name = st.sidebar.selectbox("Knowledge base", names, key=KB_KEY,
                                format_func=lambda n: f"{n}  ·  {owners[n]}" if owners[n] else n)
    kb = next(kb for kb in kbs if kb.name == name)
    if allow_create:
        with st.sidebar.popover("Delete knowledge base", icon=":material/delete:",
                                width="stretch"):
            st.warning(md("This deletes **{}**, its documents and its index.", kb.name))
            st.button("Delete it", type="primary", key="kb_delete", on_click=_delete_kb,
                      args=(settings, kb))
    return kb


def _delete_kb(settings: Settings, kb: KnowledgeBase) -> None:
    try:
        knowledge.delete_kb(settings, kb)
    except PromptLabError as exc:
        show_error(exc)
        return
    st.session_state.pop(KB_KEY, None)
    st.toast(md("Deleted the knowledge base {}.", kb.name), icon=":material/delete:")


def delete_document(settings: Settings, kb: KnowledgeBase, doc: Document) -> None:
    """Delete a document, once ticked; a toast says what went."""
    chunks = f"{doc.chunks:,} chunk{'s' if doc.chunks != 1 else ''}"
    sure = st.checkbox(md("Yes, delete {} and its {} from the knowledge base", doc.name,
                          chunks), key=f"doc_delete_sure_{doc.id}")
    st.button(md("Delete {}", doc.name), icon=":material/delete:", key="doc_delete",
              disabled=not sure, on_click=_delete_document, args=(settings, kb, doc, chunks))


def _delete_document(settings: Settings, kb: KnowledgeBase, doc: Document, chunks: str
                     ) -> None:
    try:
        knowledge.delete_document(settings, kb, doc.id)
    except PromptLabError as exc:
        show_error(exc)
        return
    st.session_state.pop(f"doc_delete_sure_{doc.id}", None)
    st.toast(md("Deleted {} ({}).", doc.name, chunks), icon=":material/delete:")


_WORDS = {"parse": "reading", "chunk": "cutting into chunks", "load": "preparing",
          "embed": "embedding and storing"}
_SHARE = {"parse": 0.05, "chunk": 0.1, "load": 0.12, "embed": 0.15}  # of the bar, at start
RESULTS_KEY = "doc_last_ingest"


class UploadProgress:
    """A row per upload (by its place in the batch: two files may share a name) that moves
    through reading, chunking and embedding, and ends as a plain stored / skipped / failed
    line, never as a full bar that looks like success."""

    def __init__(self, names: list[str]) -> None:
        self.slots = []
        for name in names:
            slot = st.empty()
            slot.progress(0.0, text=md("{}: waiting", name))
            self.slots.append(slot)

    def __call__(self, p: Progress) -> None:
        slot = self.slots[p.index]
        if p.stage == "failed":
            slot.error(plain(p.message), icon=":material/error:")
        elif p.stage == "skipped":
            slot.info(md("{}: {}", p.file, p.message), icon=":material/check:")
        elif p.stage == "done":
            slot.success(md("{}: {}", p.file, p.message), icon=":material/check_circle:")
        else:
            start = _SHARE.get(p.stage, 0.0)
            fraction = start + ((1 - start) * p.done / p.total if p.total else 0.0)
            counts = f" {p.done:,}/{p.total:,} chunks" if p.total else ""
            bar_text = md("{}: {}{} {}", p.file, _WORDS.get(p.stage, p.stage), counts,
                          f"· {p.message}" if p.message else "")
            slot.progress(min(0.99, fraction), text=bar_text)


def show_last_results() -> None:
    """What the last batch did, kept across the rerun that clears the uploader."""
    for r in st.session_state.pop(RESULTS_KEY, []):
        if r.status == "stored":
            st.success(md("{}: {}.", r.file, r.message), icon=":material/check_circle:")
        elif r.status == "skipped":
            st.info(md("{}: {}.", r.file, r.message), icon=":material/check:")
        else:
            st.error(plain(r.message), icon=":material/error:")


def documents_csv(docs: list[knowledge.Document]) -> str:
    return csv_text(["name", "type", "bytes", "chunks", "status", "added", "sha256"],
                    ([d.name, d.kind, d.size, d.chunks, d.status, d.added_at, d.sha256]
                     for d in docs))
