"""Fusing a dense and a keyword ranking into one, and spreading results across documents.

Two methods, chosen per knowledge base:
- "scores": each list's scores become z-scores (how far above that list's mean a chunk
  sits), then a weighted sum. Unlike ranks, this keeps how *much* better the top of a list
  is: one clear keyword match outweighs ten lukewarm dense neighbours. A chunk the dense list
  did not reach gets its lowest z-score (it ranked below all of them). A chunk that shares no
  word with the query is missing from a complete keyword list: keywords know nothing about it
  (the vocabulary gap dense search exists for), so it counts as average (z = 0), not as worse
  than the weakest match. Measured in bench/bench_quality.py.
- "ranks": weighted reciprocal rank fusion, w / (k + rank) from each list (k = 60 as in
  Cormack et al.); with equal weights it is plain RRF.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lib.core import SearchError

METHODS = ("scores", "ranks")


@dataclass(frozen=True)
class FusionSettings:
    method: str = "scores"
    dense_weight: float = 0.5        # 0: keywords only, 1: embeddings only
    rrf_k: int = 60                  # "ranks" only: larger flattens the top ranks' advantage
    per_document: int = 1            # chunks of one document before other documents get a turn

    def checked(self) -> FusionSettings:
        if self.method not in METHODS:
            raise SearchError(f"Unknown fusion method {self.method!r}; use scores or ranks.")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SearchError("The dense weight must be between 0 and 1.")
        if not 1 <= self.rrf_k <= 1000:
            raise SearchError("The RRF constant must be between 1 and 1,000.")
        if not 1 <= self.per_document <= 100:
            raise SearchError("Chunks per document must be between 1 and 100.")
        return self


@dataclass(frozen=True)
class Evidence:
    """Why a chunk ranked: its place and score in each list, and the fused score."""
    chunk_id: str
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None


Ranking = list[tuple[str, float]]


def single(ranking: Ranking, which: Literal["dense", "bm25"]) -> list[Evidence]:
    """One list as evidence, unfused."""
    if which == "dense":
        return [Evidence(cid, s, dense_rank=r, dense_score=s)
                for r, (cid, s) in enumerate(ranking, 1)]
    return [Evidence(cid, s, bm25_rank=r, bm25_score=s) for r, (cid, s) in enumerate(ranking, 1)]


def _zscores(ranking: Ranking) -> tuple[dict[str, float], float]:
    """z-scores by chunk, and the floor given to chunks the list did not retrieve."""
    if not ranking:
        return {}, 0.0
    values = [s for _, s in ranking]
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values) or 1.0
    z = {cid: (s - mean) / spread for cid, s in ranking}
    return z, min(z.values())


def fuse(dense: Ranking, bm25: Ranking, fs: FusionSettings, *,
         bm25_complete: bool = False) -> list[Evidence]:
    """Both lists as one, best first; each chunk keeps where it stood in each list.
    bm25_complete: the keyword list holds every chunk that shares a word with the query."""
    w = fs.dense_weight
    d_rank = {cid: (r, s) for r, (cid, s) in enumerate(dense, 1)}
    b_rank = {cid: (r, s) for r, (cid, s) in enumerate(bm25, 1)}
    if fs.method == "scores":
        dz, d_floor = _zscores(dense)
        bz, b_floor = _zscores(bm25)
        if bm25_complete:
            b_floor = 0.0

        def score(cid: str) -> float:
            return w * dz.get(cid, d_floor) + (1 - w) * bz.get(cid, b_floor)
    else:
        def score(cid: str) -> float:
            d, b = d_rank.get(cid), b_rank.get(cid)
            return 2 * ((w / (fs.rrf_k + d[0]) if d else 0.0)
                        + ((1 - w) / (fs.rrf_k + b[0]) if b else 0.0))

    out = []
    for cid in dict.fromkeys([c for c, _ in dense] + [c for c, _ in bm25]):
        d, b = d_rank.get(cid), b_rank.get(cid)
        out.append(Evidence(cid, score(cid), d and d[0], d and d[1], b and b[0], b and b[1]))
    out.sort(key=lambda e: -e.score)
    return out


def spread(ranked: list[Evidence], document_of: Callable[[str], int], k: int,
           per_document: int) -> list[Evidence]:
    """The top k, taking at most `per_document` chunks of a document while other documents
    still have candidates; then the rest in order. A base of one document is unaffected."""
    picked: list[Evidence] = []
    held: list[Evidence] = []
    counts: dict[int, int] = {}
    for e in ranked:
        doc = document_of(e.chunk_id)
        if counts.get(doc, 0) < per_document:
            counts[doc] = counts.get(doc, 0) + 1
            picked.append(e)
            if len(picked) == k:
                return picked
        else:
            held.append(e)
    return picked + held[:k - len(picked)]
