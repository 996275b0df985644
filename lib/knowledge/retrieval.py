"""Retrieval over a knowledge base: dense (Chroma), BM25 (bm25s) and hybrid (reciprocal rank
fusion), optionally limited to some documents."""

from __future__ import annotations

from dataclasses import dataclass

from lib.core import KnowledgeBaseError, Settings
from lib.knowledge import embeddings, index, keyword
from lib.knowledge.registry import KnowledgeBase, chunk_ids_of, chunk_rows

MODES = ("hybrid", "dense", "bm25")
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    rank: int                 # 1-based
    score: float
    text: str
    document_id: int
    source: str
    page: int | None
    heading: str | None
    index: int


def fill_hits(settings: Settings, scored: list[tuple[str, float]]) -> list[Hit]:
    """Fill texts and metadata from the registry, the source of truth."""
    rows = chunk_rows(settings, [cid for cid, _ in scored])
    return [Hit(cid, rank, score, rows[cid]["text"], rows[cid]["document_id"], rows[cid]["name"],
                rows[cid]["page"], rows[cid]["heading"], rows[cid]["idx"])
            for rank, (cid, score) in enumerate((s for s in scored if s[0] in rows), 1)]


def dense(settings: Settings, kb: KnowledgeBase, query: str, k: int,
          document_ids: list[int] | None = None) -> list[tuple[str, float]]:
    return dense_by_vector(settings, kb, embeddings.embed(kb.embedding_model, [query]), k,
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


def fuse(*rankings: list[tuple[str, float]], k: int, rrf_k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each list adds 1 / (rrf_k + rank) for every chunk it ranks."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])[:k]


def search(settings: Settings, kb: KnowledgeBase, query: str, k: int = 5, mode: str = "hybrid",
           document_ids: list[int] | None = None) -> list[Hit]:
    if mode not in MODES:
        raise KnowledgeBaseError(f"Unknown retrieval mode {mode!r}.")
    if not query.strip():
        return []
    if mode == "dense":
        return fill_hits(settings, dense(settings, kb, query, k, document_ids))
    if mode == "bm25":
        return fill_hits(settings, bm25(settings, kb, query, k, document_ids))
    pool = max(k * 4, 40)  # fuse deeper lists than we return
    return fill_hits(settings, fuse(dense(settings, kb, query, pool, document_ids),
                                bm25(settings, kb, query, pool, document_ids), k=k))
