"""Knowledge bases: documents parsed, chunked, embedded and stored in Chroma.

The SQLite registry (documents and chunk texts) is the source of truth; a Chroma collection per
knowledge base is an index that can be rebuilt from it. Chunk ids derive from content, so the
same file ingested twice changes nothing. A file that fails at any stage leaves no chunk behind.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib import db, embeddings
from lib.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk_sections
from lib.errors import DocumentError, PromptLabError
from lib.ledger import now_iso
from lib.parsing import Parsed, parse
from lib.settings import Settings

EMBED_BATCH = 64


@dataclass(frozen=True)
class KnowledgeBase:
    id: int
    name: str
    collection: str
    embedding_model: str
    created_at: str
    version: int = 0


@dataclass(frozen=True)
class Document:
    id: int
    name: str
    kind: str
    size: int
    sha256: str
    status: str
    chunks: int
    added_at: str


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


# -- Chroma ---------------------------------------------------------------------------------

@functools.cache
def _client(data_dir: Path, host: str | None, port: int):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    options = ChromaSettings(anonymized_telemetry=False)
    try:
        if host:
            return chromadb.HttpClient(host=host, port=port, settings=options)
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=options)
    except Exception as exc:
        where = f"the Chroma server at {host}:{port}" if host else f"{data_dir / 'chroma'}"
        raise PromptLabError(f"Could not open {where}: {exc}",
                             hint="Check PROMPTLAB_CHROMA_HOST / PORT, or start `chroma run`."
                             ) from None


def client(settings: Settings):
    return _client(settings.data_dir, settings.chroma_host, settings.chroma_port)


_collections: dict[tuple[int, str], Any] = {}


def _collection(settings: Settings, kb: KnowledgeBase, *, fresh: bool = False):
    """The knowledge base's Chroma collection, created on first use and then reused
    (asking Chroma for it costs ~0.7 ms, a fifth of a query)."""
    c = client(settings)
    key = (id(c), kb.collection)
    if fresh or key not in _collections:
        # Vectors come from our own model: never let Chroma load (download) its default one.
        _collections[key] = c.get_or_create_collection(
            kb.collection, embedding_function=None, metadata={"hnsw:space": "cosine"})
    return _collections[key]


def _drop_collection(settings: Settings, kb: KnowledgeBase) -> None:
    import contextlib

    c = client(settings)
    _collections.pop((id(c), kb.collection), None)
    with contextlib.suppress(Exception):  # missing or damaged: either way, it is gone
        c.delete_collection(kb.collection)


# -- knowledge bases ------------------------------------------------------------------------

def _collection_name(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "kb"
    return f"kb-{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def create_kb(settings: Settings, name: str) -> KnowledgeBase:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise DocumentError("A knowledge base needs a name of 1 to 80 characters.")
    model = embeddings.model_name(settings)
    try:
        with db.connect(settings.db_path, write=True) as conn:
            conn.execute("INSERT INTO knowledge_bases (name, collection, embedding_model, "
                         "created_at) VALUES (?, ?, ?, ?)",
                         (name, _collection_name(name), model, now_iso()))
    except PromptLabError as exc:
        if "UNIQUE" in str(exc):
            raise DocumentError(f"A knowledge base named {name!r} already exists.") from None
        raise
    return get_kb(settings, name)


def get_kb(settings: Settings, name: str) -> KnowledgeBase:
    with db.connect(settings.db_path) as conn:
        row = conn.execute("SELECT * FROM knowledge_bases WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise DocumentError(f"There is no knowledge base named {name!r}.")
    return KnowledgeBase(**dict(row))


def list_kbs(settings: Settings) -> list[KnowledgeBase]:
    with db.connect(settings.db_path) as conn:
        rows = conn.execute("SELECT * FROM knowledge_bases ORDER BY name").fetchall()
    return [KnowledgeBase(**dict(r)) for r in rows]


def delete_kb(settings: Settings, kb: KnowledgeBase) -> None:
    _drop_collection(settings, kb)
    with db.connect(settings.db_path, write=True) as conn:
        conn.execute("DELETE FROM knowledge_bases WHERE id = ?", (kb.id,))


# -- documents ------------------------------------------------------------------------------

def documents(settings: Settings, kb: KnowledgeBase) -> list[Document]:
    with db.connect(settings.db_path) as conn:
        rows = conn.execute("SELECT id, name, kind, size, sha256, status, chunk_count AS chunks,"
                            " added_at FROM documents WHERE kb_id = ? ORDER BY added_at DESC",
                            (kb.id,)).fetchall()
    return [Document(**dict(r)) for r in rows]


def chunks_of(settings: Settings, document_id: int) -> list[dict]:
    with db.connect(settings.db_path) as conn:
        rows = conn.execute("SELECT id, idx, text, tokens, page, heading FROM chunks "
                            "WHERE document_id = ? ORDER BY idx", (document_id,)).fetchall()
    return [dict(r) for r in rows]


ABANDONED_AFTER_S = 600  # a document still 'storing' after this was left by a crash


def _abandoned(settings: Settings, document_id: int) -> bool:
    import datetime as dt

    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ABANDONED_AFTER_S)).isoformat(
        timespec="milliseconds")
    with db.connect(settings.db_path) as conn:
        row = conn.execute("SELECT added_at FROM documents WHERE id = ?",
                           (document_id,)).fetchone()
    return row is None or row[0] < cutoff


def _bump(conn, kb: KnowledgeBase) -> None:
    """Count changes to a knowledge base's documents, so cached BM25 indexes notice."""
    conn.execute("UPDATE knowledge_bases SET version = version + 1 WHERE id = ?", (kb.id,))


