"""The document registry in the database (SQLite or PostgreSQL), the source of truth:
knowledge bases, documents, chunk texts, and which chunks grounded which model call. Chroma
is an index rebuilt from this.

The only module that writes the documents and chunks tables: ingest registers a document and
marks it ready through here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.core import (
    ConflictError,
    KnowledgeBaseError,
    Settings,
    VectorIndexError,
    ago_iso,
    now_iso,
)
from lib.knowledge import embeddings, index
from lib.knowledge.chunking import Chunk
from lib.storage import Database

ABANDONED_AFTER_S = 600  # a document still 'storing' after this was left by a crash


@dataclass(frozen=True)
class KnowledgeBase:
    id: int
    name: str
    collection: str
    embedding_model: str
    created_at: str
    version: int = 0
    index_generation: int = 0
    owner: str | None = None       # who created it, when sign-in is on (shared, shown)


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


# -- knowledge bases ------------------------------------------------------------------------

def _collection_name(name: str) -> str:
    """Unique per creation: a collection left behind by a failed drop is never reused by a
    later base of the same name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "kb"
    return f"kb-{slug}-{uuid.uuid4().hex[:12]}"


def create_kb(settings: Settings, name: str, *, owner: str | None = None) -> KnowledgeBase:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise KnowledgeBaseError("A knowledge base needs a name of 1 to 80 characters.")
    model = embeddings.model_name(settings)
    try:
        with settings.db.connect(write=True) as conn:
            conn.execute("INSERT INTO knowledge_bases (name, collection, embedding_model, "
                         "created_at, owner) VALUES (?, ?, ?, ?, ?)",
                         (name, _collection_name(name), model, now_iso(), owner))
    except ConflictError:
        raise KnowledgeBaseError(f"A knowledge base named {name!r} already exists.") from None
    return get_kb(settings.db, name)


def get_kb(db: Database, name: str) -> KnowledgeBase:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM knowledge_bases WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise KnowledgeBaseError(f"There is no knowledge base named {name!r}.")
    return KnowledgeBase(**dict(row))


def list_kbs(db: Database) -> list[KnowledgeBase]:
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM knowledge_bases ORDER BY name").fetchall()
    return [KnowledgeBase(**dict(r)) for r in rows]


def delete_kb(settings: Settings, kb: KnowledgeBase) -> None:
    """The index first (it can always be rebuilt), then the registry rows."""
    index.drop(settings, kb.collection)
    with settings.db.connect(write=True) as conn:
        conn.execute("DELETE FROM knowledge_bases WHERE id = ?", (kb.id,))


def bump_generation(db: Database, collection: str) -> None:
    """The collection was dropped: every process's cached handle to it is now stale."""
    with db.connect(write=True) as conn:
        conn.execute("UPDATE knowledge_bases SET index_generation = index_generation + 1 "
                     "WHERE collection = ?", (collection,))


def kb_version(db: Database, kb: KnowledgeBase) -> int:
    """Bumped on every change to the base's documents (cached BM25 indexes key off it)."""
    with db.connect() as conn:
        row = conn.execute("SELECT version FROM knowledge_bases WHERE id = ?",
                           (kb.id,)).fetchone()
    return row[0] if row else -1


def _bump(conn: Any, kb: KnowledgeBase) -> None:
    conn.execute("UPDATE knowledge_bases SET version = version + 1 WHERE id = ?", (kb.id,))


# -- documents and chunks -------------------------------------------------------------------

def documents(db: Database, kb: KnowledgeBase) -> list[Document]:
    with db.connect() as conn:
        rows = conn.execute("SELECT id, name, kind, size, sha256, status, chunk_count AS chunks,"
                            " added_at FROM documents WHERE kb_id = ? ORDER BY added_at DESC",
                            (kb.id,)).fetchall()
    return [Document(**dict(r)) for r in rows]


def find_document(db: Database, kb: KnowledgeBase, sha: str) -> Document | None:
    with db.connect() as conn:
        row = conn.execute("SELECT id, name, kind, size, sha256, status, chunk_count AS chunks,"
                           " added_at FROM documents WHERE kb_id = ? AND sha256 = ?",
                           (kb.id, sha)).fetchone()
    return Document(**dict(row)) if row else None


def chunks_of(db: Database, document_id: int) -> list[dict]:
    with db.connect() as conn:
        rows = conn.execute("SELECT id, idx, text, tokens, page, heading FROM chunks "
                            "WHERE document_id = ? ORDER BY idx", (document_id,)).fetchall()
    return [dict(r) for r in rows]


def ready_chunks(db: Database, kb_id: int) -> list[tuple[str, str, str | None]]:
    """(chunk id, text, heading) of every chunk of a ready document, in insertion order
    (documents by id, each one's chunks in order: how they are inserted)."""
    with db.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT c.id, c.text, c.heading FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.kb_id = ? AND d.status = 'ready' ORDER BY c.document_id, c.idx", (kb_id,))]


def chunk_texts(settings: Settings, kb: KnowledgeBase, ids: Sequence[str]
                ) -> list[dict[str, Any]]:
    """Chunks of this base only, by id, with where they come from."""
    return [r for r in chunk_rows(settings.db, ids).values() if r["kb_id"] == kb.id]


