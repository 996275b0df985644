"""Ingest: parse, chunk, embed and store each uploaded file, with progress; rebuild an index.

The registry rows go in first (status 'storing'), then the vectors batch by batch, then
'ready'. A file that fails at any stage leaves no chunk behind, and the rest of the batch goes
on. A document may not become more chunks than a setting allows (checked before anything is
embedded), nor grow the app's memory past another. Chunk ids derive from content, so the same
file ingested twice changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lib.core import DocumentError, MemoryGuard, PromptLabError, Settings, now_iso
from lib.knowledge import embeddings, index
from lib.knowledge.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk_sections
from lib.knowledge.parsing import Parsed, parse
from lib.knowledge.registry import (
    KnowledgeBase,
    abandoned,
    bump,
    chunks_of,
    delete_document,
    documents,
    find_document,
)
from lib.storage import connect

log = logging.getLogger(__name__)
EMBED_BATCH = 32  # chunks embedded and stored at once: progress moves, memory stays low


@dataclass(frozen=True)
class Progress:
    """One file's progress: stage is parse, chunk, embed, store, done, skipped or failed."""

    file: str
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""


@dataclass(frozen=True)
class IngestResult:
    file: str
    status: str               # stored | skipped | failed
    chunks: int = 0
    message: str = ""
    document_id: int | None = None


ProgressFn = Callable[[Progress], None]


def ingest(settings: Settings, kb: KnowledgeBase, files: list[tuple[str, bytes]], *,
           size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
           progress: ProgressFn = lambda p: None) -> list[IngestResult]:
    """Ingest each file; a failure is reported for that file and the batch goes on."""
    results = []
    for name, data in files:
        try:
            results.append(_ingest_one(settings, kb, name, data, size, overlap, progress))
        except Exception as exc:  # any failure belongs to this file; the batch goes on
            if isinstance(exc, PromptLabError):
                message = str(exc)
                log.info("ingest %s into %s failed: %s", name, kb.name, exc.message)
            else:
                message = f"{name}: could not be added ({type(exc).__name__}: {exc})."
                log.exception("ingest %s into %s failed", name, kb.name)
            progress(Progress(name, "failed", message=message))
            results.append(IngestResult(name, "failed", message=message))
    return results


def _ingest_one(settings: Settings, kb: KnowledgeBase, name: str, data: bytes, size: int,
                overlap: int, progress: ProgressFn) -> IngestResult:
    limit = settings.max_upload_mb * 1024 * 1024
    if len(data) > limit:
        raise DocumentError(f"{name} is {len(data) / 1e6:,.1f} MB; the limit is "
                            f"{settings.max_upload_mb} MB.")
    sha = hashlib.sha256(data).hexdigest()
    existing = find_document(settings, kb, sha)
    if existing is not None and existing.status == "ready":
        message = f"already in the knowledge base ({existing.chunks} chunks)"
        progress(Progress(name, "skipped", message=message))
        return IngestResult(name, "skipped", existing.chunks, message, existing.id)
    if existing is not None:
        if not abandoned(settings, existing.id):
            raise DocumentError(f"{name} is being added right now (by another session).",
                                hint="Wait for it to finish.")
        delete_document(settings, kb, existing.id)  # a crash left it half-stored: start again

    progress(Progress(name, "parse"))
    parsed = parse(data, name)
    return index_parsed(settings, kb, name, parsed, byte_size=len(data), sha=sha,
                        chunk_size=size, overlap=overlap, progress=progress)


def index_parsed(settings: Settings, kb: KnowledgeBase, name: str, parsed: Parsed, *,
                 byte_size: int, sha: str, chunk_size: int = DEFAULT_SIZE,
                 overlap: int = DEFAULT_OVERLAP,
                 progress: ProgressFn = lambda p: None) -> IngestResult:
    """From extracted text to persisted: chunk, check the bounds, then embed and store batch
    by batch (what bench_ingest times)."""
    progress(Progress(name, "chunk", message=f"{parsed.kind}, {parsed.chars:,} characters"))
    model = kb.embedding_model
    chunks = chunk_sections(parsed.sections, size=chunk_size, overlap=overlap,
                            count_embed=lambda ts: embeddings.count_tokens(model, ts),
                            max_embed=embeddings.max_tokens(model))
    if len(chunks) > settings.max_chunks:
        raise DocumentError(f"{name} would become {len(chunks):,} chunks; the limit is "
                            f"{settings.max_chunks:,} per document, so nothing was embedded.",
                            hint="Split the file, use larger chunks, or raise "
                                 "PROMPTLAB_MAX_CHUNKS.")
    ids = [c.chunk_id(kb.collection, sha) for c in chunks]
    document_id = _register(settings, kb, name, parsed.kind, byte_size, sha, chunks, ids)
    try:
        _embed_and_store(settings, kb, document_id, name, chunks, ids, progress)
        with connect(settings.db_path, write=True) as conn:
            conn.execute("UPDATE documents SET status = 'ready' WHERE id = ?", (document_id,))
            bump(conn, kb)
    except BaseException as exc:
        delete_document(settings, kb, document_id)  # nothing half-stored is left behind
        if isinstance(exc, Exception) and not isinstance(exc, PromptLabError):
            log.exception("storing %s failed", name)
            raise DocumentError(f"{name}: storing its chunks failed ({exc}).") from exc
        raise
    progress(Progress(name, "done", len(chunks), len(chunks),
                      f"{len(chunks)} chunks from {parsed.kind}"))
    log.info("ingested %s into %s: %s, %d chunks", name, kb.name, parsed.kind, len(chunks))
    return IngestResult(name, "stored", len(chunks), f"{len(chunks)} chunks", document_id)


