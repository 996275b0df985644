"""Retrieval over a knowledge base: dense (Chroma), BM25 (bm25s) and hybrid (the two fused,
lib.knowledge.fusion), optionally limited to some documents; each base keeps its own fusion
settings."""

from __future__ import annotations

from dataclasses import dataclass

from lib.core import SearchError, Settings
from lib.knowledge import embeddings, index, keyword
from lib.knowledge.fusion import Evidence, FusionSettings, fuse, single, spread
from lib.knowledge.registry import KnowledgeBase, chunk_documents, chunk_ids_of, chunk_rows
from lib.storage import connect

MODES = ("hybrid", "dense", "bm25")
POOL = 100  # candidates taken from each list: fusion and spreading need more than k


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    rank: int                 # 1-based
    score: float              # the list's own score, or the fused one for hybrid
    text: str
    document_id: int
    source: str
    page: int | None
    heading: str | None
    index: int
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None


def fill_hits(settings: Settings, ranked: list[Evidence]) -> list[Hit]:
    """Fill texts and metadata from the registry, the source of truth."""
    rows = chunk_rows(settings, [e.chunk_id for e in ranked])
    return [Hit(e.chunk_id, rank, e.score, rows[e.chunk_id]["text"],
                rows[e.chunk_id]["document_id"], rows[e.chunk_id]["name"],
                rows[e.chunk_id]["page"], rows[e.chunk_id]["heading"], rows[e.chunk_id]["idx"],
                e.dense_rank, e.dense_score, e.bm25_rank, e.bm25_score)
            for rank, e in enumerate((e for e in ranked if e.chunk_id in rows), 1)]


def dense(settings: Settings, kb: KnowledgeBase, query: str, k: int,
          document_ids: list[int] | None = None) -> list[tuple[str, float]]:
    return dense_by_vector(settings, kb, embeddings.embed_query(kb.embedding_model, query), k,
                           document_ids)


def dense_by_vector(settings: Settings, kb: KnowledgeBase, vector, k: int,
                    document_ids: list[int] | None = None) -> list[tuple[str, float]]:
    """The k nearest chunks to an embedded query, by cosine similarity."""
    return index.nearest(settings, kb.collection, vector, k, document_ids)


def bm25(settings: Settings, kb: KnowledgeBase, query: str, k: int,
         document_ids: list[int] | None = None) -> list[tuple[str, float]]:
    import numpy as np

    retriever, ids = keyword.index_for(settings, kb)
    tokens = keyword.keyword_tokens([query])
    if retriever is None or not tokens.vocab:
        return []
    mask = None
    if document_ids:
        allowed = chunk_ids_of(settings, document_ids)
        mask = np.array([cid in allowed for cid in ids], dtype=np.float32)
    found, scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False,
                                       weight_mask=mask)
    return [(ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]


def search(settings: Settings, kb: KnowledgeBase, query: str, k: int = 5, mode: str = "hybrid",
           document_ids: list[int] | None = None,
           fusion: FusionSettings | None = None) -> list[Hit]:
    """The top k chunks for a query, by the base's fusion settings unless others are given."""
    if mode not in MODES:
        raise SearchError(f"Unknown retrieval mode {mode!r}.")
    if not query.strip():
        return []
    fs = (fusion or search_settings(settings, kb)).checked()
    pool = max(POOL, 10 * k)
    if mode == "dense":
        ranked = single(dense(settings, kb, query, pool, document_ids), "dense")
    elif mode == "bm25":
        ranked = single(bm25(settings, kb, query, pool, document_ids), "bm25")
    else:
        keyword = bm25(settings, kb, query, pool, document_ids)
        ranked = fuse(dense(settings, kb, query, pool, document_ids), keyword, fs,
                      bm25_complete=len(keyword) < pool)
    owner = chunk_documents(settings, [e.chunk_id for e in ranked])
    return fill_hits(settings, spread(ranked, lambda cid: owner.get(cid, -1), k,
                                      fs.per_document))


def search_settings(settings: Settings, kb: KnowledgeBase) -> FusionSettings:
    """The base's fusion settings; the defaults until someone saves others."""
    with connect(settings.db_path) as conn:
        row = conn.execute("SELECT method, dense_weight, rrf_k, per_document FROM "
                           "search_settings WHERE kb_id = ?", (kb.id,)).fetchone()
    return FusionSettings(*row) if row else FusionSettings()


def save_search_settings(settings: Settings, kb: KnowledgeBase, fs: FusionSettings) -> None:
    fs.checked()
    with connect(settings.db_path, write=True) as conn:
        conn.execute("INSERT INTO search_settings VALUES (?, ?, ?, ?, ?) ON CONFLICT (kb_id) DO "
                     "UPDATE SET method = excluded.method, dense_weight = excluded.dense_weight, "
                     "rrf_k = excluded.rrf_k, per_document = excluded.per_document",
                     (kb.id, fs.method, float(fs.dense_weight), int(fs.rrf_k),
                      int(fs.per_document)))
