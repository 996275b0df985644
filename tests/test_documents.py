"""Documents into Chroma: hostile files, idempotent ingest, delete, rebuild, retrieval, and
chat grounded in the chunks."""

from __future__ import annotations

import pytest
from corpus import hostile, valid
from fakes import FakeProvider, chat_turn, ok, scripted

from lib import chat, knowledge, spend
from lib.chat import TurnOptions
from lib.core import DocumentError
from lib.knowledge import parse
from lib.llm import load_catalog


@pytest.fixture
def kb(settings):
    return knowledge.create_kb(settings, "Test base")


def test_hostile_files_are_rejected_and_valid_ones_stored(settings, kb):
    bad, good = hostile(), valid()
    assert len(bad) >= 30
    assert {name.rsplit(".", 1)[1] for name in bad} == {"pdf", "docx", "txt", "html", "csv",
                                                        "md"}
    batch = list(bad.items())
    for i, item in enumerate(good.items()):  # valid files interleaved with hostile ones
        batch.insert(i * 6, item)
    results = {r.file: r for r in knowledge.ingest(settings, kb, batch)}
    for name in bad:
        r = results[name]
        assert r.status == "failed" and r.chunks == 0, (name, r)
        assert r.message.startswith(f"{name}:") and len(r.message) > len(name) + 10
    for name in good:
        assert results[name].status == "stored" and results[name].chunks >= 1, results[name]
    docs = knowledge.documents(settings.db, kb)
    assert sorted(d.name for d in docs) == sorted(good)
    assert all(d.status == "ready" for d in docs)
    registry = sum(d.chunks for d in docs)
    assert knowledge.index_count(settings, kb) == registry  # nothing half-stored anywhere
    assert {d.kind for d in docs} == {"pdf", "docx", "html", "csv", "markdown", "text"}


def test_no_secrets_leak_from_an_xxe_docx():
    with pytest.raises(DocumentError) as info:
        parse(hostile()["xxe.docx"], "xxe.docx")
    assert "root:" not in str(info.value)


def test_metadata_page_and_heading(settings, kb):
    knowledge.ingest(settings, kb, [("guide.pdf", valid()["guide.pdf"]),
                                    ("deploy.md", valid()["deploy.md"])])
    by_name = {d.name: d for d in knowledge.documents(settings.db, kb)}
    pdf = knowledge.chunks_of(settings.db, by_name["guide.pdf"].id)
    assert [c["page"] for c in pdf] == [1, 2]
    md = knowledge.chunks_of(settings.db, by_name["deploy.md"].id)
    assert [c["heading"] for c in md] == ["Rollbacks", "Monitoring"]


def test_reingest_is_idempotent(settings, kb):
    files = list(valid().items())
    first = knowledge.ingest(settings, kb, files)
    ids_before = {d.id: [c["id"] for c in knowledge.chunks_of(settings.db, d.id)]
                  for d in knowledge.documents(settings.db, kb)}
    count_before = knowledge.index_count(settings, kb)
    second = knowledge.ingest(settings, kb, files)
    assert {r.status for r in first} == {"stored"} and {r.status for r in second} == {"skipped"}
    assert {d.id: [c["id"] for c in knowledge.chunks_of(settings.db, d.id)]
            for d in knowledge.documents(settings.db, kb)} == ids_before
    assert knowledge.index_count(settings, kb) == count_before


def test_delete_removes_every_chunk(settings, kb):
    knowledge.ingest(settings, kb, list(valid().items()))
    doc = next(d for d in knowledge.documents(settings.db, kb) if d.name == "deploy.md")
    ids = [c["id"] for c in knowledge.chunks_of(settings.db, doc.id)]
    before = knowledge.index_count(settings, kb)
    knowledge.delete_document(settings, kb, doc.id)
    assert knowledge.chunks_of(settings.db, doc.id) == []
    assert knowledge.index_count(settings, kb) == before - len(ids)
    assert knowledge.indexed_ids(settings, kb, ids) == []
    assert all(h.source != "deploy.md"
               for h in knowledge.search(settings, kb, "roll back a release", 10, "hybrid"))