def _remove(settings: Settings, kb: KnowledgeBase, document_id: int) -> None:
    """Drop a document's vectors, then its registry rows (chunks go with it)."""
    with db.connect(settings.db_path) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?",
                                          (document_id,))]
    collection = _collection(settings, kb)
    for i in range(0, len(ids), 1000):
        collection.delete(ids=ids[i:i + 1000])
    with db.connect(settings.db_path, write=True) as conn:
        conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        _bump(conn, kb)


def delete_document(settings: Settings, kb: KnowledgeBase, document_id: int) -> None:
    _remove(settings, kb, document_id)


def ingest(settings: Settings, kb: KnowledgeBase, files: list[tuple[str, bytes]], *,
           size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
           progress: Callable[[Progress], None] = lambda p: None) -> list[IngestResult]:
    """Ingest each file; a failure is reported for that file and the batch goes on."""
    results = []
    for name, data in files:
        try:
            results.append(_ingest_one(settings, kb, name, data, size, overlap, progress))
        except Exception as exc:  # any failure belongs to this file; the batch goes on
            message = str(exc) if isinstance(exc, PromptLabError) else (
                f"{name}: could not be added ({type(exc).__name__}: {exc}).")
            progress(Progress(name, "failed", message=message))
            results.append(IngestResult(name, "failed", message=message))
    return results


def _ingest_one(settings: Settings, kb: KnowledgeBase, name: str, data: bytes, size: int,
                overlap: int, progress: Callable[[Progress], None]) -> IngestResult:
    limit = settings.max_upload_mb * 1024 * 1024
    if len(data) > limit:
        raise DocumentError(f"{name} is {len(data) / 1e6:,.1f} MB; the limit is "
                            f"{settings.max_upload_mb} MB.")
    sha = hashlib.sha256(data).hexdigest()
    with db.connect(settings.db_path) as conn:
        existing = conn.execute("SELECT id, status, chunk_count FROM documents WHERE kb_id = ? "
                                "AND sha256 = ?", (kb.id, sha)).fetchone()
    if existing is not None and existing["status"] == "ready":
        message = f"already in the knowledge base ({existing['chunk_count']} chunks)"
        progress(Progress(name, "skipped", message=message))
        return IngestResult(name, "skipped", existing["chunk_count"], message, existing["id"])
    if existing is not None:
        if not _abandoned(settings, existing["id"]):
            raise DocumentError(f"{name} is being added right now (by another session).",
                                hint="Wait for it to finish.")
        _remove(settings, kb, existing["id"])  # a crash left it half-stored: start again

    progress(Progress(name, "parse"))
    parsed = parse(data, name)
    return index_parsed(settings, kb, name, parsed, byte_size=len(data), sha=sha,
                        chunk_size=size, overlap=overlap, progress=progress)


def index_parsed(settings: Settings, kb: KnowledgeBase, name: str, parsed: Parsed, *,
                 byte_size: int, sha: str, chunk_size: int = DEFAULT_SIZE,
                 overlap: int = DEFAULT_OVERLAP,
                 progress: Callable[[Progress], None] = lambda p: None) -> IngestResult:
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
    return IngestResult(name, "stored", len(chunks), f"{len(chunks)} chunks", document_id)


def _embed(model: str, name: str, texts: list[str],
           progress: Callable[[Progress], None]) -> list:
    """Embed in batches, reporting progress after each."""
    vectors: list = []
    for i in range(0, len(texts), EMBED_BATCH):
        progress(Progress(name, "embed", i, len(texts)))
        vectors.extend(embeddings.embed(model, texts[i:i + EMBED_BATCH]))
    progress(Progress(name, "embed", len(texts), len(texts)))
    return vectors


def _store(settings: Settings, kb: KnowledgeBase, name: str, kind: str, byte_size: int, sha: str,
           chunks: list[Chunk], ids: list[str], vectors: list,
           progress: Callable[[Progress], None]) -> int:
    """Registry first (status 'storing'), then Chroma, then 'ready'; undo both on failure."""
    with db.connect(settings.db_path, write=True) as conn:
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
        with db.connect(settings.db_path, write=True) as conn:
            conn.execute("UPDATE documents SET status = 'ready' WHERE id = ?", (document_id,))
            _bump(conn, kb)
    except BaseException as exc:
        _remove(settings, kb, document_id)
        if isinstance(exc, Exception) and not isinstance(exc, PromptLabError):
            raise DocumentError(f"{name}: storing its chunks failed ({exc}).") from exc
        raise
    return document_id


