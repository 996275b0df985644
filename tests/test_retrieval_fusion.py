"""Hybrid retrieval: fusion by scores and ranks, spreading across documents, per-base settings,
titles carried into every chunk, and the query-vector cache."""

from __future__ import annotations

import pytest

from lib import knowledge
from lib.core import SearchError
from lib.knowledge import FusionSettings, fuse, parse, spread

DENSE = [("a", 0.62), ("b", 0.60), ("c", 0.59), ("d", 0.58)]
BM25 = [("c", 9.0), ("e", 2.0), ("a", 1.5)]


def ids(evidence) -> list[str]:
    return [e.chunk_id for e in evidence]


def test_scores_fusion_lets_one_clear_keyword_match_lead():
    fused = fuse(DENSE, BM25, FusionSettings())
    assert ids(fused)[0] == "c"  # far ahead in BM25, near the top of dense
    c = fused[0]
    assert (c.dense_rank, c.bm25_rank, c.dense_score, c.bm25_score) == (3, 1, 0.59, 9.0)
    assert fused[ids(fused).index("b")].bm25_rank is None
    # Ranks cannot tell a landslide from a photo finish: RRF puts "a" (1st and 3rd) first.
    assert ids(fuse(DENSE, BM25, FusionSettings(method="ranks")))[0] == "a"


def test_rank_fusion_with_equal_weights_is_plain_rrf():
    fused = fuse(DENSE, BM25, FusionSettings(method="ranks", rrf_k=60))
    a = next(e for e in fused if e.chunk_id == "a")
    assert a.score == pytest.approx(1 / 61 + 1 / 63)


@pytest.mark.parametrize("method", ["scores", "ranks"])
def test_a_weight_of_one_or_zero_is_that_list_alone(method):
    assert ids(fuse(DENSE, BM25, FusionSettings(method, dense_weight=1.0)))[:4] == ids(
        knowledge.single(DENSE, "dense"))
    assert ids(fuse(DENSE, BM25, FusionSettings(method, dense_weight=0.0)))[:3] == ["c", "e", "a"]


def test_a_chunk_sharing_no_word_with_the_query_is_neutral_not_worst():
    dense = [("glob", 0.56), ("x", 0.37), ("y", 0.34), ("z", 0.31)]
    bm25 = [("x", 4.3), ("w", 2.8), ("y", 2.7), ("v", 2.6)]
    # A complete keyword list: "glob" shares no word with the query, so keywords are silent.
    assert ids(fuse(dense, bm25, FusionSettings(), bm25_complete=True))[0] == "glob"
    # Cut off at the pool size: "glob" may have matched weakly, below the last one kept.
    assert ids(fuse(dense, bm25, FusionSettings()))[0] == "x"


def test_spread_gives_other_documents_a_turn_then_fills():
    ranked = fuse([("a1", 0.9), ("a2", 0.8), ("b1", 0.7), ("a3", 0.6), ("c1", 0.5)], [],
                  FusionSettings())
    doc = {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "c1": 3}.get
    assert ids(spread(ranked, doc, 4, 1)) == ["a1", "b1", "c1", "a2"]
    assert ids(spread(ranked, doc, 4, 2)) == ["a1", "a2", "b1", "c1"]
    one_doc = {c: 1 for c in doc.__self__}.get  # a base of one document: order kept
    assert ids(spread(ranked, one_doc, 5, 1)) == ["a1", "a2", "b1", "a3", "c1"]


@pytest.mark.parametrize("bad", [FusionSettings(method="max"), FusionSettings(dense_weight=1.5),
                                 FusionSettings(rrf_k=0), FusionSettings(per_document=0)])
def test_bad_settings_are_refused_in_plain_words(settings, bad):
    kb = knowledge.create_kb(settings, "kb")
    with pytest.raises(SearchError):
        knowledge.save_search_settings(settings.db, kb, bad)
    with pytest.raises(SearchError):
        knowledge.search(settings, kb, "anything", fusion=bad)
    assert knowledge.search_settings(settings.db, kb) == FusionSettings()


def test_settings_belong_to_one_base_and_go_with_it(settings):
    one, two = knowledge.create_kb(settings, "one"), knowledge.create_kb(settings, "two")
    knowledge.save_search_settings(settings.db, one, FusionSettings("ranks", 0.3, 20, 3))
    assert knowledge.search_settings(settings.db, one) == FusionSettings("ranks", 0.3, 20, 3)
    assert knowledge.search_settings(settings.db, two) == FusionSettings()
    knowledge.delete_kb(settings, one)
    again = knowledge.create_kb(settings, "one")  # SQLite may reuse the id
    assert knowledge.search_settings(settings.db, again) == FusionSettings()


def test_plain_text_title_line_becomes_the_heading():
    titled = parse(b"Use Made of Technical Libraries\n\nThis report describes a study.\n",
                   "a.txt")
    assert [(s.heading, s.text) for s in titled.sections] == [
        ("Use Made of Technical Libraries", "This report describes a study.")]
    for prose in (b"This is a sentence.\n\nAnd another one.", b"Only one paragraph here",
                  b"Dear team,\n\nthe office is closed.", b"x" * 200 + b"\n\nbody"):
        assert parse(prose, "b.txt").sections[0].heading is None


