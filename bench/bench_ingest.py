"""Ingest throughput against sentence-transformers alone encoding the same chunks (same batch
size), in two mixes. Goal: at most 1.10x for each.

1. >= 2 MB of public text (533 stdlib modules' docstrings), from extracted text to persisted
   (chunk, embed, registry, Chroma).
2. Many small files: 200 CISI abstracts (a public test collection) uploaded as 200 .txt files
   through the app's own ingest, parsing in the worker included.
"""

from __future__ import annotations

import hashlib
import time

from common import cisi_documents, public_text, scratch_data_dir


def main() -> None:
    from lib import knowledge
    from lib.core import load_settings
    from lib.knowledge import Parsed, Section, chunk_sections

    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        docs = public_text(2_100_000)
        total = sum(len(t) for _, t in docs)
        print(f"corpus: {len(docs)} stdlib modules' docstrings, {total / 1e6:.2f} MB")
        name = knowledge.model_name(settings)
        model = knowledge.embedding_model(name)
        knowledge.embed(name, ["warm up"] * 8)

        kb = knowledge.create_kb(settings, "bench")
        parsed = [Parsed("text", (Section(text),)) for _, text in docs]
        chunk_texts = [c.text for p in parsed for c in chunk_sections(
            p.sections, count_embed=lambda ts: knowledge.count_tokens(name, ts),
            max_embed=knowledge.max_tokens(name))]
        print(f"chunks: {len(chunk_texts):,}")

        start = time.perf_counter()  # sentence-transformers alone, same chunks, same batches
        model.encode(chunk_texts, batch_size=knowledge.EMBED_BATCH, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        for (module, text), p in zip(docs, parsed, strict=True):
            sha = hashlib.sha256(text.encode()).hexdigest()
            knowledge.index_parsed(settings, kb, module, p, byte_size=len(text), sha=sha)
        ours = time.perf_counter() - start
        stored = knowledge.index_count(settings, kb)
        assert stored == len(chunk_texts), (stored, len(chunk_texts))

    print(f"{'encode only (baseline)':<28} {baseline:8.2f} s  ({len(chunk_texts) / baseline:,.0f} "
          "chunks/s)")
    print(f"{'text to persisted':<28} {ours:8.2f} s")
    print(f"{'ratio':<28} {ours / baseline:.3f}x  (goal: <= 1.10x)")
    small_files(200)


def small_files(n: int) -> None:
    from lib import knowledge
    from lib.core import load_settings

    docs = list(cisi_documents().items())[:n]
    files = [(f"cisi-{i}.txt", f"{title}\n\n{text}\n".encode()) for i, (title, text) in docs]
    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        name = knowledge.model_name(settings)
        model = knowledge.embedding_model(name)
        knowledge.embed(name, ["warm up"] * 8)
        knowledge.parse(b"warm the parse workers", "warm.txt")
        kb = knowledge.create_kb(settings, "cisi")
        start = time.perf_counter()
        results = knowledge.ingest(settings, kb, files)
        ours = time.perf_counter() - start
        assert all(r.status == "stored" for r in results), [r.message for r in results]
        texts = [c["text"] for d in knowledge.documents(settings.db, kb)
                 for c in knowledge.chunks_of(settings.db, d.id)]
        start = time.perf_counter()  # the same chunks, encoded alone, same batch size
        model.encode(texts, batch_size=knowledge.EMBED_BATCH, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
        baseline = time.perf_counter() - start
    size = sum(len(d) for _, d in files)
    print(f"\nmany small files: {n} CISI abstracts as .txt ({size / 1e3:,.0f} kB), "
          f"{len(texts):,} chunks")
    print(f"{'encode only (baseline)':<28} {baseline:8.2f} s")
    print(f"{'upload to persisted':<28} {ours:8.2f} s  ("
          f"{(ours - baseline) / n * 1000:,.1f} ms per file over encoding)")
    print(f"{'ratio':<28} {ours / baseline:.3f}x  (goal: <= 1.10x)")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--small-files"]:
        small_files(200)
    else:
        main()
