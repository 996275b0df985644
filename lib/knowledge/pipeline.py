"""Ingest: parse, chunk, embed and store uploaded files, with progress; rebuild an index.

A batch of uploads goes through in three steps: each file is screened (size, duplicate), the
files are parsed (small ones several to a worker round trip) and chunked, and every
document's chunks are embedded and stored in batches that span files (lib.knowledge.storing).
The registry rows go in first (status 'storing'), then the vectors, then 'ready'. A file that
fails at any stage leaves no chunk behind, and the rest of the batch goes on. A document may
not become more chunks than a setting allows (checked before anything is embedded), nor the
ingest grow the app's memory past another. Chunk ids derive from content, so the same file
ingested twice changes nothing. Progress is reported per upload, by its place in the batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lib.core import DocumentError, PromptLabError, Settings
from lib.knowledge import embeddings, index
from lib.knowledge.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk_sections
from lib.knowledge.parsing import Parsed, parse_many
from lib.knowledge.registry import (
    KnowledgeBase,
    abandoned,
    chunks_of,
    delete_document,
    documents,
    find_document,
    register_document,
)
from lib.knowledge.storing import Pending, embed_and_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One upload's progress. stage: parse, chunk, load, embed, done, skipped or failed;
    `index` is the upload's place in the batch (two files may share a name)."""

    index: int
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
    """Ingest every file; one result per file, in order. Failures belong to their file."""
    results: list[IngestResult | None] = [None] * len(files)

    def failed(i: int, exc: Exception) -> None:
        name = files[i][0]
        if isinstance(exc, PromptLabError):
            message = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            log.info("ingest %s into %s failed: %s", name, kb.name, exc.message)
        else:
            message = f"{name}: could not be added ({type(exc).__name__}: {exc})."
            log.error("ingest %s into %s failed", name, kb.name, exc_info=exc)
        progress(Progress(i, name, "failed", message=message))
        results[i] = IngestResult(name, "failed", message=message)

    screened: list[tuple[int, str]] = []  # (upload index, sha) of files to parse
    for i, (name, data) in enumerate(files):
        try:
            sha = _screen(settings, kb, i, name, data, progress, results)
        except Exception as exc:  # any failure belongs to this file; the batch goes on
            failed(i, exc)
            continue
        if sha:
            screened.append((i, sha))
    parsed = parse_many([files[i] for i, _ in screened])
    pending: list[Pending] = []
    for (i, sha), outcome in zip(screened, parsed, strict=True):
        name, data = files[i]
        try:
            if isinstance(outcome, Exception):
                raise outcome
            pending.append(_prepare(settings, kb, i, name, outcome, len(data), sha, size,
                                    overlap, progress))
        except Exception as exc:
            failed(i, exc)
    _store_all(settings, kb, pending, progress, results)
    # Each file was skipped, failed, or reported stored or failed by embed_and_store.
    return results  # type: ignore[return-value]


def _screen(settings: Settings, kb: KnowledgeBase, i: int, name: str, data: bytes,
            progress: ProgressFn, results: list[IngestResult | None]) -> str | None:
    """The file's sha256 if it is to be parsed; None if it is already stored (skipped)."""
    limit = settings.max_upload_mb * 1024 * 1024
    if len(data) > limit:
        raise DocumentError(f"{name} is {len(data) / 1e6:,.1f} MB; the limit is "
                            f"{settings.max_upload_mb} MB.")
    sha = hashlib.sha256(data).hexdigest()
    existing = find_document(settings.db, kb, sha)
    if existing is not None and existing.status == "ready":
        message = f"already in the knowledge base ({existing.chunks} chunks)"
        progress(Progress(i, name, "skipped", message=message))
        results[i] = IngestResult(name, "skipped", existing.chunks, message, existing.id)
        return None
    if existing is not None:
        if not abandoned(settings.db, existing.id):
            raise DocumentError(f"{name} is being added right now (by another session).",
                                hint="Wait for it to finish.")
        delete_document(settings, kb, existing.id)  # a crash left it half-stored: start again
    progress(Progress(i, name, "parse"))
    return sha