def forecast(model: str, chunks: int) -> str:
    """"about 40 s" for embedding this many chunks, at the rate measured so far."""
    seconds = embeddings.estimate_seconds(model, chunks)
    return f"about {seconds:,.0f} s" if seconds < 90 else f"about {seconds / 60:,.0f} min"


def _register(settings: Settings, kb: KnowledgeBase, name: str, kind: str, byte_size: int,
              sha: str, chunks: list[Chunk], ids: list[str]) -> int:
    """The document and its chunk texts, marked 'storing' until every vector is in."""
    with connect(settings.db_path, write=True) as conn:
        cur = conn.execute("INSERT INTO documents (kb_id, name, kind, size, sha256, status, "
                           "chunk_count, added_at) VALUES (?, ?, ?, ?, ?, 'storing', ?, ?)",
                           (kb.id, name, kind, byte_size, sha, len(chunks), now_iso()))
        document_id = int(cur.lastrowid)
        conn.executemany("INSERT INTO chunks (id, kb_id, document_id, idx, text, tokens, page, "
                         "heading) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(cid, kb.id, document_id, c.index, c.text, c.tokens, c.page, c.heading)
                          for cid, c in zip(ids, chunks, strict=True)])
    return document_id


def _embed_and_store(settings: Settings, kb: KnowledgeBase, document_id: int, name: str,
                     chunks: list[Chunk], ids: list[str], progress: ProgressFn) -> None:
    """Embed a batch, write it to the index, report, and let it go: memory stays bounded by
    the batch, and the guard stops an ingest that grows the process past its setting."""
    model, total = kb.embedding_model, len(chunks)
    guard = MemoryGuard(settings.ingest_memory_mb)
    progress(Progress(name, "embed", 0, total, forecast(model, total)))
    for start in range(0, total, EMBED_BATCH):
        part = chunks[start:start + EMBED_BATCH]
        vectors = embeddings.embed(model, [c.text for c in part])
        metadatas = [{"document_id": document_id, "source": name, "index": c.index,
                      **({"page": c.page} if c.page is not None else {}),
                      **({"heading": c.heading[:200]} if c.heading else {})} for c in part]
        index.upsert(settings, kb.collection, ids[start:start + EMBED_BATCH], vectors,
                     [c.text for c in part], metadatas)
        done = start + len(part)
        if guard.over():
            raise DocumentError(
                f"{name}: the ingest grew the app by {guard.grown():,.0f} MB, past the "
                f"{settings.ingest_memory_mb:,} MB limit, and was stopped.",
                hint="Split the file, or raise PROMPTLAB_INGEST_MEMORY_MB.")
        progress(Progress(name, "embed", done, total,
                          f"{forecast(model, total - done)} left" if done < total else ""))


def rebuild_index(settings: Settings, kb: KnowledgeBase,
                  progress: ProgressFn = lambda p: None) -> int:
    """Recreate the Chroma collection from the registry: same ids, same count."""
    index.drop(settings, kb.collection)
    total = 0
    for doc in documents(settings, kb):
        if doc.status != "ready":
            if abandoned(settings, doc.id):  # a crash's leftover is not part of the index
                delete_document(settings, kb, doc.id)
            continue
        rows = chunks_of(settings, doc.id)
        chunks = [Chunk(r["idx"], r["text"], r["tokens"], 0, r["page"], r["heading"])
                  for r in rows]
        _embed_and_store(settings, kb, doc.id, doc.name, chunks, [r["id"] for r in rows],
                         progress)
        total += len(chunks)
        progress(Progress(doc.name, "done", len(chunks), len(chunks)))
    log.info("rebuilt the index of %s: %d chunks", kb.name, total)
    return total
