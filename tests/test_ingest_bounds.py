"""One upload cannot cause unbounded work: a cap on chunks checked before anything is
embedded, a forecast before embedding, and a memory guard that stops and cleans up."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from lib import knowledge
from lib.core import rss_mb


def wide_csv(columns: int = 100_000) -> bytes:
    """The probe's file: a 2 MB CSV of 100k columns and two lines."""
    return (",".join(f"column_{i}" for i in range(columns)) + "\n"
            + ",".join(f"v{i}" for i in range(columns)) + "\n").encode()


@pytest.fixture
def kb(settings):
    return knowledge.create_kb(settings, "bounds")


def test_a_document_past_the_chunk_cap_is_refused_before_embedding(settings, kb):
    knowledge.embedding_model(knowledge.model_name(settings))  # loaded, as on a warm server
    seen: list[knowledge.Progress] = []
    peak = [rss_mb()]
    start_mb, done = peak[0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    [result] = knowledge.ingest(settings, kb, [("wide.csv", wide_csv())], progress=seen.append)
    elapsed = time.monotonic() - start
    done.set()
    sampler.join()
    assert result.status == "failed"
    assert f"the limit is {settings.max_chunks:,} per document" in result.message
    count = int(result.message.split("would become ")[1].split(" chunks")[0].replace(",", ""))
    assert count > settings.max_chunks
    assert not any(p.stage == "embed" for p in seen)  # nothing was embedded
    assert knowledge.documents(settings.db, kb) == [] and knowledge.index_count(settings, kb) == 0
    assert elapsed < 20, f"{elapsed:.1f} s: the cap should act before embedding"
    assert peak[0] - start_mb < 300, f"the app grew by {peak[0] - start_mb:.0f} MB"


def long_text(paragraphs: int = 60) -> bytes:
    return "\n\n".join(f"Paragraph {i}: " + "words about a lighthouse keeper " * 20
                       for i in range(paragraphs)).encode()


def test_the_forecast_comes_before_the_first_embedding(settings, kb):
    knowledge.embed(knowledge.model_name(settings), ["warm"])  # measured, as on a warm server
    seen: list[knowledge.Progress] = []
    [result] = knowledge.ingest(settings, kb, [("long.txt", long_text())], progress=seen.append)
    assert result.status == "stored" and result.chunks > knowledge.EMBED_BATCH
    embeds = [p for p in seen if p.stage == "embed"]
    assert embeds[0].done == 0 and embeds[0].total == result.chunks
    assert embeds[0].message.startswith(("about ", "under a second"))
    assert all(p.message.endswith(" left") for p in embeds[1:])
    steps = [p.done for p in embeds]
    assert steps[0] == 0 and steps == sorted(set(steps)) and len(steps) >= 2  # it moves
    assert seen[-1].stage == "done" and seen[-1].total == result.chunks


class FirstUse:
    """The embedding model as on a fresh server: not loaded, nothing embedded yet. Loading
    it is recorded among the progress reports (the real model is still what embeds)."""

    def __init__(self, real, seen: list) -> None:
        self.real, self.seen, self.loaded = real, seen, False

    def ready(self, name: str) -> bool:
        return self.loaded

    def __call__(self, name: str):
        if not self.loaded:
            self.seen.append("model loaded")
            self.loaded = True
        return self.real(name)


@pytest.mark.parametrize("files", [[("long.txt", long_text())],
                                   [("a.md", b"# A\n\nOne short note."),
                                    ("b.md", b"# B\n\nAnother short note.")]])
def test_a_first_ingest_says_the_model_is_loading_and_claims_no_time_it_cannot_know(
        settings, kb, monkeypatch, files):
    """The probe saw "about 0 s" while the embedder loaded for 20 s."""
    from lib.knowledge import embeddings

    seen: list = []
    monkeypatch.setattr(embeddings, "embedding_model", FirstUse(embeddings.embedding_model, seen))
    monkeypatch.setattr(embeddings, "_rate", {})
    results = knowledge.ingest(settings, kb, files, progress=seen.append)
    assert all(r.status == "stored" for r in results)
    loaded = seen.index("model loaded")
    before, after = seen[:loaded], seen[loaded + 1:]
    # While it loads, every upload says so, and nothing claims to be embedding yet.
    assert {p.index for p in before if p.stage == "load"} == set(range(len(files)))
    assert all("loading the embedding model" in p.message for p in before if p.stage == "load")
    assert not [p for p in before if p.stage == "embed"]
    # Before the first batch there is no measured rate, so no figure; then figures.
    embeds = [p for p in after if p.stage == "embed"]
    assert embeds[0].message == "the time left is known after the first batch"
    assert all(" 0 s" not in p.message for p in seen if not isinstance(p, str))
    later = [p for p in embeds if p.done]
    assert all(p.message.endswith(" left") and "known after" not in p.message for p in later)
    if len(files) == 1:
        assert later  # a long file reports as it goes


def test_an_ingest_that_grows_memory_past_the_setting_is_stopped_and_leaves_nothing(settings,
                                                                                   kb):
    tight = dataclasses.replace(settings, ingest_memory_mb=-1)  # any growth is too much
    text = "\n\n".join(f"Paragraph {i} of the report." * 10 for i in range(40))
    [result] = knowledge.ingest(tight, kb, [("report.txt", text.encode())])
    assert result.status == "failed" and "PROMPTLAB_INGEST_MEMORY_MB" in result.message
    assert knowledge.documents(settings.db, kb) == [] and knowledge.index_count(settings, kb) == 0