def chunk_documents(db: Database, ids: Sequence[str]) -> dict[str, int]:
    """The document of each chunk id (ids no longer in the registry are left out)."""
    if not ids:
        return {}
    with db.connect() as conn:
        return dict(conn.execute(f"SELECT id, document_id FROM chunks WHERE id IN "
                                 f"({','.join('?' * len(ids))})", list(ids)).fetchall())


def chunk_ids_of(db: Database, document_ids: Sequence[int]) -> set[str]:
    with db.connect() as conn:
        return {r[0] for r in conn.execute(
            f"SELECT id FROM chunks WHERE document_id IN ({','.join('?' * len(document_ids))})",
            list(document_ids))}


def chunk_rows(db: Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Chunk texts and where they come from, by id (what a search hit shows)."""
    if not ids:
        return {}
    with db.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(
            "SELECT c.id, c.kb_id, c.text, c.document_id, d.name, c.page, c.heading, c.idx "
            "FROM chunks c "
            f"JOIN documents d ON d.id = c.document_id WHERE c.id IN ({','.join('?' * len(ids))})",
            list(ids))}


def abandoned(db: Database, document_id: int) -> bool:
    """Whether a document still 'storing' was left by a crash (or is gone)."""
    with db.connect() as conn:
        row = conn.execute("SELECT added_at FROM documents WHERE id = ?",
                           (document_id,)).fetchone()
    return row is None or row[0] < ago_iso(ABANDONED_AFTER_S)


def delete_document(settings: Settings, kb: KnowledgeBase, document_id: int) -> None:
    """Drop a document's vectors, then its registry rows (chunks go with it)."""
    with settings.db.connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?",
                                          (document_id,))]
    index.delete(settings, kb.collection, ids)
    with settings.db.connect(write=True) as conn:
        conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        _bump(conn, kb)


def register_document(db: Database, kb: KnowledgeBase, *, name: str, kind: str,
                      size: int, sha: str, chunks: Sequence[Chunk], ids: Sequence[str]) -> int:
    """Add a document and its chunks (`ids`, in order), 'storing' until its vectors are in
    the index; its id."""
    with db.connect(write=True) as conn:
        cur = conn.execute("INSERT INTO documents (kb_id, name, kind, size, sha256, status, "
                           "chunk_count, added_at) VALUES (?, ?, ?, ?, ?, 'storing', ?, ?)",
                           (kb.id, name, kind, size, sha, len(chunks), now_iso()))
        document_id = int(cur.lastrowid)
        conn.executemany("INSERT INTO chunks (id, kb_id, document_id, idx, text, tokens, page, "
                         "heading) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(cid, kb.id, document_id, c.index, c.text, c.tokens, c.page, c.heading)
                          for cid, c in zip(ids, chunks, strict=True)])
    return document_id


def mark_ready(db: Database, kb: KnowledgeBase, document_ids: Sequence[int]) -> None:
    """Documents whose chunks are all in the index: ready to search (the base's version moves)."""
    with db.connect(write=True) as conn:
        conn.executemany("UPDATE documents SET status = 'ready' WHERE id = ?",
                         [(d,) for d in document_ids])
        _bump(conn, kb)


# -- call <-> chunk links -------------------------------------------------------------------

def link_call(db: Database, call_id: int, chunk_ids: list[str]) -> None:
    """Record which chunks grounded a model call (the ledger row's id)."""
    with db.connect(write=True) as conn:
        conn.executemany("INSERT INTO call_chunks (call_id, chunk_id, rank) "
                         "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         [(call_id, cid, rank) for rank, cid in enumerate(chunk_ids, 1)])


def chunks_for_call(db: Database, call_id: int) -> list[str]:
    with db.connect() as conn:
        return [r[0] for r in conn.execute("SELECT chunk_id FROM call_chunks WHERE call_id = ? "
                                           "ORDER BY rank", (call_id,))]


def index_count(settings: Settings, kb: KnowledgeBase) -> int:
    """Vectors in the base's Chroma collection."""
    return index.count(settings, kb.collection)


def indexed_ids(settings: Settings, kb: KnowledgeBase,
                only: Sequence[str] | None = None) -> list[str]:
    """Chunk ids present in the base's Chroma collection (of `only`, if given)."""
    return index.ids(settings, kb.collection, only)


def store_vectors(settings: Settings, kb: KnowledgeBase, ids: Sequence[str], vectors: Any,
                  texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
    """Write vectors for chunks already in the registry (ingest does this for you)."""
    index.upsert(settings, kb.collection, ids, vectors, texts, metadatas)


# -- index health ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexHealth:
    registry: int              # chunks of ready documents
    indexed: int | None        # vectors in Chroma; None when the index could not be read
    error: str = ""

    @property
    def agrees(self) -> bool:
        return self.indexed == self.registry


def index_health(settings: Settings, kb: KnowledgeBase) -> IndexHealth:
    """The registry's chunk count against the index's vector count."""
    registry = sum(d.chunks for d in documents(settings.db, kb) if d.status == "ready")
    try:
        return IndexHealth(registry, index_count(settings, kb))
    except VectorIndexError as exc:  # a damaged index is exactly what this reports
        return IndexHealth(registry, None, str(exc))