def _upsert(settings: Settings, kb: KnowledgeBase, document_id: int, name: str,
            chunks: list[Chunk], ids: list[str], vectors: list,
            progress: Callable[[Progress], None]) -> None:
    import numpy as np

    collection = _collection(settings, kb)
    matrix = np.asarray(vectors, dtype=np.float32)
    step = client(settings).get_max_batch_size()  # one add takes at most this many items
    for i in range(0, len(chunks), step):
        part = chunks[i:i + step]
        collection.upsert(
            ids=ids[i:i + step], embeddings=matrix[i:i + step], documents=[c.text for c in part],
            metadatas=[{"document_id": document_id, "source": name, "index": c.index,
                        **({"page": c.page} if c.page is not None else {}),
                        **({"heading": c.heading[:200]} if c.heading else {})} for c in part])
        progress(Progress(name, "store", min(i + step, len(chunks)), len(chunks)))


def rebuild_index(settings: Settings, kb: KnowledgeBase,
                  progress: Callable[[Progress], None] = lambda p: None) -> int:
    """Recreate the Chroma collection from the registry: same ids, same count."""
    _drop_collection(settings, kb)
    total = 0
    for doc in documents(settings, kb):
        if doc.status != "ready":
            if _abandoned(settings, doc.id):  # a crash's leftover is not part of the index
                _remove(settings, kb, doc.id)
            continue
        rows = chunks_of(settings, doc.id)
        chunks = [Chunk(r["idx"], r["text"], r["tokens"], 0, r["page"], r["heading"])
                  for r in rows]
        vectors = _embed(kb.embedding_model, doc.name, [c.text for c in chunks], progress)
        _upsert(settings, kb, doc.id, doc.name, chunks, [r["id"] for r in rows], vectors,
                progress)
        total += len(chunks)
        progress(Progress(doc.name, "done", len(chunks), len(chunks)))
    return total


def link_call(settings: Settings, call_id: int, chunk_ids: list[str]) -> None:
    """Record which chunks grounded a model call (the ledger row's id)."""
    with db.connect(settings.db_path, write=True) as conn:
        conn.executemany("INSERT OR IGNORE INTO call_chunks (call_id, chunk_id, rank) "
                         "VALUES (?, ?, ?)",
                         [(call_id, cid, rank) for rank, cid in enumerate(chunk_ids, 1)])


def chunks_for_call(settings: Settings, call_id: int) -> list[str]:
    with db.connect(settings.db_path) as conn:
        return [r[0] for r in conn.execute("SELECT chunk_id FROM call_chunks WHERE call_id = ? "
                                           "ORDER BY rank", (call_id,))]


def index_count(settings: Settings, kb: KnowledgeBase) -> int:
    return _with_collection(settings, kb, lambda c: c.count())


def _with_collection(settings: Settings, kb: KnowledgeBase, use: Callable[[Any], Any]) -> Any:
    """Use the collection; if it was replaced behind our back, look it up once more."""
    try:
        return use(_collection(settings, kb))
    except Exception:
        try:
            return use(_collection(settings, kb, fresh=True))
        except Exception as exc:
            raise PromptLabError(f"The vector index of {kb.name!r} could not be read: {exc}",
                                 hint="Rebuild it on the Documents page.") from None


# -- BM25 over the registry -------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _bm25(db_path: Path, kb_id: int, collection: str, version: int):
    """A BM25 index of a knowledge base's ready chunks; cached per version of the base.

    The collection name is in the key because SQLite may give a new base a deleted one's id.
    """
    import bm25s

    with db.connect(db_path) as conn:
        rows = conn.execute("SELECT c.id, c.text FROM chunks c JOIN documents d ON "
                            "d.id = c.document_id WHERE c.kb_id = ? AND d.status = 'ready' "
                            "ORDER BY c.rowid", (kb_id,)).fetchall()
    if not rows:
        return None, []
    retriever = bm25s.BM25()
    retriever.index(bm25_tokens([r[1] for r in rows]), show_progress=False)
    return retriever, [r[0] for r in rows]


@functools.cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokens(texts: list[str]):
    """English stop words out, words stemmed ("serialized" and "serialize" match)."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(),
                          show_progress=False)


def bm25_index(settings: Settings, kb: KnowledgeBase):
    """(retriever or None, chunk ids in index order)."""
    with db.connect(settings.db_path) as conn:
        version = conn.execute("SELECT version FROM knowledge_bases WHERE id = ?",
                               (kb.id,)).fetchone()[0]
    return _bm25(settings.db_path, kb.id, kb.collection, version)
