"""Embedding and storing the chunks of several documents in shared batches.

Many small files would otherwise each pay for a short embedding call and a Chroma write of
their own; here chunks from consecutive documents fill the same batch. A document is marked
ready once all its chunks are in the index. A batch that fails fails the documents it held
(their rows and vectors removed); the others go on. The memory guard stops the whole ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.core import MemoryGuard, PromptLabError, Settings
from lib.knowledge import embeddings, index
from lib.knowledge.chunking import Chunk
from lib.knowledge.registry import KnowledgeBase, delete_document, mark_ready

log = logging.getLogger(__name__)
EMBED_BATCH = 32  # chunks embedded and stored at once: progress moves, memory stays low
WINDOW = 16       # batches whose chunks are sorted by length together


@dataclass
class Pending:
    """A registered document ('storing') whose chunks still have to reach the index."""

    index: int                 # its place in the upload, for progress
    name: str
    kind: str
    document_id: int
    chunks: list[Chunk]
    ids: list[str]
    stored: int = 0
    error: str = ""
    done: bool = field(default=False)


# (pending document, stage, message): stage is load, embed, done or failed
Report = Callable[[Pending, str, str], None]


def forecast(model: str, chunks: int, *, left: bool = False) -> str:
    """"about 40 s" for embedding this many chunks, at the rate measured so far; before any
    rate was measured, no figure (a guess said "about 0 s" for a first ingest)."""
    seconds = embeddings.estimate_seconds(model, chunks)
    if seconds is None:
        return "the time left is known after the first batch"
    text = ("under a second" if seconds < 1 else f"about {seconds:,.0f} s" if seconds < 90
            else f"about {seconds / 60:,.0f} min")
    return f"{text} left" if left else text


def embed_and_store(settings: Settings, kb: KnowledgeBase, docs: list[Pending],
                    report: Report, *, batch: int = EMBED_BATCH, new: bool = True) -> None:
    """Every pending document's chunks into the index, in batches that span documents.

    new=True (an ingest): a failed batch fails its documents, whose rows are removed.
    new=False (a rebuild from the registry, the source of truth): nothing is removed, and
    the first failure is raised.
    """
    model = kb.embedding_model
    todo = [d for d in docs if d.chunks]
    if todo and not embeddings.embedding_model.ready(model):
        for d in todo:
            report(d, "load", "loading the embedding model (first use, may take a while)")
        try:  # here, while the progress says so, not inside the first batch's time
            embeddings.embedding_model(model)
        except PromptLabError as exc:
            if not new:
                raise
            for d in todo:
                _fail(settings, kb, d, exc.message, report)
            return
    remaining = sum(len(d.chunks) for d in todo)
    for d in todo:
        report(d, "embed", forecast(model, remaining))
    guard = MemoryGuard(settings.ingest_memory_mb)
    for part in _batches([(d, i) for d in todo for i in range(len(d.chunks))], batch):
        part = [(d, i) for d, i in part if not d.error]
        if not part:
            continue
        try:
            _store(settings, kb, part)
        except Exception as exc:  # this batch's documents fail; the rest go on
            if not new:
                raise
            message = exc.message if isinstance(exc, PromptLabError) else (
                f"storing its chunks failed ({type(exc).__name__}: {exc})")
            if not isinstance(exc, PromptLabError):
                log.exception("storing a batch of %d chunks failed", len(part))
            for d in {id(d): d for d, _ in part}.values():
                _fail(settings, kb, d, message, report)
            continue
        remaining -= len(part)
        if new and guard.over():
            message = (f"the ingest grew the app by {guard.grown():,.0f} MB, past the "
                       f"{settings.ingest_memory_mb:,} MB limit (PROMPTLAB_INGEST_MEMORY_MB), "
                       "and was stopped")
            for d in todo:
                if not d.done and not d.error:
                    _fail(settings, kb, d, message, report)
            return
        ready = []
        for d in {id(d): d for d, _ in part}.values():
            d.stored += sum(1 for x, _ in part if x is d)
            if d.stored == len(d.chunks):
                ready.append(d)
            else:
                report(d, "embed", forecast(model, remaining, left=True))
        if new:
            _mark_ready(settings, kb, ready, report)
        else:
            for d in ready:
                d.done = True
                report(d, "done", f"{len(d.chunks)} chunks")


def _batches(queue: list[tuple[Pending, int]], batch: int) -> list[list[tuple[Pending, int]]]:
    """Batches with chunks of like length together (less padding: what encode() does for one
    call), sorted within windows of a few batches so documents still finish as it goes."""
    def length(item: tuple[Pending, int]) -> int:
        chunk = item[0].chunks[item[1]]
        return chunk.embed_tokens or len(chunk.text) // 4

    out = []
    window = batch * WINDOW
    for start in range(0, len(queue), window):
        part = sorted(queue[start:start + window], key=length)
        out += [part[i:i + batch] for i in range(0, len(part), batch)]
    return out


def _store(settings: Settings, kb: KnowledgeBase, part: list[tuple[Pending, int]]) -> None:
    chunks = [d.chunks[i] for d, i in part]
    vectors = embeddings.embed(kb.embedding_model, [c.indexed_text for c in chunks])
    metadatas = [{"document_id": d.document_id, "source": d.name, "index": c.index,
                  **({"page": c.page} if c.page is not None else {}),
                  **({"heading": c.heading[:200]} if c.heading else {})}
                 for (d, _), c in zip(part, chunks, strict=True)]
    index.upsert(settings, kb.collection, [d.ids[i] for d, i in part], vectors,
                 [c.text for c in chunks], metadatas)


def _mark_ready(settings: Settings, kb: KnowledgeBase, ready: list[Pending],
                report: Report) -> None:
    if not ready:
        return
    mark_ready(settings.db, kb, [d.document_id for d in ready])
    for d in ready:
        d.done = True
        n = len(d.chunks)
        report(d, "done", f"{n} chunk{'s' if n != 1 else ''} from {d.kind}")


def _fail(settings: Settings, kb: KnowledgeBase, d: Pending, message: str,
          report: Report) -> None:
    d.error = f"{d.name}: {message}"
    delete_document(settings, kb, d.document_id)  # nothing half-stored is left behind
    report(d, "failed", d.error)