def test_every_chunk_is_found_by_its_document_title(settings):
    kb = knowledge.create_kb(settings, "kb")
    body = "\n\n".join(f"Paragraph {i} talks about feeding schedules, enclosures and the "
                       f"veterinary checks that keep the animals healthy in winter." for i in
                       range(30))
    knowledge.ingest(settings, kb, [("zoo.txt", f"Zebra husbandry\n\n{body}\n".encode()),
                                    ("other.txt", b"Tax forms\n\nFile them in April.\n")])
    [doc] = [d for d in knowledge.documents(settings.db, kb) if d.name == "zoo.txt"]
    chunks = knowledge.chunks_of(settings.db, doc.id)
    assert len(chunks) >= 3 and all(c["heading"] == "Zebra husbandry" for c in chunks)
    hits = knowledge.search(settings, kb, "zebra", 10, "bm25",
                            fusion=FusionSettings(per_document=10))
    assert {h.index for h in hits} == {c["idx"] for c in chunks}  # the last one too
    limit = knowledge.max_tokens(kb.embedding_model)
    long_title = "Q" * 500
    long = knowledge.chunk_sections([knowledge.Section("word " * 400, heading=long_title)],
                                    count_embed=lambda ts: knowledge.count_tokens(
                                        kb.embedding_model, ts), max_embed=limit)
    assert all(c.embed_tokens <= limit for c in long)
    assert all(c.indexed_text.startswith("Q" * 100 + "\n\n") for c in long)


def test_a_query_is_embedded_once_across_reruns(settings, monkeypatch):
    name = knowledge.model_name(settings)
    calls = []
    real = knowledge.embed

    def counting(model, texts, **kw):
        calls.append(texts)
        return real(model, texts, **kw)

    monkeypatch.setattr("lib.knowledge.embeddings.embed", counting)
    first = knowledge.embed_query(name, "a question asked twice, never before")
    second = knowledge.embed_query(name, "a question asked twice, never before")
    assert len(calls) == 1 and second is first and not first.flags.writeable


@pytest.fixture
def zoo(settings):
    """A real small base (bundled embedder): one document of 40 chunks and two of one."""
    kb = knowledge.create_kb(settings, "zoo")
    notes = "\n\n".join(f"Note {i}: the keepers check the zebras' feeding schedule, enclosure "
                        f"{i} and winter coats every morning." for i in range(40))
    results = knowledge.ingest(settings, kb, [
        ("zoo.md", f"# Zebra care\n\n{notes}".encode()),
        ("music.txt", b"Xylophone lessons are held on Tuesdays in the community hall.\n"),
        ("office.txt", b"The office opens at eight. Parking is free for visitors.\n")],
        size=32, overlap=0)
    assert [r.chunks for r in results] == [40, 1, 1]
    return kb


def full_dense_ranking(settings, kb, query: str) -> dict[str, float]:
    """Cosine similarity of every vector in the base, computed here by brute force."""
    import numpy as np

    stored = knowledge.chroma_client(settings).get_collection(kb.collection).get(
        include=["embeddings"])
    vectors = np.asarray(stored["embeddings"], dtype=np.float32)
    q = knowledge.embed_query(kb.embedding_model, query)[0]
    return dict(zip(stored["ids"], (vectors @ q).tolist(), strict=True))


@pytest.mark.parametrize("query", ["zebra feeding xylophone lessons", "When does the office "
                                   "open?", "winter coats of the zebras", "hall"])
def test_each_column_is_its_own_ranking_with_both_ranks_over_the_whole_base(settings, zoo,
                                                                           query):
    k = 4
    found = knowledge.side_by_side(settings, zoo, query, k)
    assert found.searched == 42
    similarity = full_dense_ranking(settings, zoo, query)
    keyword = knowledge.bm25(settings, zoo, query, None)  # every chunk sharing a word
    keyword_rank = {cid: r for r, (cid, _) in enumerate(keyword, 1)}

    def dense_place(score: float) -> tuple[int, int]:
        """The ranks a chunk of this similarity can hold (equal scores may go either way)."""
        above = sum(1 for s in similarity.values() if s > score + 1e-5)
        level = sum(1 for s in similarity.values() if s >= score - 1e-5)
        return above + 1, level

    for column in (found.dense, found.bm25, found.hybrid):
        for h in column:
            low, high = dense_place(similarity[h.chunk_id])
            assert low <= h.dense_rank <= high
            assert h.dense_score == pytest.approx(similarity[h.chunk_id], abs=1e-4)
            assert h.bm25_rank == keyword_rank.get(h.chunk_id)  # None: no word in common
    # Dense and BM25 are their retrievers' pure rankings: the top k, no per-document rule.
    assert [h.dense_rank for h in found.dense] == [1, 2, 3, 4] == [h.rank for h in found.dense]
    assert [h.chunk_id for h in found.bm25] == [cid for cid, _ in keyword[:k]]
    assert [h.bm25_rank for h in found.bm25] == list(range(1, len(found.bm25) + 1))
    assert sum(h.source == "zoo.md" for h in found.dense) >= k - 2
    # Hybrid alone spreads across documents: one chunk each while others have candidates.
    sources = [h.source for h in found.hybrid]
    assert len(set(sources[:3])) == 3
    assert found.hybrid == knowledge.search(settings, zoo, query, k)  # what chat is given


def test_a_rank_past_the_shown_top_k_is_filled_in(settings, zoo):
    found = knowledge.side_by_side(settings, zoo, "zebra feeding xylophone lessons", 2)
    beyond = [h for h in found.dense if h.bm25_rank and h.bm25_rank > 2] + [
        h for h in found.bm25 if h.dense_rank > 2]
    assert beyond, "a chunk ranked high by one retriever and low by the other"


def test_search_by_one_retriever_is_its_pure_ranking(settings, zoo):
    spread_out = knowledge.FusionSettings(per_document=1)
    for mode in ("dense", "bm25"):
        hits = knowledge.search(settings, zoo, "zebra feeding schedule", 5, mode,
                                fusion=spread_out)
        assert [h.source for h in hits] == ["zoo.md"] * 5, mode
    hits = knowledge.search(settings, zoo, "zebra feeding schedule", 5, fusion=spread_out)
    assert len({h.source for h in hits[:3]}) == 3