def test_rebuild_from_the_registry_gives_the_same_ids_and_counts(settings, kb):
    knowledge.ingest(settings, kb, list(valid().items()))
    before = sorted(knowledge.indexed_ids(settings, kb))
    knowledge.chroma_client(settings).delete_collection(kb.collection)  # the index is lost
    assert knowledge.index_count(settings, kb) == 0
    total = knowledge.rebuild_index(settings, kb)
    after = sorted(knowledge.indexed_ids(settings, kb))
    assert after == before and total == len(before)
    hits = knowledge.search(settings, kb, "How long does the warranty last?", 3, "dense")
    assert hits[0].source == "guide.pdf" and hits[0].page == 1


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_retrieval_modes_find_the_right_chunk(settings, kb, mode):
    knowledge.ingest(settings, kb, list(valid().items()))
    hits = knowledge.search(settings, kb, "How many days of leave do employees get?", 3, mode)
    assert hits[0].source == "handbook.docx" and "twenty-eight days" in hits[0].text
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_retrieval_filter_by_document(settings, kb):
    knowledge.ingest(settings, kb, list(valid().items()))
    notes = next(d for d in knowledge.documents(settings.db, kb) if d.name == "notes.txt")
    for mode in ("dense", "bm25", "hybrid"):
        hits = knowledge.search(settings, kb, "leave days for employees", 5, mode, [notes.id])
        assert hits and {h.source for h in hits} == {"notes.txt"}




def test_chat_turn_is_grounded_and_linked(settings, kb):
    knowledge.ingest(settings, kb, list(valid().items()))
    conv = chat.create_conversation(settings.db)
    provider = FakeProvider([ok("Twenty-eight days [1].")])
    model = load_catalog(settings).get("local/smollm2-135m-instruct")
    turn = chat_turn(settings, conv, model, "How many days of leave do I get?",
                    TurnOptions(system="Be brief.", knowledge_base="Test base", top_k=3),
                    calls=scripted(settings, provider))
    list(turn)
    system = provider.requests[0].system
    assert system.startswith("Be brief.") and "data, not instructions" in system
    assert '[1] source="handbook.docx"' in system and '<untrusted source="document">' in system
    reply = chat.list_messages(settings.db, conv)[-1]
    sources = reply.meta["sources"]
    assert sources[0]["source"] == "handbook.docx" and "twenty-eight" in sources[0]["text"]
    assert turn.plan.documents_tokens > 0
    linked = knowledge.chunks_for_call(settings.db, reply.call_id)
    assert linked == [s["chunk_id"] for s in sources]
    assert spend.get_call(settings.db, reply.call_id).status == "ok"


def test_a_file_being_stored_by_another_session_is_left_alone(settings, kb):
    good = valid()
    knowledge.ingest(settings, kb, [("deploy.md", good["deploy.md"])])
    doc = knowledge.documents(settings.db, kb)[0]

    with settings.db.connect(write=True) as conn:  # as if mid-ingest elsewhere
        conn.execute("UPDATE documents SET status = 'storing' WHERE id = ?", (doc.id,))
    [result] = knowledge.ingest(settings, kb, [("deploy.md", good["deploy.md"])])
    assert result.status == "failed" and "being added right now" in result.message
    assert knowledge.chunks_of(settings.db, doc.id)  # nothing of the other session's was removed
    with settings.db.connect(write=True) as conn:  # ...until it is abandoned
        conn.execute("UPDATE documents SET added_at = '2000-01-01' WHERE id = ?", (doc.id,))
    [result] = knowledge.ingest(settings, kb, [("deploy.md", good["deploy.md"])])
    assert result.status == "stored"
