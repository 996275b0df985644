"""Dense query latency at 100k chunks: our dense retrieval (Chroma's HNSW index, then texts
from the registry) against numpy brute force over the same vectors. Query embedding is left
out of both (it costs the same either way). Also HNSW's recall@10 against the exact answer."""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import pct, scratch_data_dir, summary

DIM = 384


def main(n: int, queries: int) -> None:
    from lib import knowledge
    from lib.core import load_settings

    rng = np.random.default_rng(7)
    # Text embeddings cluster by topic: n vectors around n / 50 topic centres. (Uniformly
    # random vectors have no true neighbours to find: every top 10 is a tie.)
    centres = rng.standard_normal((max(1, n // 50), DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal(
        (n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Queries near stored vectors, as real queries are near their answers.
    picks = rng.choice(n, queries, replace=False)
    qs = vectors[picks] + 0.3 * rng.standard_normal((queries, DIM)).astype(np.float32) / DIM**.5
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)

    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kb = knowledge.create_kb(settings, "latency")
        ids = [f"c{i:07d}" for i in range(n)]
        with settings.db.connect(write=True) as conn:
            doc = conn.execute("INSERT INTO documents (kb_id, name, kind, size, sha256, status, "
                               "chunk_count, added_at) VALUES (?, 'synthetic', 'text', 0, 'x', "
                               "'ready', ?, '')", (kb.id, n)).lastrowid
            conn.executemany("INSERT INTO chunks (id, kb_id, document_id, idx, text, tokens) "
                             "VALUES (?, ?, ?, ?, ?, 10)",
                             [(cid, kb.id, doc, i, f"chunk {i}") for i, cid in enumerate(ids)])
        start = time.perf_counter()
        knowledge.store_vectors(settings, kb, ids, vectors, [f"chunk {i}" for i in range(n)],
                                [{"document_id": doc}] * n)
        print(f"indexed {n:,} vectors in {time.perf_counter() - start:.1f} s")

        def search(q):
            return knowledge.fill_hits(settings, knowledge.single(
                knowledge.dense_by_vector(settings, kb, q[None], 10), "dense"))

        ours, brute, recall, first = [], [], [], []
        for q in qs[:20]:  # warm both
            search(q)
        for q in qs:
            t = time.perf_counter()
            hits = search(q)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            scores = vectors @ q
            top = np.argpartition(-scores, 10)[:10]
            top = top[np.argsort(-scores[top])]
            brute.append((time.perf_counter() - t) * 1000)
            recall.append(len({h.chunk_id for h in hits} & {ids[i] for i in top}) / 10)
            first.append(bool(hits) and hits[0].chunk_id == ids[top[0]])
    print(summary("numpy brute force", brute))
    print(summary("ours (Chroma + registry)", ours))
    print(f"{'latency ratio p50':<28} {pct(ours, 50) / pct(brute, 50):.3f}x "
          f"(ours / brute force; lower is faster)")
    print(f"{'HNSW recall@10 vs exact':<28} {sum(recall) / len(recall):.3f}   "
          f"(top 1 agrees: {sum(first) / len(first):.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    main(args.n, args.queries)
