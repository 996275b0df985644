"""Search latency on a 20k-chunk knowledge base: a whole search (embed the query, dense and
keyword lists, fuse, fill texts from the registry) against the embedding call alone
(sentence-transformers encoding the same query), on distinct short queries. Goal: p50 of a
search at most 15 ms. Also a query asked again (a Streamlit rerun), which skips the model.

The base: CISI's 1,460 abstracts ingested through the app (real vectors), filled up to 20,000
chunks with chunks of public docstrings whose vectors are CISI's plus noise (embedding 18k
chunks for real would take minutes and time the embedder, not the search).
"""

from __future__ import annotations

import time

import numpy as np
from bench_quality import QUESTIONS
from common import cisi_documents, pct, public_text, scratch_data_dir, summary

TARGET = 20_000


def main() -> None:
    from lib import knowledge
    from lib.core import load_settings
    from lib.knowledge import Section, chunk_sections

    cisi = cisi_documents()
    files = [(f"cisi-{i}.txt", f"{t}\n\n{x}\n".encode()) for i, (t, x) in cisi.items()]
    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kb = knowledge.create_kb(settings, "latency")
        for start in range(0, len(files), 200):
            knowledge.ingest(settings, kb, files[start:start + 200])
        real = knowledge.index_count(settings, kb)
        name = kb.embedding_model
        count = lambda ts: knowledge.count_tokens(name, ts)  # noqa: E731
        texts: list[str] = []
        for _, text in public_text(6_000_000):
            texts += [c.text for c in chunk_sections([Section(text)], count_embed=count,
                                                     max_embed=knowledge.max_tokens(name))]
            if real + len(texts) >= TARGET:
                break
        while real + len(texts) < TARGET:  # not enough docstrings here: reuse them
            texts += [f"{t} ({len(texts)})" for t in texts[:TARGET - real - len(texts)]]
        texts = texts[:TARGET - real]
        rng = np.random.default_rng(3)
        base = knowledge.embed(name, [t for _, (t, _) in list(cisi.items())[:200]])
        vectors = base[rng.integers(0, len(base), len(texts))] + 0.05 * rng.standard_normal(
            (len(texts), base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"filler{i:06d}" for i in range(len(texts))]
        with settings.db.connect(write=True) as conn:
            doc = conn.execute("INSERT INTO documents (kb_id, name, kind, size, sha256, status, "
                               "chunk_count, added_at) VALUES (?, 'docstrings.txt', 'text', 0, "
                               "'filler', 'ready', ?, '')", (kb.id, len(texts))).lastrowid
            conn.executemany("INSERT INTO chunks (id, kb_id, document_id, idx, text, tokens) "
                             "VALUES (?, ?, ?, ?, ?, 0)",
                             [(cid, kb.id, doc, i, t) for i, (cid, t) in
                              enumerate(zip(ids, texts, strict=True))])
            conn.execute("UPDATE knowledge_bases SET version = version + 1 WHERE id = ?",
                         (kb.id,))
        kb = knowledge.get_kb(settings.db, kb.name)
        knowledge.store_vectors(settings, kb, ids, vectors, texts,
                                [{"document_id": doc}] * len(texts))
        total = knowledge.index_count(settings, kb)
        print(f"knowledge base: {total:,} chunks ({real:,} CISI, {len(texts):,} filler)")

        # Short, distinct queries: the stdlib questions, CISI titles, CISI queries' openings.
        queries = [q for q, _ in QUESTIONS] + [t for t, _ in list(cisi.values())[300:460]]
        model = knowledge.embedding_model(name)
        for q in ("warm up the model", "and the indexes", "once"):
            for mode in ("dense", "hybrid"):
                knowledge.search(settings, kb, q, 10, mode)
        alone, timed = [], {"dense": [], "hybrid": []}
        for q in queries:
            t = time.perf_counter()
            model.encode([q], normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
            alone.append((time.perf_counter() - t) * 1000)
        for mode in ("hybrid", "dense"):
            for q in queries:
                t = time.perf_counter()
                hits = knowledge.search(settings, kb, q + f" ({mode})", 10, mode)
                timed[mode].append((time.perf_counter() - t) * 1000)
                assert hits
        again = []
        for q in queries:  # the same question on a rerun
            t = time.perf_counter()
            knowledge.search(settings, kb, q + " (hybrid)", 10, "hybrid")
            again.append((time.perf_counter() - t) * 1000)
    print(summary("embedding call alone", alone))
    print(summary("search, dense", timed["dense"]))
    print(summary("search, hybrid", timed["hybrid"]))
    print(summary("hybrid, asked again", again))
    for mode in ("dense", "hybrid"):
        p50 = pct(timed[mode], 50)
        print(f"{mode + ' p50 / embedding alone':<28} {p50 / pct(alone, 50):.3f}x   "
              f"({p50:.1f} ms: {'meets' if p50 <= 15 else 'misses'} <= 15 ms)")


if __name__ == "__main__":
    main()
