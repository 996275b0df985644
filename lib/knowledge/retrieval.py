"""Retrieval over a knowledge base: dense (Chroma), BM25 (bm25s) and hybrid (the two fused,
lib.knowledge.fusion), optionally limited to some documents; each base keeps its own fusion
settings. Dense and BM25 are each their retriever's own ranking; spreading results across
documents is part of hybrid only. `side_by_side` is the Retrieval page's view: the three at
once, every hit with its place in both rankings over every chunk searched."""

from __future__ import annotations

from dataclasses import dataclass

from lib.core import SearchError, Settings
from lib.knowledge import embeddings, index, keyword
from lib.knowledge.fusion import Evidence, FusionSettings, fuse, single, spread
from lib.knowledge.registry import KnowledgeBase, chunk_documents, chunk_ids_of, chunk_rows
from lib.storage import Database

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
    rows = chunk_rows(settings.db, [e.chunk_id for e in ranked])
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


def bm25(settings: Settings, kb: KnowledgeBase, query: str, k: int | None,
         document_ids: list[int] | None = None) -> list[tuple[str, float]]:
    """The k best keyword matches (k=None: every chunk that shares a word with the query)."""
    import numpy as np

    retriever, ids = keyword.index_for(settings, kb)
    tokens = keyword.keyword_tokens([query])
    if retriever is None or not tokens.vocab:
        return []
    mask = None
    if document_ids:
        allowed = chunk_ids_of(settings.db, document_ids)
        mask = np.array([cid in allowed for cid in ids], dtype=np.float32)
    found, scores = retriever.retrieve(tokens, k=len(ids) if k is None else min(k, len(ids)),
                                       show_progress=False, weight_mask=mask)
    return [(ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]


def search(settings: Settings, kb: KnowledgeBase, query: str, k: int = 5, mode: str = "hybrid",
           document_ids: list[int] | None = None,
           fusion: FusionSettings | None = None) -> list[Hit]:
    """The top k chunks for a query, by the base's fusion settings unless others are given."""
    if mode not in MODES:
        raise SearchError(f"Unknown retrieval mode {mode!r}.")
    if not query.strip():
        return []
    fs = (fusion or search_settings(settings.db, kb)).checked()
    pool = max(POOL, 10 * k)
    if mode == "dense":
        return fill_hits(settings, single(dense(settings, kb, query, k, document_ids),
                                          "dense"))
    if mode == "bm25":
        return fill_hits(settings, single(bm25(settings, kb, query, k, document_ids), "bm25"))
    return fill_hits(settings, _hybrid(settings, dense(settings, kb, query, pool, document_ids),
                                       bm25(settings, kb, query, pool, document_ids), fs, k))


def _hybrid(settings: Settings, dense_pool: list[tuple[str, float]],
            keyword_pool: list[tuple[str, float]], fs: FusionSettings, k: int
            ) -> list[Evidence]:
    """The two pools fused, then spread across documents (fs.per_document)."""
    ranked = fuse(dense_pool, keyword_pool, fs,
                  bm25_complete=len(keyword_pool) < max(POOL, 10 * k))
    owner = chunk_documents(settings.db, [e.chunk_id for e in ranked])
    return spread(ranked, lambda cid: owner.get(cid, -1), k, fs.per_document)


@dataclass(frozen=True)
class SideBySide:
    """One query through each retriever. Dense and BM25 are their own rankings; hybrid is
    fused and spread across documents. Every hit carries its dense and BM25 rank over all
    `searched` chunks (the whole base, or the documents picked); a BM25 rank is missing where
    a chunk shares no word with the query."""
    dense: list[Hit]
    bm25: list[Hit]
    hybrid: list[Hit]
    searched: int


def side_by_side(settings: Settings, kb: KnowledgeBase, query: str, k: int = 5,
                 document_ids: list[int] | None = None,
                 fusion: FusionSettings | None = None) -> SideBySide:
    """What the Retrieval page shows: both full rankings, their top k, and hybrid from their
    first POOL places (what `search` fuses)."""
    fs = (fusion or search_settings(settings.db, kb)).checked()
    if not query.strip():
        return SideBySide([], [], [], 0)
    vectors = index.count(settings, kb.collection)
    dense_all = dense(settings, kb, query, vectors, document_ids) if vectors else []
    bm25_all = bm25(settings, kb, query, None, document_ids)
    d = {cid: (r, s) for r, (cid, s) in enumerate(dense_all, 1)}
    b = {cid: (r, s) for r, (cid, s) in enumerate(bm25_all, 1)}

    def placed(cid: str, score: float) -> Evidence:
        return Evidence(cid, score, *d.get(cid, (None, None)), *b.get(cid, (None, None)))

    pool = max(POOL, 10 * k)
    hybrid = _hybrid(settings, dense_all[:pool], bm25_all[:pool], fs, k)
    return SideBySide(
        fill_hits(settings, [placed(cid, s) for cid, s in dense_all[:k]]),
        fill_hits(settings, [placed(cid, s) for cid, s in bm25_all[:k]]),
        fill_hits(settings, [placed(e.chunk_id, e.score) for e in hybrid]),
        len(dense_all) or len(bm25_all))


def search_settings(db: Database, kb: KnowledgeBase) -> FusionSettings:
    """The base's fusion settings; the defaults until someone saves others."""
    with db.connect() as conn:
        row = conn.execute("SELECT method, dense_weight, rrf_k, per_document FROM "
                           "search_settings WHERE kb_id = ?", (kb.id,)).fetchone()
    return FusionSettings(*row) if row else FusionSettings()


def save_search_settings(db: Database, kb: KnowledgeBase, fs: FusionSettings) -> None:
    fs.checked()
    with db.connect(write=True) as conn:
        conn.execute("INSERT INTO search_settings VALUES (?, ?, ?, ?, ?) ON CONFLICT (kb_id) DO "
                     "UPDATE SET method = excluded.method, dense_weight = excluded.dense_weight, "
                     "rrf_k = excluded.rrf_k, per_document = excluded.per_document",
                     (kb.id, fs.method, float(fs.dense_weight), int(fs.rrf_k),
                      int(fs.per_document)))
