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
    assert knowledge.documents(settings, kb) == [] and knowledge.index_count(settings, kb) == 0
    assert elapsed < 20, f"{elapsed:.1f} s: the cap should act before embedding"
    assert peak[0] - start_mb < 300, f"the app grew by {peak[0] - start_mb:.0f} MB"


def test_the_forecast_comes_before_the_first_embedding(settings, kb):
    text = "\n\n".join(f"Paragraph {i}: " + "words about a lighthouse keeper " * 20
                       for i in range(60))
    seen: list[knowledge.Progress] = []
    [result] = knowledge.ingest(settings, kb, [("long.txt", text.encode())],
                                progress=seen.append)
    assert result.status == "stored" and result.chunks > knowledge.EMBED_BATCH
    embeds = [p for p in seen if p.stage == "embed"]
    assert embeds[0].done == 0 and embeds[0].total == result.chunks
    assert embeds[0].message.startswith("about ")
    steps = [p.done for p in embeds]
    assert steps[0] == 0 and steps == sorted(set(steps)) and len(steps) >= 2  # it moves
    assert seen[-1].stage == "done" and seen[-1].total == result.chunks


def test_an_ingest_that_grows_memory_past_the_setting_is_stopped_and_leaves_nothing(settings,
                                                                                   kb):
    tight = dataclasses.replace(settings, ingest_memory_mb=-1)  # any growth is too much
    text = "\n\n".join(f"Paragraph {i} of the report." * 10 for i in range(40))
    [result] = knowledge.ingest(tight, kb, [("report.txt", text.encode())])
    assert result.status == "failed" and "PROMPTLAB_INGEST_MEMORY_MB" in result.message
    assert knowledge.documents(settings, kb) == [] and knowledge.index_count(settings, kb) == 0