def _prepare(settings: Settings, kb: KnowledgeBase, i: int, name: str, parsed: Parsed,
             byte_size: int, sha: str, size: int, overlap: int,
             progress: ProgressFn) -> Pending:
    """Chunk a parsed document, check its bounds, and register it ('storing')."""
    progress(Progress(i, name, "chunk", message=f"{parsed.kind}, {parsed.chars:,} characters"))
    model = kb.embedding_model
    chunks = chunk_sections(parsed.sections, size=size, overlap=overlap,
                            count_embed=lambda ts: embeddings.count_tokens(model, ts),
                            max_embed=embeddings.max_tokens(model))
    if len(chunks) > settings.max_chunks:
        raise DocumentError(f"{name} would become {len(chunks):,} chunks; the limit is "
                            f"{settings.max_chunks:,} per document, so nothing was embedded.",
                            hint="Split the file, use larger chunks, or raise "
                                 "PROMPTLAB_MAX_CHUNKS.")
    ids = [c.chunk_id(kb.collection, sha) for c in chunks]
    document_id = register_document(settings.db, kb, name=name, kind=parsed.kind, size=byte_size,
                                    sha=sha, chunks=chunks, ids=ids)
    return Pending(i, name, parsed.kind, document_id, chunks, ids)


def _store_all(settings: Settings, kb: KnowledgeBase, pending: list[Pending],
               progress: ProgressFn, results: list[IngestResult | None]) -> None:
    def report(d: Pending, stage: str, message: str) -> None:
        progress(Progress(d.index, d.name, stage, d.stored, len(d.chunks), message))
        if stage == "done":
            results[d.index] = IngestResult(d.name, "stored", len(d.chunks), message,
                                            d.document_id)
            log.info("ingested %s into %s: %s, %d chunks", d.name, kb.name, d.kind,
                     len(d.chunks))
        elif stage == "failed":
            results[d.index] = IngestResult(d.name, "failed", message=message)

    try:
        embed_and_store(settings, kb, pending, report)
    finally:  # an interrupt (Stop, a closed tab) leaves nothing half-stored
        for d in pending:
            if not d.done and not d.error:
                delete_document(settings, kb, d.document_id)


def index_parsed(settings: Settings, kb: KnowledgeBase, name: str, parsed: Parsed, *,
                 byte_size: int, sha: str, chunk_size: int = DEFAULT_SIZE,
                 overlap: int = DEFAULT_OVERLAP,
                 progress: ProgressFn = lambda p: None) -> IngestResult:
    """One already-parsed document to persisted (what bench_ingest times)."""
    results: list[IngestResult | None] = [None]
    pending = _prepare(settings, kb, 0, name, parsed, byte_size, sha, chunk_size, overlap,
                       progress)
    _store_all(settings, kb, [pending], progress, results)
    result = results[0]
    if result is None or result.status != "stored":
        raise DocumentError(result.message if result else f"{name}: not stored.")
    return result


def rebuild_index(settings: Settings, kb: KnowledgeBase,
                  progress: ProgressFn = lambda p: None) -> int:
    """Recreate the Chroma collection from the registry: same ids, same count."""
    index.drop(settings, kb.collection)
    pending = []
    for i, doc in enumerate(documents(settings.db, kb)):
        if doc.status != "ready":
            if abandoned(settings.db, doc.id):  # a crash's leftover is not part of the index
                delete_document(settings, kb, doc.id)
            continue
        rows = chunks_of(settings.db, doc.id)
        chunks = [Chunk(r["idx"], r["text"], r["tokens"], 0, r["page"], r["heading"])
                  for r in rows]
        pending.append(Pending(i, doc.name, doc.kind, doc.id, chunks, [r["id"] for r in rows]))

    def report(d: Pending, stage: str, message: str) -> None:
        progress(Progress(d.index, d.name, stage, d.stored, len(d.chunks), message))

    embed_and_store(settings, kb, pending, report, new=False)
    total = sum(len(d.chunks) for d in pending if d.done)
    log.info("rebuilt the index of %s: %d chunks", kb.name, total)
    return total
