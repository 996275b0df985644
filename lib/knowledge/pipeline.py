"""Ingest: parse, chunk, embed and store each uploaded file, with progress; rebuild an index.

The registry row goes in first (status 'storing'), then the vectors, then 'ready'. A file that
fails at any stage leaves no chunk behind, and the rest of the batch goes on. Chunk ids derive
from content, so the same file ingested twice changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lib.core import DocumentError, PromptLabError, Settings, now_iso
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
EMBED_BATCH = 64


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
    """From extracted text to persisted: chunk, embed, store (what bench_ingest times)."""
    progress(Progress(name, "chunk", message=f"{parsed.kind}, {parsed.chars:,} characters"))
    model = kb.embedding_model
    chunks = chunk_sections(parsed.sections, size=chunk_size, overlap=overlap,
                            count_embed=lambda ts: embeddings.count_tokens(model, ts),
                            max_embed=embeddings.max_tokens(model))
    ids = [c.chunk_id(kb.collection, sha) for c in chunks]
    vectors = _embed(model, name, [c.text for c in chunks], progress)
    document_id = _store(settings, kb, name, parsed.kind, byte_size, sha, chunks, ids, vectors,
                         progress)
    progress(Progress(name, "done", len(chunks), len(chunks),
                      f"{len(chunks)} chunks from {parsed.kind}"))
    log.info("ingested %s into %s: %s, %d chunks", name, kb.name, parsed.kind, len(chunks))
    return IngestResult(name, "stored", len(chunks), f"{len(chunks)} chunks", document_id)


def _embed(model: str, name: str, texts: list[str], progress: ProgressFn) -> list:
    """Embed in batches, reporting progress after each."""
    vectors: list = []
    for i in range(0, len(texts), EMBED_BATCH):
        progress(Progress(name, "embed", i, len(texts)))
        vectors.extend(embeddings.embed(model, texts[i:i + EMBED_BATCH]))
    progress(Progress(name, "embed", len(texts), len(texts)))
    return vectors


def _store(settings: Settings, kb: KnowledgeBase, name: str, kind: str, byte_size: int, sha: str,
           chunks: list[Chunk], ids: list[str], vectors: list, progress: ProgressFn) -> int:
    """Registry first (status 'storing'), then Chroma, then 'ready'; undo both on failure."""
    with connect(settings.db_path, write=True) as conn:
        cur = conn.execute("INSERT INTO documents (kb_id, name, kind, size, sha256, status, "
                           "chunk_count, added_at) VALUES (?, ?, ?, ?, ?, 'storing', ?, ?)",
                           (kb.id, name, kind, byte_size, sha, len(chunks), now_iso()))
        document_id = int(cur.lastrowid)
        conn.executemany("INSERT INTO chunks (id, kb_id, document_id, idx, text, tokens, page, "
                         "heading) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(cid, kb.id, document_id, c.index, c.text, c.tokens, c.page, c.heading)
                          for cid, c in zip(ids, chunks, strict=True)])
    try:
        _upsert(settings, kb, document_id, name, chunks, ids, vectors, progress)
        with connect(settings.db_path, write=True) as conn:
            conn.execute("UPDATE documents SET status = 'ready' WHERE id = ?", (document_id,))
            bump(conn, kb)
    except BaseException as exc:
        delete_document(settings, kb, document_id)
        if isinstance(exc, Exception) and not isinstance(exc, PromptLabError):
            log.exception("storing %s failed", name)
            raise DocumentError(f"{name}: storing its chunks failed ({exc}).") from exc
        raise
    return document_id


def _upsert(settings: Settings, kb: KnowledgeBase, document_id: int, name: str,
            chunks: list[Chunk], ids: list[str], vectors: list, progress: ProgressFn) -> None:
    metadatas = [{"document_id": document_id, "source": name, "index": c.index,
                  **({"page": c.page} if c.page is not None else {}),
                  **({"heading": c.heading[:200]} if c.heading else {})} for c in chunks]
    index.upsert(settings, kb.collection, ids, vectors, [c.text for c in chunks], metadatas,
                 progress=lambda done: progress(Progress(name, "store", done, len(chunks))))


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
        vectors = _embed(kb.embedding_model, doc.name, [c.text for c in chunks], progress)
        _upsert(settings, kb, doc.id, doc.name, chunks, [r["id"] for r in rows], vectors,
                progress)
        total += len(chunks)
        progress(Progress(doc.name, "done", len(chunks), len(chunks)))
    log.info("rebuilt the index of %s: %d chunks", kb.name, total)
    return total
