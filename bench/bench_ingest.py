"""Ingest throughput: from extracted text to persisted (chunk, embed, registry, Chroma), against
sentence-transformers alone encoding the same chunks, on >= 2 MB of public text.
Goal: at most 1.10x."""

from __future__ import annotations

import hashlib
import time

from common import public_text, scratch_data_dir


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


if __name__ == "__main__":
    main()
